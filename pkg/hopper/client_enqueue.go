package hopper

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// EnqueueOption sets an optional field of a submission. Unset fields take
// the kind's defaults on the gateway.
type EnqueueOption func(*enqueueConfig)

type enqueueConfig struct {
	req            submitRequest
	idempotencyKey string
}

// WithIdempotencyKey makes the submission idempotent: the same key (per
// user) returns the same job instead of creating another, even over the
// rate limit. Reusing a key for a different kind or payload is a 409
// (ErrConflict). Not allowed in EnqueueMany.
func WithIdempotencyKey(key string) EnqueueOption {
	return func(c *enqueueConfig) { c.idempotencyKey = key }
}

// WithPriority sets the priority, 0 (lowest) to 5; low, normal and high
// are 1, 3 and 5. A priority above the plan's max_priority is a 422.
func WithPriority(level int) EnqueueOption {
	return func(c *enqueueConfig) { c.req.Priority = json.RawMessage(strconv.Itoa(level)) }
}

// WithPriorityName sets the priority by name: "low", "normal" or "high".
func WithPriorityName(name string) EnqueueOption {
	return func(c *enqueueConfig) {
		raw, _ := json.Marshal(name) // a string always encodes
		c.req.Priority = raw
	}
}

// WithRunAt schedules the job for t; a time in the past runs it now.
func WithRunAt(t time.Time) EnqueueOption {
	return func(c *enqueueConfig) {
		t = t.UTC()
		c.req.RunAt = &t
	}
}

// WithMaxAttempts sets how many attempts the job gets, 1–25.
func WithMaxAttempts(n int) EnqueueOption {
	return func(c *enqueueConfig) { c.req.MaxAttempts = &n }
}

// WithJobTimeout bounds each attempt's run time (up to the kind's
// maximum).
func WithJobTimeout(d time.Duration) EnqueueOption {
	return func(c *enqueueConfig) {
		secs := d.Seconds()
		c.req.Timeout = &secs
	}
}

// WithWebhookURL has the gateway POST the finished job to url.
func WithWebhookURL(url string) EnqueueOption {
	return func(c *enqueueConfig) { c.req.WebhookURL = url }
}

// WithNotifyEmail mails addr a job-finished notice when the job ends.
func WithNotifyEmail(addr string) EnqueueOption {
	return func(c *enqueueConfig) { c.req.NotifyEmail = addr }
}

// submitRequest is POST /v1/jobs's body (the OpenAPI SubmitRequest). The
// gateway refuses unknown fields, so only these are sent.
type submitRequest struct {
	Kind        string          `json:"kind"`
	Payload     json.RawMessage `json:"payload,omitempty"`
	Priority    json.RawMessage `json:"priority,omitempty"`
	RunAt       *time.Time      `json:"run_at,omitempty"`
	MaxAttempts *int            `json:"max_attempts,omitempty"`
	Timeout     *float64        `json:"timeout,omitempty"` // seconds
	WebhookURL  string          `json:"webhook_url,omitempty"`
	NotifyEmail string          `json:"notify_email,omitempty"`
}

// EnqueueResult is the gateway's 202 answer to a submission.
type EnqueueResult struct {
	ID    string   `json:"id"`
	State JobState `json:"state"` // queued, or scheduled for a future run_at
	// Replayed is true when an Idempotency-Key named an existing job:
	// ID is that job's and nothing new was created.
	Replayed bool `json:"-"`
}

// buildSubmit encodes one submission.
func buildSubmit(kind string, payload any, opts []EnqueueOption) (enqueueConfig, error) {
	var cfg enqueueConfig
	cfg.req.Kind = kind
	if payload != nil {
		raw, err := json.Marshal(payload)
		if err != nil {
			return cfg, fmt.Errorf("encode %s payload: %w", kind, err)
		}
		cfg.req.Payload = raw
	}
	for _, o := range opts {
		o(&cfg)
	}
	return cfg, nil
}

// Enqueue submits a job of kind with payload (encoded with encoding/json;
// pass a json.RawMessage to send JSON as it is; it must encode to an
// object). The job is stored on the gateway when Enqueue returns.
//
// A kind the gateway does not know, or an invalid option, is an *APIError
// matching ErrUnprocessable; a plan's rate limit one matching
// ErrRateLimited, with RetryAfter set.
func (c *Client) Enqueue(ctx context.Context, kind string, payload any, opts ...EnqueueOption) (EnqueueResult, error) {
	cfg, err := buildSubmit(kind, payload, opts)
	if err != nil {
		return EnqueueResult{}, err
	}
	var header http.Header
	if cfg.idempotencyKey != "" {
		header = http.Header{"Idempotency-Key": {cfg.idempotencyKey}}
	}
	var res EnqueueResult
	h, err := c.call(ctx, http.MethodPost, "/v1/jobs", nil, cfg.req, header, &res)
	if err != nil {
		return EnqueueResult{}, fmt.Errorf("hopper: enqueue %s: %w", kind, err)
	}
	res.Replayed = h.Get("Idempotent-Replayed") == "true"
	return res, nil
}

// MaxBatchItems is the most jobs one EnqueueMany call may submit.
const MaxBatchItems = 1000

// BatchItem is one job of EnqueueMany: as Enqueue's arguments, without an
// idempotency key.
type BatchItem struct {
	Kind    string
	Payload any
	Options []EnqueueOption
}

// EnqueueMany submits up to MaxBatchItems jobs in one request and one
// transaction: all are stored or none. The results are in items' order. A
// bad item refuses the batch with an *APIError whose Details.Index names
// it.
func (c *Client) EnqueueMany(ctx context.Context, items []BatchItem) ([]EnqueueResult, error) {
	reqs, err := batchRequests(items)
	if err != nil {
		return nil, err
	}
	body := struct {
		Jobs []submitRequest `json:"jobs"`
	}{reqs}
	var out struct {
		Jobs []EnqueueResult `json:"jobs"`
	}
	if _, err := c.call(ctx, http.MethodPost, "/v1/jobs/batch", nil, body, nil, &out); err != nil {
		return nil, fmt.Errorf("hopper: enqueue batch of %d: %w", len(items), err)
	}
	if len(out.Jobs) != len(items) {
		return nil, fmt.Errorf("hopper: enqueue batch of %d: the gateway answered %d jobs", len(items), len(out.Jobs))
	}
	return out.Jobs, nil
}

// batchRequests builds a batch's submissions, the same for the HTTP and
// the transactional path; items take no idempotency key.
func batchRequests(items []BatchItem) ([]submitRequest, error) {
	reqs := make([]submitRequest, len(items))
	for i, it := range items {
		cfg, err := buildSubmit(it.Kind, it.Payload, it.Options)
		if err != nil {
			return nil, fmt.Errorf("hopper: enqueue batch: item %d: %w", i, err)
		}
		if cfg.idempotencyKey != "" {
			return nil, fmt.Errorf("hopper: enqueue batch: item %d: idempotency keys are not supported in a batch", i)
		}
		reqs[i] = cfg.req
	}
	return reqs, nil
}
