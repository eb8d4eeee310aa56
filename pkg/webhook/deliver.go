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
	// Secret signs every delivery (HMAC-SHA256). Required.
	Secret []byte
	// Timeout bounds one attempt, connect to last byte; 0 = DefaultTimeout.
	Timeout time.Duration
	// AllowPrivate lets deliveries reach loopback, private and link-local
	// addresses (HOPPER_WEBHOOK_ALLOW_PRIVATE). Off in production.
	AllowPrivate bool
	// Now is the clock used for signature timestamps; nil = time.Now.
	Now func() time.Time
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
	secret       []byte
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
	if len(cfg.Secret) == 0 {
		return nil, fmt.Errorf("webhook: new deliverer: %w", ErrEmptySecret)
	}
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
		secret:       bytes.Clone(cfg.Secret),
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

// Deliver makes ONE attempt to POST {"event": event, "job": payload} to
// url, signed with the Deliverer's secret, and returns what happened. The
// returned error (also Attempt.Err) is nil on a 2xx answer; otherwise
// IsPermanent says whether to give up and RetryAfter whether the receiver
// asked for a delay. Retrying is the caller's job.
func (d *Deliverer) Deliver(ctx context.Context, url, event string, payload any) (Attempt, error) {
	if err := CheckURL(url, d.allowPrivate); err != nil {
		return failed(Attempt{}, &DeliveryError{Permanent: true, Err: err})
	}
	return d.post(ctx, url, event, payload)
}

// post is Deliver after the static URL check.
func (d *Deliverer) post(ctx context.Context, url, event string, payload any) (Attempt, error) {
	a := Attempt{DeliveryID: uuid.NewString()}
	body, err := json.Marshal(envelope{Event: event, Job: payload})
	if err != nil {
		return failed(a, &DeliveryError{Permanent: true, Err: fmt.Errorf("encode payload: %w", err)})
	}
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return failed(a, &DeliveryError{Permanent: true, Err: fmt.Errorf("%w: %w", ErrInvalidURL, err)})
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", UserAgent)
	req.Header.Set(EventHeader, event)
	req.Header.Set(DeliveryHeader, a.DeliveryID)
	req.Header.Set(SignatureHeader, Sign(d.secret, d.now(), body))

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
