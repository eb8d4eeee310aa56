// Package ratelimit paces the calls the workers make to external AI
// providers (issue 8): requests per minute and tokens per minute per
// provider, shared by every worker replica through Postgres, so a burst of
// jobs queues inside Hopper instead of drawing 429s from the provider.
//
// Each provider bucket (keyed "<provider>@<host>", see Key) is a GCRA
// (generic cell rate algorithm) state kept in the provider_limits table;
// pkg/store applies it atomically with the database's clock. This package
// holds the arithmetic (Limit → interval and tolerance), the waiting, and
// an http.RoundTripper that waits before every request attempt to the
// provider's host, retries included, so the provider clients and the job
// handlers need no changes.
//
// Requests: a reservation takes the bucket's next slot and the caller
// sleeps until it (no polling). With a backlog, requests start one interval
// apart; the interval is the minute divided by the limit and stretched by
// Guard, so that the provider, which counts at its own clock after network
// jitter, never sees more than the limit in any minute.
//
// Tokens are known only after a call (the usage the provider reports), so
// they are charged afterwards (Charge) and a call waits before it starts
// while the bucket's token budget is exhausted: while more than a minute's
// worth of tokens is outstanding. Calls already in flight may overshoot by
// their own usage; that is inherent to post-paid tokens.
package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/hopperq/hopper/pkg/clock"
	"github.com/hopperq/hopper/pkg/providers"
)

// Period is the window the limits are expressed in.
const Period = time.Minute

// Guard stretches the request interval: requests go at most
// limit/(1+Guard) per minute on average, so that network jitter between
// the reservation and the provider's clock cannot put limit+1 requests into
// one of the provider's sliding minutes (1% of a minute is 600 ms of slack).
const Guard = 0.01

// DefaultMaxWait bounds one wait when the caller's context has no
// deadline. With a deadline a wait may use at most half the time left, so
// the call itself keeps the other half.
const DefaultMaxWait = 10 * time.Minute

// Limit is one provider's limits; zero fields are unlimited.
type Limit struct {
	RequestsPerMinute int
	TokensPerMinute   int
	// Burst is how many requests may go at once after an idle spell
	// (0 or 1: none, requests are evenly paced). A burst b lets b-1
	// requests more than the limit into the first minute after idling.
	Burst int
}

// Unlimited reports whether l limits nothing.
func (l Limit) Unlimited() bool { return l.RequestsPerMinute <= 0 && l.TokensPerMinute <= 0 }

// RequestInterval is the GCRA emission interval of one request: the
// period over the limit, stretched by Guard (0 when unlimited).
func (l Limit) RequestInterval() time.Duration {
	if l.RequestsPerMinute <= 0 {
		return 0
	}
	return time.Duration(float64(Period) * (1 + Guard) / float64(l.RequestsPerMinute))
}

// RequestTolerance is the GCRA tolerance: (burst-1) intervals.
func (l Limit) RequestTolerance() time.Duration {
	if l.Burst <= 1 {
		return 0
	}
	return time.Duration(l.Burst-1) * l.RequestInterval()
}

// TokenCost is the GCRA cost of n tokens: n times the period over the
// token limit (0 when unlimited).
func (l Limit) TokenCost(n int64) time.Duration {
	if l.TokensPerMinute <= 0 || n <= 0 {
		return 0
	}
	return time.Duration(float64(Period) * float64(n) / float64(l.TokensPerMinute))
}

// TokenTolerance is the token budget as time: a whole period, so up to a
// minute's worth of tokens may be outstanding before calls wait.
func (l Limit) TokenTolerance() time.Duration { return Period }

// Store holds the shared bucket states (*store.Store implements it).
type Store interface {
	ReserveProviderRequest(ctx context.Context, key string, interval, tolerance, maxWait time.Duration) (time.Duration, bool, error)
	ProviderTokenWait(ctx context.Context, key string, tolerance time.Duration) (time.Duration, error)
	ChargeProviderTokens(ctx context.Context, key string, cost time.Duration) error
}

// ErrWaitTooLong is returned (wrapped in a *WaitError) when the next slot
// is further away than the caller can wait.
var ErrWaitTooLong = errors.New("provider rate limit: next slot too far away")

// WaitError says which bucket refused and how far its next slot was.
type WaitError struct {
	Key  string
	Wait time.Duration // until the next slot, as things stood
	Max  time.Duration // the longest wait allowed
}

func (e *WaitError) Error() string {
	return fmt.Sprintf("provider rate limit %s: next slot in %s, longer than the %s this call may wait",
		e.Key, e.Wait.Round(time.Millisecond), e.Max.Round(time.Millisecond))
}

func (e *WaitError) Unwrap() error { return ErrWaitTooLong }

// Limiter waits for and charges provider buckets. Build it with New,
// register buckets with Set or Provider, and Bind the store before the
// first Wait.
type Limiter struct {
	log   *zap.Logger
	store atomic.Pointer[storeRef]

	mu     sync.RWMutex
	limits map[string]Limit

	// MaxWait bounds one wait without a context deadline (DefaultMaxWait
	// when zero).
	MaxWait time.Duration
}

type storeRef struct{ Store }

// New returns a Limiter with no buckets; log may be nil.
func New(log *zap.Logger) *Limiter {
	if log == nil {
		log = zap.NewNop()
	}
	return &Limiter{log: log, limits: map[string]Limit{}}
}

// Bind sets the store the buckets live in (a worker's store exists only
// once the service runs, after the clients are built).
func (l *Limiter) Bind(st Store) { l.store.Store(&storeRef{st}) }

// Set registers (or replaces) the limit of bucket key.
func (l *Limiter) Set(key string, lim Limit) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.limits[key] = lim
}

func (l *Limiter) limit(key string) Limit {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.limits[key]
}

// Key names the bucket of a provider at rawURL: "<provider>@<host[:port]>".
// Everyone pointing at the same host shares the bucket; another host is
// another bucket. A URL without a host keys on the provider alone.
func Key(provider, rawURL string) string {
	u, err := url.Parse(strings.TrimSpace(rawURL))
	if err != nil || u.Host == "" {
		return provider
	}
	return provider + "@" + strings.ToLower(u.Host)
}

// Wait blocks until cost requests (usually 1) to bucket key may go: first
// while the bucket's token budget is exhausted, then until its reserved
// request slot. It returns ctx's error when ctx ends first, and a
// *WaitError (ErrWaitTooLong) without waiting when the slot is further
// away than the wait bound (DefaultMaxWait, or half of ctx's time left).
// A bucket without a limit returns at once.
func (l *Limiter) Wait(ctx context.Context, key string, cost int) error {
	lim := l.limit(key)
	if lim.Unlimited() || cost <= 0 {
		return nil
	}
	ref := l.store.Load()
	if ref == nil {
		return fmt.Errorf("provider rate limit %s: no store bound", key)
	}
	st := ref.Store
	maxWait := l.maxWait(ctx)
	if lim.TokensPerMinute > 0 {
		for {
			w, err := st.ProviderTokenWait(ctx, key, lim.TokenTolerance())
			if err != nil {
				return err
			}
			if w <= 0 {
				break
			}
			if w > maxWait {
				return &WaitError{Key: key, Wait: w, Max: maxWait}
			}
			// Others may charge meanwhile: look again after the wait.
			if err := clock.Sleep(ctx, w); err != nil {
				return err
			}
			maxWait = l.maxWait(ctx)
		}
	}
	if lim.RequestsPerMinute > 0 {
		w, ok, err := st.ReserveProviderRequest(ctx, key, time.Duration(cost)*lim.RequestInterval(), lim.RequestTolerance(), maxWait)
		if err != nil {
			return err
		}
		if !ok {
			return &WaitError{Key: key, Wait: w, Max: maxWait}
		}
		if err := clock.Sleep(ctx, w); err != nil {
			return err
		}
	}
	return nil
}

// Charge charges tokens used by a finished call to bucket key (nothing
// when the bucket has no token limit).
func (l *Limiter) Charge(ctx context.Context, key string, tokens int64) error {
	cost := l.limit(key).TokenCost(tokens)
	if cost <= 0 {
		return nil
	}
	ref := l.store.Load()
	if ref == nil {
		return fmt.Errorf("provider rate limit %s: no store bound", key)
	}
	return ref.Store.ChargeProviderTokens(ctx, key, cost)
}

func (l *Limiter) maxWait(ctx context.Context) time.Duration {
	m := l.MaxWait
	if m <= 0 {
		m = DefaultMaxWait
	}
	if d, ok := ctx.Deadline(); ok {
		m = min(m, time.Until(d)/2)
	}
	return max(m, 0)
}

// Provider is one provider's bucket as its client uses it.
type Provider struct {
	l    *Limiter
	key  string
	host string
	lim  Limit
}

// Provider registers the bucket of provider name at rawURL with lim and
// returns its handle.
func (l *Limiter) Provider(name, rawURL string, lim Limit) *Provider {
	key := Key(name, rawURL)
	l.Set(key, lim)
	host := ""
	if u, err := url.Parse(strings.TrimSpace(rawURL)); err == nil {
		host = strings.ToLower(u.Host)
	}
	return &Provider{l: l, key: key, host: host, lim: lim}
}

// Key is the bucket's key.
func (p *Provider) Key() string { return p.key }

// HTTPClient is an http.Client whose requests to the provider's host wait
// for the bucket first (each attempt: retries count too); requests to
// other hosts (an image download from a CDN) go at once. It is nil when
// nothing is limited, so the client keeps its own default.
func (p *Provider) HTTPClient() *http.Client {
	if p == nil || p.lim.RequestsPerMinute <= 0 && p.lim.TokensPerMinute <= 0 {
		return nil
	}
	return &http.Client{Transport: &Transport{Limiter: p.l, Key: p.key, Host: p.host}}
}

// ChargeUsage charges the tokens of a finished call (a providers OnUsage
// hook). A failed charge is logged: the answer is already there.
func (p *Provider) ChargeUsage(ctx context.Context, u providers.Usage) {
	if p == nil {
		return
	}
	if err := p.l.Charge(context.WithoutCancel(ctx), p.key, u.PromptTokens+u.CompletionTokens); err != nil {
		p.l.log.Warn("provider token charge failed", zap.String("bucket", p.key), zap.Error(err))
	}
}

// Transport waits for bucket Key before every request to Host (all hosts
// when Host is empty), then sends it with Base (http.DefaultTransport when
// nil). The wait is bounded by the request's context.
type Transport struct {
	Limiter *Limiter
	Key     string
	Host    string
	Base    http.RoundTripper
}

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.Host == "" || strings.EqualFold(req.URL.Host, t.Host) {
		if err := t.Limiter.Wait(req.Context(), t.Key, 1); err != nil {
			if req.Body != nil {
				_ = req.Body.Close()
			}
			return nil, err
		}
	}
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	return base.RoundTrip(req)
}
