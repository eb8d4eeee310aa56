package hopper

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Sentinels an *APIError matches with errors.Is, by HTTP status, so
// callers can branch without reading codes:
//
//	if errors.Is(err, hopper.ErrNotFound) { ... }
var (
	ErrUnauthorized  = errors.New("hopper: unauthorized")  // 401: missing, unknown or revoked API key
	ErrForbidden     = errors.New("hopper: forbidden")     // 403
	ErrNotFound      = errors.New("hopper: not found")     // 404: no such job, or another user's
	ErrConflict      = errors.New("hopper: conflict")      // 409: wrong state, or an Idempotency-Key reused for another request
	ErrUnprocessable = errors.New("hopper: unprocessable") // 422: unknown kind, bad field, priority above the plan's
	ErrRateLimited   = errors.New("hopper: rate limited")  // 429: a plan limit; see APIError.RetryAfter
	ErrUnavailable   = errors.New("hopper: unavailable")   // 503: the gateway cannot serve now; retry later
)

var statusSentinels = map[int]error{
	http.StatusUnauthorized:        ErrUnauthorized,
	http.StatusForbidden:           ErrForbidden,
	http.StatusNotFound:            ErrNotFound,
	http.StatusConflict:            ErrConflict,
	http.StatusUnprocessableEntity: ErrUnprocessable,
	http.StatusTooManyRequests:     ErrRateLimited,
	http.StatusServiceUnavailable:  ErrUnavailable,
}

// APIError is an error answer of the gateway: its one JSON shape
// {"error": {"code", "message", "details"}} with the HTTP status.
type APIError struct {
	Status  int          // HTTP status
	Code    string       // stable code, e.g. "unprocessable", "rate_limited"; "" when the body was not the API's
	Message string       // human-readable, from the server
	Details ErrorDetails // what the server added to explain it
	// RetryAfter is the Retry-After header (429, 503): how long until the
	// request would be accepted; 0 when absent.
	RetryAfter time.Duration
}

// ErrorDetails are the details the gateway sends with an error. The
// fields it uses are typed; Raw holds the whole object for the others.
type ErrorDetails struct {
	Field      string   `json:"field,omitempty"`       // 422: the request field at fault
	Index      *int     `json:"index,omitempty"`       // 422 of a batch: the job at fault
	ValidKinds []string `json:"valid_kinds,omitempty"` // 422 for an unknown kind
	JobID      string   `json:"job_id,omitempty"`      // 409: the job an Idempotency-Key already names
	State      JobState `json:"state,omitempty"`       // 409 of a retry: the job's state

	// Plan limits (429, or 422 for a batch larger than the whole limit).
	Limit             string `json:"limit,omitempty"` // "jobs_per_hour", "documents_per_user"
	Plan              string `json:"plan,omitempty"`
	Max               int    `json:"max,omitempty"`
	Used              int    `json:"used,omitempty"`
	Requested         int    `json:"requested,omitempty"`
	RetryAfterSeconds int    `json:"retry_after_seconds,omitempty"`

	Raw json.RawMessage `json:"-"`
}

func (e *APIError) Error() string {
	code := e.Code
	if code == "" {
		code = strings.ToLower(http.StatusText(e.Status))
	}
	return fmt.Sprintf("%s (HTTP %d %s)", e.Message, e.Status, code)
}

// Is matches the sentinel of e's status (ErrNotFound for a 404…).
func (e *APIError) Is(target error) bool {
	s, ok := statusSentinels[e.Status]
	return ok && s == target
}

// decodeAPIError turns a non-2xx answer into an *APIError. A body that is
// not the API's shape (a proxy's page) becomes the message, shortened.
func decodeAPIError(resp *http.Response, raw []byte) *APIError {
	e := &APIError{Status: resp.StatusCode}
	if d, ok := retryAfterHeader(resp.Header.Get("Retry-After"), time.Now()); ok {
		e.RetryAfter = d
	}
	var body struct {
		Error struct {
			Code    string          `json:"code"`
			Message string          `json:"message"`
			Details json.RawMessage `json:"details"`
		} `json:"error"`
	}
	if json.Unmarshal(raw, &body) == nil && body.Error.Code != "" {
		e.Code, e.Message = body.Error.Code, body.Error.Message
		if len(body.Error.Details) > 0 && string(body.Error.Details) != "null" {
			// Details are informative: a shape we do not know keeps Raw.
			_ = json.Unmarshal(body.Error.Details, &e.Details)
			e.Details.Raw = body.Error.Details
		}
		return e
	}
	msg := strings.TrimSpace(string(raw))
	if len(msg) > 200 {
		msg = msg[:200] + "…"
	}
	if msg == "" {
		msg = http.StatusText(resp.StatusCode)
	}
	e.Message = msg
	return e
}

// retryAfterHeader reads a Retry-After value (RFC 9110): seconds or an
// HTTP date, a past date being no delay.
func retryAfterHeader(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 || secs > int64(time.Duration(1<<63-1)/time.Second) {
			return 0, false
		}
		return time.Duration(secs) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}
