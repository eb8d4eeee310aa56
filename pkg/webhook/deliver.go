package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// DefaultTimeout bounds one delivery attempt when Config.Timeout is zero.
const DefaultTimeout = 10 * time.Second

// UserAgent is sent with every delivery.
const UserAgent = "Hopper-Webhook/1"

// The headers sent with every delivery, besides Content-Type, User-Agent
// and SignatureHeader.
const (
	EventHeader    = "Hopper-Event"
	DeliveryHeader = "Hopper-Delivery"
)

// maxBodySnippet is how much of a failed response body is kept.
const maxBodySnippet = 512

// Config configures a Deliverer.
type Config struct {
	// Timeout bounds one attempt, connect to last byte; 0 = DefaultTimeout.
	Timeout time.Duration
	// AllowPrivate lets deliveries reach loopback, private and link-local
	// addresses (HOPPER_WEBHOOK_ALLOW_PRIVATE). Off in production.
	AllowPrivate bool
	// Now is the clock used for signature timestamps; nil = time.Now.
	Now func() time.Time
}

// Message is one event to deliver.
type Message struct {
	URL   string
	Event string // e.g. job.succeeded: the Hopper-Event header and the body's "event"
	// ID is the Hopper-Delivery header. Give every attempt at one event
	// the same ID (DeliveryID) so receivers can de-duplicate; "" sends a
	// random one.
	ID string
	// Secrets sign the body, one v1 signature each, in this order (the
	// newest first). At least one is required.
	Secrets [][]byte
	// Payload is the body's "job".
	Payload any
}

// deliveryNamespace scopes the name-based UUIDs DeliveryID makes.
var deliveryNamespace = uuid.MustParse("7b0f2f8e-3c44-5a8e-9d3b-6f1c2a9e4d10")

// DeliveryID is the delivery id of the event key names (a job's id,
// attempt and final state, say): a UUID derived from key alone, so every
// retry of one delivery carries the same Hopper-Delivery header and a
// receiver that has seen it can drop the duplicate.
func DeliveryID(key string) string {
	return uuid.NewSHA1(deliveryNamespace, []byte(key)).String()
}

// Attempt describes one delivery attempt.
type Attempt struct {
	// DeliveryID is the Hopper-Delivery header sent (a UUID), for logs and
	// for receivers that de-duplicate.
	DeliveryID string
	// Status is the receiver's HTTP status, 0 when none arrived.
	Status int
	// Duration is the time from sending the request to reading the answer.
	Duration time.Duration
	// Err is nil on a 2xx answer; otherwise it is the returned error.
	Err error
}

// Deliverer POSTs signed webhook events. It is safe for concurrent use.
type Deliverer struct {
	timeout      time.Duration
	allowPrivate bool
	now          func() time.Time
	client       *http.Client
}

// New returns a Deliverer. Its HTTP client does not use proxies from the
// environment (a proxy would connect on our behalf, past the dial guard),
// does not follow redirects, and unless AllowPrivate refuses at connect
// time any address that CheckURL would refuse.
func New(cfg Config) (*Deliverer, error) {
	if cfg.Timeout < 0 {
		return nil, fmt.Errorf("webhook: new deliverer: negative timeout %s", cfg.Timeout)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	dialer := &net.Dialer{Timeout: cfg.Timeout, KeepAlive: 30 * time.Second}
	if !cfg.AllowPrivate {
		dialer.Control = dialControl
	}
	transport := &http.Transport{
		Proxy:                 nil,
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          32,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   cfg.Timeout,
		ResponseHeaderTimeout: cfg.Timeout,
		ExpectContinueTimeout: time.Second,
	}
	return &Deliverer{
		timeout:      cfg.Timeout,
		allowPrivate: cfg.AllowPrivate,
		now:          cfg.Now,
		client: &http.Client{
			Transport: transport,
			Timeout:   cfg.Timeout,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		},
	}, nil
}

// Close releases idle connections.
func (d *Deliverer) Close() {
	d.client.CloseIdleConnections()
}

// envelope is the JSON body of every delivery.
type envelope struct {
	Event string `json:"event"`
	Job   any    `json:"job"`
}

// Deliver makes ONE attempt to POST {"event": m.Event, "job": m.Payload}
// to m.URL, signed with each of m.Secrets, and returns what happened. The
// returned error (also Attempt.Err) is nil on a 2xx answer; otherwise
// IsPermanent says whether to give up and RetryAfter whether the receiver
// asked for a delay. Retrying is the caller's job.
func (d *Deliverer) Deliver(ctx context.Context, m Message) (Attempt, error) {
	a := Attempt{DeliveryID: m.ID}
	if a.DeliveryID == "" {
		a.DeliveryID = uuid.NewString()
	}
	if len(m.Secrets) == 0 || slices.ContainsFunc(m.Secrets, func(s []byte) bool { return len(s) == 0 }) {
		return failed(a, &DeliveryError{Permanent: true, Err: ErrEmptySecret})
	}
	if err := CheckURL(m.URL, d.allowPrivate); err != nil {
		return failed(a, &DeliveryError{Permanent: true, Err: err})
	}
	return d.post(ctx, a, m)
}

// post is Deliver after the static checks.
func (d *Deliverer) post(ctx context.Context, a Attempt, m Message) (Attempt, error) {
	body, err := json.Marshal(envelope{Event: m.Event, Job: m.Payload})
	if err != nil {
		return failed(a, &DeliveryError{Permanent: true, Err: fmt.Errorf("encode payload: %w", err)})
	}
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, m.URL, bytes.NewReader(body))
	if err != nil {
		return failed(a, &DeliveryError{Permanent: true, Err: fmt.Errorf("%w: %w", ErrInvalidURL, err)})
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", UserAgent)
	req.Header.Set(EventHeader, m.Event)
	req.Header.Set(DeliveryHeader, a.DeliveryID)
	req.Header.Set(SignatureHeader, SignAll(m.Secrets, d.now(), body))

	start := time.Now()
	resp, err := d.client.Do(req)
	if err != nil {
		a.Duration = time.Since(start)
		return failed(a, &DeliveryError{Permanent: errors.Is(err, ErrForbiddenAddress), Err: fmt.Errorf("POST: %w", err)})
	}
	snippet := readSnippet(resp.Body)
	_ = resp.Body.Close()
	a.Duration = time.Since(start)
	a.Status = resp.StatusCode
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return a, nil
	}
	return failed(a, classifyStatus(resp.StatusCode, resp.Header, snippet, d.now()))
}

func failed(a Attempt, err *DeliveryError) (Attempt, error) {
	a.Err = err
	return a, err
}

// readSnippet reads the start of a response body (kept for error
// messages) and drains a little more so the connection can be reused.
func readSnippet(r io.Reader) string {
	b, _ := io.ReadAll(io.LimitReader(r, maxBodySnippet))
	_, _ = io.Copy(io.Discard, io.LimitReader(r, 64<<10))
	s := strings.TrimSpace(strings.ToValidUTF8(string(b), string(utf8.RuneError)))
	return s
}
