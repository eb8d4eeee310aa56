package app

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/hopperq/hopper/pkg/hopper"
	hlog "github.com/hopperq/hopper/pkg/log"
	"github.com/hopperq/hopper/pkg/product"
	"github.com/hopperq/hopper/pkg/providers"
	"github.com/hopperq/hopper/pkg/ratelimit"
	"github.com/hopperq/hopper/pkg/store/content"
	"github.com/hopperq/hopper/pkg/store/pg"
)

// artifactReader reads the input file the gateway stored with a job.
type artifactReader interface {
	GetArtifact(ctx context.Context, ownerID *uuid.UUID, jobID uuid.UUID, name string) (content.Artifact, error)
}

// transcriber runs chat.transcribe: read the recording the gateway stored
// as the job's input artifact and turn it into text with the
// OpenAI-compatible audio API.
type transcriber struct {
	store  artifactReader
	client *providers.TranscriptionClient
	model  string
	log    *zap.Logger
}

// TranscribeResult is chat.transcribe's result. Language (as the provider
// names it, e.g. "english") and DurationSeconds are what the provider
// reported, absent when it reported none.
type TranscribeResult struct {
	Text            string   `json:"text"`
	Language        string   `json:"language,omitempty"`
	DurationSeconds *float64 `json:"duration_seconds,omitempty"`
	Model           string   `json:"model"`
}

// newTranscriber builds chat.transcribe's handler and its speech-to-text
// client, once, at service start. Without HOPPER_STT_URL every
// chat.transcribe job fails at once, permanently, naming the setting.
func newTranscriber(e product.Endpoint, lim *ratelimit.Limiter, st artifactReader, log *zap.Logger) hopper.HandlerFunc {
	c, err := providers.NewTranscriptionClient(providerConfig(lim, "stt", e))
	if err != nil {
		return mediaUnavailable(log, product.KindChatTranscribe, err)
	}
	return (&transcriber{store: st, client: c, model: e.Model, log: log}).handle
}

func (t *transcriber) handle(ctx context.Context, job *hopper.RawJob) (any, error) {
	var p product.TranscribePayload
	if err := product.Decode(job.Payload, &p); err != nil {
		return nil, hopper.Permanent(err)
	}
	log := t.log.With(hlog.JobID(job.ID.String()), hlog.Kind(job.Kind), hlog.Attempt(job.Attempt))
	_ = job.Progress(ctx, 5, "reading the recording")
	audio, err := t.store.GetArtifact(ctx, &job.Owner, job.ID, p.Artifact)
	if errors.Is(err, pg.ErrNotFound) {
		return nil, hopper.Permanentf("chat.transcribe: the job has no recording %q: upload audio with POST /v1/chat/transcribe", p.Artifact)
	}
	if err != nil {
		return nil, fmt.Errorf("read recording: %w", err)
	}
	_ = job.Progress(ctx, 20, fmt.Sprintf("transcribing %d bytes of %s", audio.SizeBytes, audio.ContentType))
	tr, err := t.client.TranscribeLanguage(ctx, audio.Name, p.Language, bytes.NewReader(audio.Data))
	if err != nil {
		return nil, classifyMediaErr(err)
	}
	_ = job.Progress(ctx, 95, "transcribed")
	// Language and duration are the provider's (its verbose answer), or
	// absent: the client's hint is not evidence of what was spoken.
	res := TranscribeResult{Text: tr.Text, Language: tr.Language, Model: t.model}
	if tr.Duration > 0 {
		d := tr.Duration
		res.DurationSeconds = &d
	}
	log.Info("recording transcribed", zap.Int64("bytes", audio.SizeBytes), zap.Int("chars", len(tr.Text)))
	return res, nil
}
