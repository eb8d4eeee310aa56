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
	// Allow lets deliveries reach the internal hosts it names while the
	// guard refuses every other (HOPPER_PUSH_ALLOW_HOSTS).
	Allow AllowList
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
	allow        AllowList
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
	// Connecting is bounded apart from the answer: a long Timeout (a push
	// target's hour) must not let a dead address hold a slot that long.
	connect := min(cfg.Timeout, maxConnectTimeout)
	dialer := &net.Dialer{Timeout: connect, KeepAlive: 30 * time.Second}
	transport := &http.Transport{
		Proxy:                 nil,
		DialContext:           guardedDial(dialer, cfg.AllowPrivate, cfg.Allow),
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          32,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   connect,
		ResponseHeaderTimeout: cfg.Timeout,
		ExpectContinueTimeout: time.Second,
	}
	return &Deliverer{
		timeout:      cfg.Timeout,
		allowPrivate: cfg.AllowPrivate,
		allow:        cfg.Allow,
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
	body, err := json.Marshal(envelope{Event: m.Event, Job: m.Payload})
	if err != nil {
		a := Attempt{DeliveryID: m.ID}
		return failed(a, &DeliveryError{Permanent: true, Err: fmt.Errorf("encode payload: %w", err)})
	}
	resp, err := d.Send(ctx, Request{URL: m.URL, Body: body, Secrets: m.Secrets, ID: m.ID,
		Header: http.Header{EventHeader: {m.Event}}})
	return resp.Attempt, err
}

// maxConnectTimeout bounds connecting and the TLS handshake.
const maxConnectTimeout = 30 * time.Second

// Request is one signed POST of Body as it is (Send).
type Request struct {
	URL  string
	Body []byte
	// Header adds headers (Content-Type defaults to application/json).
	Header http.Header
	// Secrets sign Body, one v1 signature each (at least one).
	Secrets [][]byte
	// ID is the Hopper-Delivery header; "" sends a random one.
	ID string
	// Timeout bounds the attempt below the Deliverer's own (0: its own).
	Timeout time.Duration
	// MaxResponseBytes is how much of a 2xx answer's body is kept
	// (Response.Body); more sets Response.Truncated. 0 keeps none.
	MaxResponseBytes int64
}

// Response is what Send got back.
type Response struct {
	Attempt
	Header http.Header
	// Body is a 2xx answer's body, up to Request.MaxResponseBytes.
	Body      []byte
	Truncated bool
}

// Send makes ONE attempt to POST r.Body to r.URL, signed with each of
// r.Secrets (Hopper-Signature over the timestamp and the body, the scheme
// of every webhook), through the same guard as Deliver. Errors are
// classified as Deliver's are.
func (d *Deliverer) Send(ctx context.Context, r Request) (Response, error) {
	out := Response{Attempt: Attempt{DeliveryID: r.ID}}
	if out.DeliveryID == "" {
		out.DeliveryID = uuid.NewString()
	}
	fail := func(err *DeliveryError) (Response, error) {
		out.Err = err
		return out, err
	}
	if len(r.Secrets) == 0 || slices.ContainsFunc(r.Secrets, func(s []byte) bool { return len(s) == 0 }) {
		return fail(&DeliveryError{Permanent: true, Err: ErrEmptySecret})
	}
	check := CheckURLAllowing(r.URL, d.allow)
	if d.allowPrivate {
		check = CheckURL(r.URL, true)
	}
	if check != nil {
		return fail(&DeliveryError{Permanent: true, Err: check})
	}
	return d.send(ctx, out, r)
}

// send is Send after the static checks.
func (d *Deliverer) send(ctx context.Context, out Response, r Request) (Response, error) {
	fail := func(err *DeliveryError) (Response, error) {
		out.Err = err
		return out, err
	}
	timeout := d.timeout
	if r.Timeout > 0 {
		timeout = min(timeout, r.Timeout)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.URL, bytes.NewReader(r.Body))
	if err != nil {
		return fail(&DeliveryError{Permanent: true, Err: fmt.Errorf("%w: %w", ErrInvalidURL, err)})
	}
	for k, v := range r.Header {
		req.Header[k] = v
	}
	if req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("User-Agent", UserAgent)
	req.Header.Set(DeliveryHeader, out.DeliveryID)
	req.Header.Set(SignatureHeader, SignAll(r.Secrets, d.now(), r.Body))

	start := time.Now()
	resp, err := d.client.Do(req)
	if err != nil {
		out.Duration = time.Since(start)
		return fail(&DeliveryError{Permanent: errors.Is(err, ErrForbiddenAddress), Err: fmt.Errorf("POST: %w", err)})
	}
	defer resp.Body.Close()
	out.Status, out.Header = resp.StatusCode, resp.Header
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		body, err := io.ReadAll(io.LimitReader(resp.Body, r.MaxResponseBytes+1))
		out.Duration = time.Since(start)
		if err != nil {
			return fail(&DeliveryError{Status: resp.StatusCode, Err: fmt.Errorf("read answer: %w", err)})
		}
		if int64(len(body)) > r.MaxResponseBytes {
			body, out.Truncated = body[:r.MaxResponseBytes], true
		}
		out.Body = body
		return out, nil
	}
	snippet := readSnippet(resp.Body)
	out.Duration = time.Since(start)
	return fail(classifyStatus(resp.StatusCode, resp.Header, snippet, d.now()))
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
