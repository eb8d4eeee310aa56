package product

import (
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/hopperq/hopper/pkg/config"
)

// Settings are the product's HOPPER_* settings, beside the platform's
// config.Config: its providers, mail, webhooks, upload bounds and
// retention. Each service reads the ones it uses.
type Settings struct {
	// Providers are the external services the workers call; a kind whose
	// provider is unset fails its jobs naming the setting.
	Providers Providers
	// Retention is how long finished jobs are kept, by final state, and
	// how long uploads are kept (0: forever); maintenance.cleanup applies it.
	Retention Retention
	// WebhookAllowPrivate lets webhooks reach loopback and private
	// addresses (tests, local development).
	WebhookAllowPrivate bool
	// MaxUploadBytes bounds one document upload (gateway).
	MaxUploadBytes int64
	// MaxAudioBytes bounds one audio upload for transcription (gateway).
	MaxAudioBytes int64
	// UploadsPerKey and UploadsTotal bound the uploads one gateway
	// receives at once, per API key (more: 429) and in all (more: 503);
	// each holds a database connection while its client sends the file.
	UploadsPerKey int
	UploadsTotal  int
	// UploadTimeout is how long one upload may take to arrive, in place
	// of the server's read timeout (gateway).
	UploadTimeout time.Duration
	// MaxDocumentsPerUser is an optional ceiling on every plan's documents
	// per user (gateway); 0 (the default) leaves it to the plans.
	MaxDocumentsPerUser int
	// NotifyMailsPerHour bounds the job-finished mails (notify_email) one
	// user may ask for in any sliding hour (gateway); 0 is unlimited. The
	// mails leave from the operator's address: a bound keeps one user from
	// spending its reputation.
	NotifyMailsPerHour int
}

// maxUploadsTotal bounds HOPPER_UPLOADS_TOTAL below the gateway's
// Postgres pool (20 connections): uploads in progress hold one each, and
// must leave some to every other request.
const maxUploadsTotal = 16

// DefaultNotifyMailsPerHour is NotifyMailsPerHour unless set.
const DefaultNotifyMailsPerHour = 20

// Endpoint is an OpenAI-compatible API: base URL, key and model, and the
// provider's rate limits (0: unlimited), shared by every worker replica
// pointing at the same host (pkg/ratelimit).
type Endpoint struct {
	URL    string
	APIKey string
	Model  string
	RPM    int // <prefix>_RPM: requests per minute
	TPM    int // <prefix>_TPM: tokens per minute (LLM and embeddings only)
}

// SMTP is the mail relay maintenance.email sends through.
type SMTP struct {
	Host     string
	Port     int // 0: by TLS mode (587, 465, 25)
	Username string
	Password string
	From     string
	TLS      string // starttls (default), tls or none
}

// Providers holds every external provider's settings.
type Providers struct {
	LLM        Endpoint // HOPPER_LLM_*
	Images     Endpoint // HOPPER_IMAGES_*
	STT        Endpoint // HOPPER_STT_* (speech to text)
	Embeddings Endpoint // HOPPER_EMBEDDINGS_*
	SearxNGURL string   // HOPPER_SEARXNG_URL
	SearxNGRPM int      // HOPPER_SEARXNG_RPM: requests per minute (0: unlimited)
	SMTP       SMTP     // HOPPER_SMTP_*
}

// Retention periods applied by maintenance.cleanup.
type Retention struct {
	Succeeded time.Duration
	Failed    time.Duration
	Cancelled time.Duration
	Uploads   time.Duration // 0 keeps uploads until their owner deletes them
}

// maxPerMinute bounds the provider rate-limit settings.
const maxPerMinute = 1_000_000_000

// LoadSettings reads the product's settings from getenv; the first bad
// variable fails with one line naming it, as config.Load does.
func LoadSettings(getenv config.Getenv) (Settings, error) {
	r := config.NewReader(getenv)
	s := Settings{
		Providers: Providers{
			LLM:        endpoint(r, "HOPPER_LLM", "gpt-4o-mini", true),
			Images:     endpoint(r, "HOPPER_IMAGES", "gpt-image-1", false),
			STT:        endpoint(r, "HOPPER_STT", "whisper-1", false),
			Embeddings: endpoint(r, "HOPPER_EMBEDDINGS", "text-embedding-3-small", true),
			SearxNGURL: r.OptionalURL("HOPPER_SEARXNG_URL", "http://127.0.0.1:8888", "http", "https"),
			SearxNGRPM: r.NonNegativeInt("HOPPER_SEARXNG_RPM", 0, maxPerMinute),
			SMTP: SMTP{
				Host:     r.Str("HOPPER_SMTP_HOST", ""),
				Port:     port(r, "HOPPER_SMTP_PORT"),
				Username: r.Str("HOPPER_SMTP_USERNAME", ""),
				Password: r.Str("HOPPER_SMTP_PASSWORD", ""),
				From:     r.Str("HOPPER_SMTP_FROM", ""),
				TLS:      r.OneOf("HOPPER_SMTP_TLS", "starttls", "starttls", "tls", "none"),
			},
		},
		Retention: Retention{
			Succeeded: r.Duration("HOPPER_RETENTION_SUCCEEDED", 7*24*time.Hour),
			Failed:    r.Duration("HOPPER_RETENTION_FAILED", 30*24*time.Hour),
			Cancelled: r.Duration("HOPPER_RETENTION_CANCELLED", 7*24*time.Hour),
			Uploads:   r.Duration("HOPPER_RETENTION_UPLOADS", 0),
		},
		WebhookAllowPrivate: r.Bool("HOPPER_WEBHOOK_ALLOW_PRIVATE", false),
		MaxUploadBytes:      int64(r.PositiveInt("HOPPER_MAX_UPLOAD_BYTES", 20<<20, 1<<30)),
		MaxAudioBytes:       int64(r.PositiveInt("HOPPER_MAX_AUDIO_BYTES", 25<<20, 1<<30)),
		MaxDocumentsPerUser: r.NonNegativeInt("HOPPER_MAX_DOCUMENTS_PER_USER", 0, 1_000_000),
		UploadsPerKey:       r.PositiveInt("HOPPER_UPLOADS_PER_KEY", 2, 1000),
		UploadsTotal:        r.PositiveInt("HOPPER_UPLOADS_TOTAL", 8, maxUploadsTotal),
		UploadTimeout:       r.Duration("HOPPER_UPLOAD_TIMEOUT", 5*time.Minute),
		NotifyMailsPerHour:  r.NonNegativeInt("HOPPER_NOTIFY_MAILS_PER_HOUR", DefaultNotifyMailsPerHour, 1_000_000),
	}
	if err := r.Err(); err != nil {
		return Settings{}, err
	}
	return s, nil
}

// endpoint reads <prefix>_URL, _API_KEY, _MODEL and _RPM (and _TPM when
// tokens is set); the model has a default only once a URL is set.
func endpoint(r *config.Reader, prefix, defaultModel string, tokens bool) Endpoint {
	e := Endpoint{
		URL:    r.OptionalURL(prefix+"_URL", "https://api.openai.com/v1", "http", "https"),
		APIKey: r.Str(prefix+"_API_KEY", ""),
		Model:  r.Str(prefix+"_MODEL", ""),
		RPM:    r.NonNegativeInt(prefix+"_RPM", 0, maxPerMinute),
	}
	if tokens {
		e.TPM = r.NonNegativeInt(prefix+"_TPM", 0, maxPerMinute)
	}
	if e.URL != "" && e.Model == "" {
		e.Model = defaultModel
	}
	return e
}

// port reads an optional TCP port (0 when unset).
func port(r *config.Reader, key string) int {
	v := strings.TrimSpace(r.Str(key, ""))
	if v == "" {
		return 0
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 65535 {
		r.Fail(key, "%q is not a port (1-65535)", v)
		return 0
	}
	return n
}

// LogFields describe the settings for the start-up log line, with secrets
// masked.
func (s Settings) LogFields() []zap.Field {
	p := s.Providers
	return []zap.Field{
		zap.Int64("max_upload_bytes", s.MaxUploadBytes),
		zap.Int64("max_audio_bytes", s.MaxAudioBytes),
		zap.Int("max_documents_per_user", s.MaxDocumentsPerUser),
		zap.Int("uploads_per_key", s.UploadsPerKey),
		zap.Int("uploads_total", s.UploadsTotal),
		zap.Duration("upload_timeout", s.UploadTimeout),
		zap.Int("notify_mails_per_hour", s.NotifyMailsPerHour),
		zap.Bool("webhook_allow_private", s.WebhookAllowPrivate),
		zap.String("llm_url", config.MaskURL(p.LLM.URL)),
		zap.String("llm_model", p.LLM.Model),
		zap.Int("llm_rpm", p.LLM.RPM),
		zap.Int("llm_tpm", p.LLM.TPM),
		zap.String("images_url", config.MaskURL(p.Images.URL)),
		zap.Int("images_rpm", p.Images.RPM),
		zap.String("stt_url", config.MaskURL(p.STT.URL)),
		zap.Int("stt_rpm", p.STT.RPM),
		zap.String("embeddings_url", config.MaskURL(p.Embeddings.URL)),
		zap.Int("embeddings_rpm", p.Embeddings.RPM),
		zap.Int("embeddings_tpm", p.Embeddings.TPM),
		zap.String("searxng_url", config.MaskURL(p.SearxNGURL)),
		zap.Int("searxng_rpm", p.SearxNGRPM),
		zap.String("smtp_host", p.SMTP.Host),
		zap.Duration("retention_succeeded", s.Retention.Succeeded),
		zap.Duration("retention_failed", s.Retention.Failed),
		zap.Duration("retention_cancelled", s.Retention.Cancelled),
		zap.Duration("retention_uploads", s.Retention.Uploads),
	}
}
