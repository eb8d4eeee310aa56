package webhook

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/hopperq/hopper/pkg/httpx"
)

// DeliveryError is the error of a failed delivery attempt.
type DeliveryError struct {
	// Status is the receiver's HTTP status, 0 when no response arrived.
	Status int
	// Permanent is true when retrying cannot help (see IsPermanent).
	Permanent bool
	// Body is the start of the receiver's response body, for diagnosis.
	Body string
	// Err is the cause: a transport or guard error, or nil for an HTTP
	// status failure.
	Err error

	retryAfter    time.Duration
	hasRetryAfter bool
}

func (e *DeliveryError) Error() string {
	var b strings.Builder
	b.WriteString("webhook delivery failed")
	if e.Permanent {
		b.WriteString(" (permanent)")
	}
	if e.Status != 0 {
		fmt.Fprintf(&b, ": status %d %s", e.Status, http.StatusText(e.Status))
	}
	if e.hasRetryAfter {
		fmt.Fprintf(&b, ", retry after %s", e.retryAfter)
	}
	if e.Body != "" {
		fmt.Fprintf(&b, ": %q", e.Body)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

func (e *DeliveryError) Unwrap() error { return e.Err }

// IsPermanent reports whether err is a delivery failure that retrying
// cannot fix: a 4xx answer other than 408 and 429 (410 Gone included), a
// URL that CheckURL or the dial guard refuses, or a payload that cannot be
// encoded. Everything else — 5xx, 408, 429, 3xx (redirects are not
// followed), timeouts and network errors — is retryable.
func IsPermanent(err error) bool {
	var de *DeliveryError
	return errors.As(err, &de) && de.Permanent
}

// RetryAfter returns the delay the receiver asked for with a Retry-After
// header (delta-seconds or an HTTP date) on a retryable failure. The
// caller should wait at least this long, or its own backoff if longer.
func RetryAfter(err error) (time.Duration, bool) {
	var de *DeliveryError
	if errors.As(err, &de) && de.hasRetryAfter {
		return de.retryAfter, true
	}
	return 0, false
}

// classifyStatus turns a non-2xx status into its error.
func classifyStatus(status int, h http.Header, body string, now time.Time) *DeliveryError {
	de := &DeliveryError{Status: status, Body: body}
	switch {
	case status == http.StatusRequestTimeout, status == http.StatusTooManyRequests:
	case status >= 400 && status < 500:
		de.Permanent = true
	}
	if !de.Permanent {
		de.retryAfter, de.hasRetryAfter = httpx.ParseRetryAfter(h.Get("Retry-After"), now)
	}
	return de
}
