package product

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/hopperq/hopper/pkg/jobs"
)

// KindEmail sends mail over SMTP (maintenance-worker).
const KindEmail = "maintenance.email"

// Templates maintenance.email renders.
const (
	// EmailTemplateJobFinished is the job-finished notice of the owner's
	// job JobID (what notify_email sends).
	EmailTemplateJobFinished = "job_finished"
)

// Limits of maintenance.email.
const (
	MaxEmailRecipients   = 50
	MaxEmailSubjectRunes = 200
	MaxEmailBodyBytes    = 128 << 10 // text + html
	MaxEmailAddressBytes = 254       // RFC 5321 path limit
)

// EmailTemplates lists the known template names.
func EmailTemplates() []string { return []string{EmailTemplateJobFinished} }

// EmailPayload is maintenance.email's payload: either a plain message
// (To, Subject, Text and/or HTML) or a template (To, Template, JobID).
type EmailPayload struct {
	To       []string `json:"to"`
	Subject  string   `json:"subject,omitempty"`
	Text     string   `json:"text,omitempty"`
	HTML     string   `json:"html,omitempty"`
	Template string   `json:"template,omitempty"`
	JobID    string   `json:"job_id,omitempty"`
}

// Check validates the payload; a failure is a *ValidationError naming the
// field.
func (p *EmailPayload) Check() error {
	switch {
	case len(p.To) == 0:
		return invalid("payload.to", "at least one recipient is required")
	case len(p.To) > MaxEmailRecipients:
		return invalid("payload.to", "%d recipients, limit %d", len(p.To), MaxEmailRecipients)
	}
	for i, to := range p.To {
		if err := jobs.CheckEmailAddress(to); err != nil {
			return invalid(fmt.Sprintf("payload.to[%d]", i), "%v", err)
		}
	}
	if p.Template != "" {
		if p.Template != EmailTemplateJobFinished {
			return invalid("payload.template", "unknown template %q; known: %s", p.Template, strings.Join(EmailTemplates(), ", "))
		}
		if _, err := uuid.Parse(p.JobID); err != nil {
			return invalid("payload.job_id", "want a job id")
		}
		for _, f := range []struct{ name, value string }{{"subject", p.Subject}, {"text", p.Text}, {"html", p.HTML}} {
			if f.value != "" {
				return invalid("payload."+f.name, "not allowed with a template (the template writes it)")
			}
		}
		return nil
	}
	switch {
	case p.JobID != "":
		return invalid("payload.job_id", "only with a template")
	case strings.TrimSpace(p.Subject) == "":
		return invalid("payload.subject", "is required")
	case utf8.RuneCountInString(p.Subject) > MaxEmailSubjectRunes:
		return invalid("payload.subject", "longer than %d characters", MaxEmailSubjectRunes)
	case strings.ContainsAny(p.Subject, "\r\n"):
		return invalid("payload.subject", "must be one line")
	case p.Text == "" && p.HTML == "":
		return invalid("payload.text", "text or html is required")
	case len(p.Text)+len(p.HTML) > MaxEmailBodyBytes:
		return invalid("payload.text", "text and html are %d bytes, limit %d", len(p.Text)+len(p.HTML), MaxEmailBodyBytes)
	}
	return nil
}
