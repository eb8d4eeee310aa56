package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/hopperq/hopper/pkg/hopper"
	"github.com/hopperq/hopper/pkg/jobs"
	hlog "github.com/hopperq/hopper/pkg/log"
	"github.com/hopperq/hopper/pkg/mail"
	"github.com/hopperq/hopper/pkg/product"
	"github.com/hopperq/hopper/pkg/store/accounts"
	"github.com/hopperq/hopper/pkg/store/jobstore"
	"github.com/hopperq/hopper/pkg/store/pg"
)

// jobReader reads one of an owner's jobs (the job a notice or a webhook
// is about).
type jobReader interface {
	GetJob(ctx context.Context, ownerID *uuid.UUID, id uuid.UUID) (jobstore.Job, error)
}

// noticeStore is what a job-finished notice reads: the job it describes
// and its owner, whose own address is the only recipient allowed.
type noticeStore interface {
	jobReader
	GetUser(ctx context.Context, id uuid.UUID) (accounts.User, error)
}

// emailSender runs maintenance.email: a plain message, or the
// job-finished notice of one of the owner's jobs, sent over SMTP.
type emailSender struct {
	store  noticeStore
	sender *mail.Sender // nil when mail is not configured
	// missing names the unset setting when sender is nil.
	missing mail.ErrNotConfigured
	log     *zap.Logger
}

// newEmailSender builds the SMTP sender once, at start. Missing
// HOPPER_SMTP_HOST or HOPPER_SMTP_FROM is not an error: mail jobs then
// fail at once naming the setting. Any other bad setting is.
func newEmailSender(settings product.Settings, log *zap.Logger) (*emailSender, error) {
	s := &emailSender{log: log}
	c := settings.Providers.SMTP
	mode, err := mail.ParseTLSMode(c.TLS)
	if err != nil {
		return nil, err
	}
	sender, err := mail.New(mail.Config{Host: c.Host, Port: c.Port, Username: c.Username,
		Password: c.Password, From: c.From, TLS: mode})
	var nc mail.ErrNotConfigured
	switch {
	case errors.As(err, &nc):
		s.missing = nc
		return s, nil
	case err != nil:
		return nil, fmt.Errorf("smtp: %w", err)
	}
	s.sender = sender
	return s, nil
}

func (s *emailSender) configured() bool { return s.sender != nil }

// emailResult is what a sent mail leaves as the job's result.
type emailResult struct {
	To        []string `json:"to"`
	Subject   string   `json:"subject"`
	MessageID string   `json:"message_id,omitempty"`
	Template  string   `json:"template,omitempty"`
	JobID     string   `json:"job_id,omitempty"` // the job a template described
}

func (s *emailSender) handle(ctx context.Context, job *hopper.RawJob) (any, error) {
	if s.sender == nil {
		return nil, hopper.Permanent(s.missing)
	}
	var p product.EmailPayload
	if err := product.Decode(job.Payload, &p); err != nil {
		return nil, hopper.Permanent(err)
	}
	if err := p.Check(); err != nil {
		return nil, hopper.Permanent(err)
	}
	m := mail.Message{Subject: p.Subject, Text: p.Text, HTML: p.HTML}
	if p.Template != "" {
		rendered, err := s.render(ctx, job, p)
		if err != nil {
			return nil, err
		}
		m = rendered
	}
	m.To = p.To

	log := s.log.With(hlog.JobID(job.ID.String()), hlog.Kind(job.Kind), zap.Int("attempt", job.Attempt))
	messageID, err := s.sender.SendID(ctx, m)
	if err != nil {
		var se *mail.SendError
		code := 0
		if errors.As(err, &se) {
			code = se.Code
		}
		log.Warn("mail not sent", zap.Int("smtp_code", code), zap.Bool("permanent", mail.IsPermanent(err)), zap.Error(err))
		if mail.IsPermanent(err) {
			return nil, hopper.Permanent(err)
		}
		return nil, fmt.Errorf("send mail: %w", err)
	}
	log.Info("mail sent", zap.Int("recipients", len(m.To)), zap.String("message_id", messageID),
		zap.String("template", p.Template))
	return emailResult{To: m.To, Subject: m.Subject, MessageID: messageID, Template: p.Template, JobID: p.JobID}, nil
}

// checkRecipients refuses a notice to anyone but owner's own address. The
// gateway refuses such a notify_email at submit; this holds for a notice
// created before it did, or by any other path, since the mail leaves from
// the operator's address.
func (s *emailSender) checkRecipients(ctx context.Context, owner uuid.UUID, to []string) error {
	u, err := s.store.GetUser(ctx, owner)
	if errors.Is(err, pg.ErrNotFound) {
		return hopper.Permanentf("owner %s not found", owner)
	}
	if err != nil {
		return fmt.Errorf("load owner %s: %w", owner, err)
	}
	for _, addr := range to {
		if !jobs.SameAddress(addr, u.Email) {
			return hopper.Permanentf("%s is not the job owner's address: a job-finished notice goes only to its owner", addr)
		}
	}
	return nil
}

// render builds the job-finished notice of p.JobID, which must be one of
// the mail job's owner's finished jobs.
func (s *emailSender) render(ctx context.Context, job *hopper.RawJob, p product.EmailPayload) (mail.Message, error) {
	id, err := uuid.Parse(p.JobID)
	if err != nil {
		return mail.Message{}, hopper.Permanentf("payload.job_id: %v", err)
	}
	owner := job.Owner
	target, err := s.store.GetJob(ctx, &owner, id)
	if errors.Is(err, pg.ErrNotFound) {
		return mail.Message{}, hopper.Permanentf("job %s not found (deleted, or not yours)", id)
	}
	if err != nil {
		return mail.Message{}, fmt.Errorf("load job %s: %w", id, err)
	}
	if !target.State.Terminal() {
		return mail.Message{}, hopper.Permanentf("job %s has not finished (it is %s)", id, target.State)
	}
	if err := s.checkRecipients(ctx, owner, p.To); err != nil {
		return mail.Message{}, err
	}
	n := mail.JobNotice{JobID: target.ID.String(), Kind: target.Kind, State: string(target.State),
		Error: target.Error, Result: string(target.Result)}
	if target.FinishedAt != nil {
		n.FinishedAt = *target.FinishedAt
	}
	m, err := mail.RenderJobFinished(n)
	if err != nil {
		return mail.Message{}, hopper.Permanent(fmt.Errorf("render %s: %w", p.Template, err))
	}
	return m, nil
}
