package providers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/openai/openai-go/v3"
)

// ErrNotConfigured is returned by a constructor whose provider lacks a
// required setting. It is permanent: a job needing the provider cannot
// succeed until an operator sets Setting.
type ErrNotConfigured struct {
	Setting string // e.g. SettingLLMURL
}

func (e ErrNotConfigured) Error() string {
	return "provider not configured: set " + e.Setting
}

// MissingSetting returns the setting an ErrNotConfigured in err's chain
// names, and whether there is one: a constructor's error is either "not
// configured" (ok) or a malformed setting (not ok, err not nil).
func MissingSetting(err error) (setting string, ok bool) {
	var nc ErrNotConfigured
	if errors.As(err, &nc) {
		return nc.Setting, true
	}
	return "", false
}

// ErrInvalidInput marks a call the provider cannot serve whatever it is
// asked again: an empty prompt, no messages, an unknown role. It is
// permanent.
var ErrInvalidInput = errors.New("invalid input")

// ErrIncompleteStream is returned when a chat stream ends before the model
// reported why it stopped (finish_reason): the connection dropped or the
// server gave up mid-answer. It is retryable.
var ErrIncompleteStream = errors.New("chat stream ended before the answer was complete")

// StatusError is a non-2xx answer from SearxNG or from an image download.
// (The OpenAI-compatible API's answers surface as *openai.Error; IsPermanent
// classifies both the same way.)
type StatusError struct {
	Provider   string // "searxng", "image download"
	StatusCode int
	Body       string // the start of the response body, for diagnosis
	Hint       string // what an operator can do about it, when known

	retryAfter    time.Duration
	hasRetryAfter bool
}

func (e *StatusError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: status %d %s", e.Provider, e.StatusCode, http.StatusText(e.StatusCode))
	if e.Body != "" {
		fmt.Fprintf(&b, ": %q", e.Body)
	}
	if e.Hint != "" {
		b.WriteString(" (")
		b.WriteString(e.Hint)
		b.WriteString(")")
	}
	return b.String()
}

// IsPermanent reports whether retrying the call (or the job making it)
// cannot help: ErrNotConfigured, ErrInvalidInput, and an HTTP 4xx answer
// other than 408 Request Timeout and 429 Too Many Requests. Everything
// else — 408, 429, 5xx, timeouts, cancellation, network errors, malformed
// or incomplete answers — is retryable.
func IsPermanent(err error) bool {
	if err == nil {
		return false
	}
	var nc ErrNotConfigured
	var ncp *ErrNotConfigured
	if errors.As(err, &nc) || errors.As(err, &ncp) || errors.Is(err, ErrInvalidInput) {
		return true
	}
	if code, ok := statusCode(err); ok {
		return permanentStatus(code)
	}
	return false
}

// statusCode extracts the HTTP status of a provider's error answer.
func statusCode(err error) (int, bool) {
	var se *StatusError
	if errors.As(err, &se) {
		return se.StatusCode, true
	}
	var ae *openai.Error
	if errors.As(err, &ae) {
		return ae.StatusCode, true
	}
	return 0, false
}

func permanentStatus(code int) bool {
	return code >= 400 && code < 500 &&
		code != http.StatusRequestTimeout && code != http.StatusTooManyRequests
}

// retryableStatus mirrors openai-go's rule, so both kinds of clients retry
// the same answers.
func retryableStatus(code int) bool {
	return code == http.StatusRequestTimeout || code == http.StatusConflict ||
		code == http.StatusTooManyRequests || code >= 500
}

// maxDetail bounds how much of a provider's error text goes into an error
// message.
const maxDetail = 300

// wrapAPIError names the operation, adds the provider's own message (e.g.
// "model not found") to an *openai.Error, whose Error() carries only the
// status, and says so when the attempt's own timeout (not the caller's
// context) ended the call.
func wrapAPIError(ctx context.Context, op string, timeout time.Duration, err error) error {
	var ae *openai.Error
	switch {
	case errors.As(err, &ae) && ae.Message != "":
		return fmt.Errorf("%s: %w: %s", op, err, truncate(ae.Message, maxDetail))
	case errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
		return fmt.Errorf("%s: no complete answer within %s: %w", op, timeout, err)
	default:
		return fmt.Errorf("%s: %w", op, err)
	}
}

// truncate cuts s to at most n bytes on a rune boundary, marking the cut.
func truncate(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
