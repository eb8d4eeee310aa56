package hopper

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Client defaults. Each can be changed with a ClientOption.
const (
	// DefaultRequestTimeout bounds one call that is not a stream. The
	// gateway answers a submit once the job is in Postgres, well within it.
	DefaultRequestTimeout = 30 * time.Second
	// DefaultMaxResponseBytes caps a response body: a job's payload and
	// result are bounded by the API, so a larger body is a fault, and
	// reading it whole would let one answer exhaust the caller's memory.
	DefaultMaxResponseBytes = 16 << 20
	// DefaultStreamIdleTimeout drops an event stream that sent nothing,
	// not even its 15 s keepalive comment, for this long; the stream is
	// then resumed with Last-Event-ID.
	DefaultStreamIdleTimeout = 45 * time.Second
	// DefaultPollInterval is how often Wait reads the job once the event
	// stream has failed repeatedly.
	DefaultPollInterval = time.Second
)

// maxSSELine caps one line of an event stream (and one message's data).
// The gateway's messages are a few hundred bytes.
const maxSSELine = 1 << 20

// Client calls a Hopper gateway's HTTP API with one API key. It is safe
// for concurrent use; create one and share it.
type Client struct {
	base        *url.URL
	apiKey      string
	http        *http.Client
	timeout     time.Duration
	maxBody     int64
	idle        time.Duration
	poll        time.Duration
	userAgent   string
	maxFailures int           // consecutive failed stream connections before giving up
	backoff     time.Duration // first delay before reconnecting a stream
}

// ClientOption changes a Client's defaults in NewClient.
type ClientOption func(*Client)

// WithHTTPClient sends requests through hc (its transport, proxy and TLS
// settings). Leave hc.Timeout zero: it would also cut event streams, which
// last as long as the job; the client bounds other calls itself
// (WithRequestTimeout).
func WithHTTPClient(hc *http.Client) ClientOption {
	return func(c *Client) {
		if hc != nil {
			c.http = hc
		}
	}
}

// WithRequestTimeout bounds each call that is not an event stream
// (default DefaultRequestTimeout); 0 leaves only the caller's context.
func WithRequestTimeout(d time.Duration) ClientOption {
	return func(c *Client) { c.timeout = d }
}

// WithMaxResponseBytes caps response bodies (default
// DefaultMaxResponseBytes).
func WithMaxResponseBytes(n int64) ClientOption {
	return func(c *Client) {
		if n > 0 {
			c.maxBody = n
		}
	}
}

// WithStreamIdleTimeout sets how long an event stream may stay silent
// before it is dropped and resumed (default DefaultStreamIdleTimeout).
// Keep it above the gateway's 15 s keepalive.
func WithStreamIdleTimeout(d time.Duration) ClientOption {
	return func(c *Client) {
		if d > 0 {
			c.idle = d
		}
	}
}

// WithPollInterval sets how often Wait reads the job when it has fallen
// back from the event stream to polling (default DefaultPollInterval).
func WithPollInterval(d time.Duration) ClientOption {
	return func(c *Client) {
		if d > 0 {
			c.poll = d
		}
	}
}

// WithUserAgent sets the User-Agent header, e.g. to name the calling
// service in the gateway's logs.
func WithUserAgent(ua string) ClientOption {
	return func(c *Client) { c.userAgent = ua }
}

// NewClient returns a client of the gateway at baseURL (e.g.
// "http://127.0.0.1:8080") that authenticates with apiKey.
func NewClient(baseURL, apiKey string, opts ...ClientOption) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(baseURL, "/"))
	if err != nil {
		return nil, fmt.Errorf("hopper: base URL: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("hopper: base URL %q: want an absolute http(s) URL", baseURL)
	}
	if apiKey == "" {
		return nil, errors.New("hopper: API key is empty")
	}
	c := &Client{
		base:        u,
		apiKey:      apiKey,
		timeout:     DefaultRequestTimeout,
		maxBody:     DefaultMaxResponseBytes,
		idle:        DefaultStreamIdleTimeout,
		poll:        DefaultPollInterval,
		userAgent:   "hopper-go-client",
		maxFailures: 5,
		backoff:     100 * time.Millisecond,
	}
	for _, o := range opts {
		o(c)
	}
	if c.http == nil {
		// No http.Client.Timeout: it would cut event streams, which last as
		// long as the job. Calls are bounded by the request timeout, streams
		// by the idle timeout.
		c.http = &http.Client{}
		if t, ok := http.DefaultTransport.(*http.Transport); ok {
			t = t.Clone()
			t.MaxIdleConnsPerHost = 16 // a backend calls one gateway, often concurrently
			c.http.Transport = t
		}
	}
	return c, nil
}

// newRequest builds a request to path (with query) carrying the API key
// and, when body is not nil, its JSON encoding.
func (c *Client) newRequest(ctx context.Context, method, path string, query url.Values, body any) (*http.Request, error) {
	// path is already escaped (jobPath), so it is appended, not set as
	// url.URL.Path, which would escape it again.
	target := c.base.String() + path
	if len(query) > 0 {
		target += "?" + query.Encode()
	}
	var r io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("encode %s %s request: %w", method, path, err)
		}
		r = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, r)
	if err != nil {
		return nil, fmt.Errorf("build %s %s request: %w", method, path, err)
	}
	req.Header.Set("Authorization", "Bearer "+c.apiKey)
	req.Header.Set("Accept", "application/json")
	if c.userAgent != "" {
		req.Header.Set("User-Agent", c.userAgent)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return req, nil
}

// call sends one request, bounded by the request timeout, and decodes a
// 2xx JSON answer into out (when not nil). Any other status is an
// *APIError. It returns the response headers for callers that read them.
func (c *Client) call(ctx context.Context, method, path string, query url.Values, body any, header http.Header, out any) (http.Header, error) {
	if c.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	req, err := c.newRequest(ctx, method, path, query, body)
	if err != nil {
		return nil, err
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := c.readBody(resp.Body)
	if err != nil {
		return resp.Header, fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.Header, decodeAPIError(resp, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return resp.Header, fmt.Errorf("%s %s: decode answer: %w", method, path, err)
		}
	}
	return resp.Header, nil
}

// ErrResponseTooLarge is returned when an answer is larger than the
// client's cap (WithMaxResponseBytes).
var ErrResponseTooLarge = errors.New("hopper: response body larger than the client's limit")

// readBody reads r whole, failing rather than truncating past the cap.
func (c *Client) readBody(r io.Reader) ([]byte, error) {
	raw, err := io.ReadAll(io.LimitReader(r, c.maxBody+1))
	if err != nil {
		return nil, err
	}
	if int64(len(raw)) > c.maxBody {
		return nil, fmt.Errorf("%w (%d bytes)", ErrResponseTooLarge, c.maxBody)
	}
	return raw, nil
}

var errEmptyJobID = errors.New("job id is empty")

// jobPath is /v1/jobs/{id}[suffix] with id escaped, refusing an empty id
// (which would address the job list instead).
func jobPath(id, suffix string) (string, error) {
	if strings.TrimSpace(id) == "" {
		return "", errEmptyJobID
	}
	return "/v1/jobs/" + url.PathEscape(id) + suffix, nil
}
