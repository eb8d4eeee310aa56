package config

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"go.uber.org/zap"
)

// Access bounds what one credential or client may hold open or try on the
// gateway: event streams, dashboard sessions, failed sign-ins (issue 18).
type Access struct {
	// StreamsPerKey caps the open event streams of one API key (or of
	// the dashboard sessions signed in with it); over it a stream is 429
	// (HOPPER_SSE_MAX_STREAMS_PER_KEY).
	StreamsPerKey int
	// Streams caps the open event streams of this gateway; over it a
	// stream is 503 (HOPPER_SSE_MAX_STREAMS).
	Streams int
	// StreamRecheck is how often an open stream checks that its key or
	// session still holds (HOPPER_SSE_RECHECK). A revocation announced by
	// Postgres ends streams at once; this bounds it when the announcement
	// was missed.
	StreamRecheck time.Duration
	// SessionIdle ends a dashboard session unused for this long
	// (HOPPER_SESSION_IDLE); SessionMaxAge ends it this long after
	// sign-in whatever its use (HOPPER_SESSION_MAX_AGE).
	SessionIdle   time.Duration
	SessionMaxAge time.Duration
	// AuthFailuresPerMinute is how many failed authentications one client
	// address may make per minute before its unknown credentials are
	// refused with 429 without a database lookup
	// (HOPPER_AUTH_FAILURES_PER_MINUTE).
	AuthFailuresPerMinute int
	// TrustedProxies are the addresses (CIDRs or IPs) whose
	// X-Forwarded-For names the client (HOPPER_TRUSTED_PROXIES); empty,
	// the client is the connection's peer, so no client can pick the
	// address its failures count against.
	TrustedProxies []string
}

// placeholderMarkers mark values shipped in examples (compose, k8s,
// README): outside dev a service refuses them rather than run with a
// secret everyone knows.
var placeholderMarkers = []string{"change-me", "changeme", "change_me", "placeholder", "replace-me", "example-token"}

// IsPlaceholder reports whether v looks like an example secret left in
// place.
func IsPlaceholder(v string) bool {
	l := strings.ToLower(v)
	for _, m := range placeholderMarkers {
		if strings.Contains(l, m) {
			return true
		}
	}
	return false
}

// DefaultAccess is Access with every variable unset.
func DefaultAccess() Access {
	return Access{StreamsPerKey: 20, Streams: 2000, StreamRecheck: 30 * time.Second,
		SessionIdle: 30 * time.Minute, SessionMaxAge: 12 * time.Hour, AuthFailuresPerMinute: 30}
}

func (r *reader) access() Access {
	d := DefaultAccess()
	a := Access{
		StreamsPerKey:         r.positiveInt("HOPPER_SSE_MAX_STREAMS_PER_KEY", d.StreamsPerKey, 100000),
		Streams:               r.positiveInt("HOPPER_SSE_MAX_STREAMS", d.Streams, 1000000),
		StreamRecheck:         r.duration("HOPPER_SSE_RECHECK", d.StreamRecheck),
		SessionIdle:           r.duration("HOPPER_SESSION_IDLE", d.SessionIdle),
		SessionMaxAge:         r.duration("HOPPER_SESSION_MAX_AGE", d.SessionMaxAge),
		AuthFailuresPerMinute: r.positiveInt("HOPPER_AUTH_FAILURES_PER_MINUTE", d.AuthFailuresPerMinute, 1000000),
	}
	for _, p := range strings.Split(r.getenv("HOPPER_TRUSTED_PROXIES"), ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if _, err := netip.ParsePrefix(p); err != nil {
			if _, err := netip.ParseAddr(p); err != nil {
				r.fail("HOPPER_TRUSTED_PROXIES", "%q is not an IP address or CIDR", p)
				continue
			}
		}
		a.TrustedProxies = append(a.TrustedProxies, p)
	}
	if a.StreamRecheck < 100*time.Millisecond {
		r.fail("HOPPER_SSE_RECHECK", "%s is too short (at least 100ms)", a.StreamRecheck)
	}
	if a.SessionIdle < time.Second {
		r.fail("HOPPER_SESSION_IDLE", "%s is too short (at least 1s)", a.SessionIdle)
	}
	if a.SessionMaxAge < a.SessionIdle {
		r.fail("HOPPER_SESSION_MAX_AGE", "%s is shorter than HOPPER_SESSION_IDLE (%s)", a.SessionMaxAge, a.SessionIdle)
	}
	return a
}

// checkSecrets refuses, outside dev, an admin token that is an example's
// placeholder.
func checkSecrets(c Config) error {
	if c.Env != "dev" && IsPlaceholder(c.AdminToken) {
		return fmt.Errorf("HOPPER_ADMIN_TOKEN: the example placeholder is not a secret; set a random value (e.g. openssl rand -hex 24) — refused when HOPPER_ENV=%s", c.Env)
	}
	return nil
}

func (a Access) logFields() []zap.Field {
	return []zap.Field{
		zap.Int("sse_max_streams_per_key", a.StreamsPerKey),
		zap.Int("sse_max_streams", a.Streams),
		zap.Duration("sse_recheck", a.StreamRecheck),
		zap.Duration("session_idle", a.SessionIdle),
		zap.Duration("session_max_age", a.SessionMaxAge),
		zap.Int("auth_failures_per_minute", a.AuthFailuresPerMinute),
		zap.Strings("trusted_proxies", a.TrustedProxies),
	}
}
