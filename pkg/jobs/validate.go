package jobs

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"
)

// Limits bound what a submit may ask for.
const (
	MaxPayloadBytes    = 256 << 10 // payloads travel through Postgres, not AMQP
	MaxAttemptsLimit   = 25
	MaxIdempotencyKey  = 255
	maxWebhookURLBytes = 2048
)

// SubmitRequest is a job submission as the API receives it, before
// validation. Priority and Timeout stay raw JSON because both accept a
// name or a number.
type SubmitRequest struct {
	Kind        string          `json:"kind"`
	Payload     json.RawMessage `json:"payload"`
	Priority    json.RawMessage `json:"priority,omitempty"`
	RunAt       *time.Time      `json:"run_at,omitempty"`
	MaxAttempts *int            `json:"max_attempts,omitempty"`
	Timeout     json.RawMessage `json:"timeout,omitempty"`
	// WebhookURL and NotifyEmail ask for a follow-up when the job ends: a
	// signed webhook, a job-finished mail. The platform stores them; the
	// follow-ups the deployment plugs into the dispatcher deliver them.
	WebhookURL  string `json:"webhook_url,omitempty"`
	NotifyEmail string `json:"notify_email,omitempty"`
}

// Spec is a validated submission, ready to store.
type Spec struct {
	Kind        Kind
	Payload     json.RawMessage
	Priority    Priority
	RunAt       time.Time // zero: run now
	MaxAttempts int
	Timeout     time.Duration
	WebhookURL  string
	NotifyEmail string // bare address; "" = no job-finished mail
}

// Spec is a job of kind k with payload and the kind's defaults: what
// Validate starts from, and what the platform submits on its own (a
// schedule's tick, a follow-up of a finished job).
func (k Kind) Spec(payload json.RawMessage) Spec {
	return Spec{Kind: k, Payload: payload, Priority: k.DefaultPriority, MaxAttempts: k.MaxAttempts, Timeout: k.Timeout}
}

// InitialState is queued for a job due now, scheduled for a future run_at.
func (s Spec) InitialState(now time.Time) State {
	if !s.RunAt.IsZero() && s.RunAt.After(now) {
		return StateScheduled
	}
	return StateQueued
}

// ValidationError says which field of a submission is wrong and why.
type ValidationError struct {
	Field   string
	Message string
	// UnknownKind is set when the kind is not registered, so the API can
	// answer with the list of valid kinds.
	UnknownKind bool
}

func (e *ValidationError) Error() string { return e.Field + ": " + e.Message }

func invalid(field, format string, args ...any) *ValidationError {
	return &ValidationError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// Validate checks a submission against the registry and fills defaults
// from the kind.
func (r *Registry) Validate(req SubmitRequest) (Spec, error) {
	return Validate(r, req)
}

// Validate checks a submission against the catalogue c and fills defaults
// from the kind.
func Validate(c Catalog, req SubmitRequest) (Spec, error) {
	if req.Kind == "" {
		return Spec{}, invalid("kind", "is required")
	}
	k, ok := c.Lookup(req.Kind)
	if !ok {
		e := invalid("kind", "unknown kind %q; valid kinds: %s", req.Kind, strings.Join(c.Names(), ", "))
		e.UnknownKind = true
		return Spec{}, e
	}
	spec := k.Spec(nil)

	payload := bytes.TrimSpace(req.Payload)
	if len(payload) == 0 || bytes.Equal(payload, []byte("null")) {
		payload = []byte("{}")
	}
	if len(payload) > MaxPayloadBytes {
		return Spec{}, invalid("payload", "is %d bytes, limit %d", len(payload), MaxPayloadBytes)
	}
	if payload[0] != '{' || !json.Valid(payload) {
		return Spec{}, invalid("payload", "must be a JSON object")
	}
	spec.Payload = json.RawMessage(payload)
	if k.CheckPayload != nil {
		if err := k.CheckPayload(payload); err != nil {
			return Spec{}, err
		}
	}

	if len(bytes.TrimSpace(req.Priority)) > 0 && !bytes.Equal(bytes.TrimSpace(req.Priority), []byte("null")) {
		p, err := ParsePriority(req.Priority)
		if err != nil {
			return Spec{}, invalid("priority", "%v", err)
		}
		spec.Priority = p
	}
	if req.RunAt != nil {
		spec.RunAt = req.RunAt.UTC()
	}
	if req.MaxAttempts != nil {
		n := *req.MaxAttempts
		if n < 1 || n > MaxAttemptsLimit {
			return Spec{}, invalid("max_attempts", "%d out of range 1-%d", n, MaxAttemptsLimit)
		}
		spec.MaxAttempts = n
	}
	if len(bytes.TrimSpace(req.Timeout)) > 0 && !bytes.Equal(bytes.TrimSpace(req.Timeout), []byte("null")) {
		d, err := parseTimeout(req.Timeout)
		if err != nil {
			return Spec{}, invalid("timeout", "%v", err)
		}
		if d <= 0 || d > k.MaxTimeout {
			return Spec{}, invalid("timeout", "%s out of range (0, %s] for kind %s", d, k.MaxTimeout, k.Name)
		}
		spec.Timeout = d
	}
	if req.WebhookURL != "" {
		if _, err := ParseWebhookURL(req.WebhookURL); err != nil {
			return Spec{}, invalid("webhook_url", "%v", err)
		}
		spec.WebhookURL = req.WebhookURL
	}
	if req.NotifyEmail != "" {
		addr, err := normalizeNotifyEmail(req.NotifyEmail)
		if err != nil {
			return Spec{}, invalid("notify_email", "%v", err)
		}
		spec.NotifyEmail = addr
	}
	return spec, nil
}

// parseTimeout accepts a Go duration string ("90s", "2m") or a number of
// seconds.
func parseTimeout(raw json.RawMessage) (time.Duration, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		d, err := time.ParseDuration(s)
		if err != nil {
			return 0, fmt.Errorf("%q is not a duration like \"30s\" or \"5m\"", s)
		}
		return d, nil
	}
	var secs float64
	if err := json.Unmarshal(raw, &secs); err != nil {
		return 0, fmt.Errorf("want a duration string like \"30s\" or a number of seconds")
	}
	return time.Duration(secs * float64(time.Second)), nil
}

// ParseWebhookURL is the one rule for what a webhook URL may look like: an
// absolute http or https URL with a host, at most 2,048 bytes of UTF-8
// without control characters (net/url lets them through in the fragment).
// Which addresses it may reach is the webhook package's guard
// (webhook.CheckURL), which builds on this.
func ParseWebhookURL(s string) (*url.URL, error) {
	if len(s) > maxWebhookURLBytes {
		return nil, fmt.Errorf("longer than %d bytes", maxWebhookURLBytes)
	}
	if !utf8.ValidString(s) || strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return nil, fmt.Errorf("%q contains control characters or invalid UTF-8", s)
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
		return nil, fmt.Errorf("%q is not an absolute http(s) URL", s)
	}
	return u, nil
}

// ValidateIdempotencyKey checks an Idempotency-Key header value.
func ValidateIdempotencyKey(key string) error {
	if len(key) > MaxIdempotencyKey {
		return invalid("Idempotency-Key", "longer than %d bytes", MaxIdempotencyKey)
	}
	for _, c := range key {
		if c < 0x20 || c == 0x7f {
			return invalid("Idempotency-Key", "contains control characters")
		}
	}
	return nil
}
