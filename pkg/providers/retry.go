package providers

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"time"

	"github.com/hopperq/hopper/pkg/clock"
	"github.com/hopperq/hopper/pkg/httpx"
	"github.com/hopperq/hopper/pkg/jobs"
)

// retryPolicy is the retry behaviour of one client. The OpenAI-compatible
// clients hand it to openai-go; the net/http ones run it with do.
type retryPolicy struct {
	maxAttempts int           // ≥ 1
	maxDelay    time.Duration // 0 = defaults (see retryBaseDelay)
}

// backoff is the wait after failed attempt n (1-based): full jitter over
// [0, min(cap, 500 ms·2^(n-1))), the same curve as jobs.Backoff.
func (p retryPolicy) backoff(n int) time.Duration {
	capDelay := defaultMaxBackoff
	if p.maxDelay > 0 {
		capDelay = p.maxDelay
	}
	k := jobs.Kind{BackoffBase: min(retryBaseDelay, capDelay), BackoffCap: capDelay}
	return jobs.Backoff(k, n, rand.Float64())
}

// wait is the delay before the attempt after failed attempt n, and whether
// to make it at all: a Retry-After longer than the policy allows ends the
// call, as openai-go does.
func (p retryPolicy) wait(n int, err error) (time.Duration, bool) {
	var se *StatusError
	if errors.As(err, &se) && se.hasRetryAfter {
		limit := defaultMaxRetryAfter
		if p.maxDelay > 0 {
			limit = p.maxDelay
		}
		return se.retryAfter, se.retryAfter <= limit
	}
	return p.backoff(n), true
}

// do runs attempt until it succeeds, fails for good, or the attempts run
// out. Each attempt gets its own context bounded by timeout. Retried: a
// *StatusError with a retryable status and transport errors; not retried:
// other statuses, an attempt that timed out (as openai-go), and anything
// once ctx is done. The last attempt's error is returned.
func (p retryPolicy) do(ctx context.Context, timeout time.Duration, attempt func(context.Context) error) error {
	for n := 1; ; n++ {
		actx, cancel := context.WithTimeout(ctx, timeout)
		err := attempt(actx)
		timedOut := actx.Err() != nil
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil || timedOut || n >= p.maxAttempts || !retryableError(err) {
			return err
		}
		d, ok := p.wait(n, err)
		if !ok {
			return err
		}
		if deadline, has := ctx.Deadline(); has && time.Now().Add(d).After(deadline) {
			return err // the wait alone would outlive the caller
		}
		if clock.Sleep(ctx, d) != nil {
			return err
		}
	}
}

// retryableError: a retryable status, or a transport error (no answer at
// all). A malformed answer is not retried, as in openai-go.
func retryableError(err error) bool {
	var se *StatusError
	if errors.As(err, &se) {
		return retryableStatus(se.StatusCode)
	}
	var ue *url.Error
	return errors.As(err, &ue)
}

// maxErrorBody bounds how much of an error answer is read.
const maxErrorBody = 4 << 10

// statusError reads the start of a non-2xx answer into a *StatusError,
// with the server's Retry-After when the status is retryable.
func statusError(provider string, res *http.Response, now time.Time) *StatusError {
	body, _ := io.ReadAll(io.LimitReader(res.Body, maxErrorBody))
	se := &StatusError{
		Provider:   provider,
		StatusCode: res.StatusCode,
		Body:       truncate(string(body), maxDetail),
	}
	if retryableStatus(res.StatusCode) {
		se.retryAfter, se.hasRetryAfter = httpx.ParseRetryAfter(res.Header.Get("Retry-After"), now)
	}
	return se
}
