package api

import (
	"crypto/sha256"
	"sync"
	"time"
)

// authFailureWindow is the window failed authentications are counted in.
const authFailureWindow = time.Minute

// authLimiter makes guessing keys cheap to refuse: it counts failed
// authentications per client address in a fixed one-minute window, and
// remembers credentials that just failed (a negative cache). A client
// over its budget has its unknown credentials refused with 429 before
// any database lookup, so spraying random keys costs the database
// nothing; a known-bad credential is refused from memory. Keys this
// gateway already resolved (the key cache) still pass: a shared address
// (NAT) where one client guesses does not lock out the others' working
// keys.
type authLimiter struct {
	mu       sync.Mutex
	perIP    map[string]*failureWindow
	bad      map[[32]byte]time.Time
	limit    int
	maxTrack int
}

type failureWindow struct {
	start time.Time
	n     int
}

// badCredentialTTL is how long a failed credential is refused from memory.
// Short: a key created a moment after a typo'd attempt must work soon.
const badCredentialTTL = 10 * time.Second

func newAuthLimiter(perMinute int) *authLimiter {
	if perMinute <= 0 {
		perMinute = 30
	}
	return &authLimiter{perIP: map[string]*failureWindow{}, bad: map[[32]byte]time.Time{}, limit: perMinute, maxTrack: 100000}
}

// blocked reports whether ip used up its failures, and when it may try
// again.
func (l *authLimiter) blocked(ip string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	w := l.perIP[ip]
	if w == nil || now.Sub(w.start) >= authFailureWindow {
		return false, 0
	}
	if w.n < l.limit {
		return false, 0
	}
	return true, authFailureWindow - now.Sub(w.start)
}

// knownBad reports whether credential failed moments ago.
func (l *authLimiter) knownBad(credential string, now time.Time) bool {
	h := sha256.Sum256([]byte(credential))
	l.mu.Lock()
	defer l.mu.Unlock()
	exp, ok := l.bad[h]
	return ok && now.Before(exp)
}

// fail records a failed authentication of credential from ip.
func (l *authLimiter) fail(ip, credential string, now time.Time) {
	h := sha256.Sum256([]byte(credential))
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.perIP) >= l.maxTrack {
		l.sweep(now)
	}
	w := l.perIP[ip]
	if w == nil || now.Sub(w.start) >= authFailureWindow {
		w = &failureWindow{start: now}
		l.perIP[ip] = w
	}
	w.n++
	if credential != "" {
		if len(l.bad) >= l.maxTrack {
			clear(l.bad) // bounded; forgetting only costs lookups
		}
		l.bad[h] = now.Add(badCredentialTTL)
	}
}

// sweep drops windows that ended; if every tracked address is still in
// its window, it starts over (bounded memory beats exact counts).
func (l *authLimiter) sweep(now time.Time) {
	for ip, w := range l.perIP {
		if now.Sub(w.start) >= authFailureWindow {
			delete(l.perIP, ip)
		}
	}
	if len(l.perIP) >= l.maxTrack {
		clear(l.perIP)
	}
}

// forgetBad forgets the credentials that failed: a user activated again
// makes their keys good, and which ones they are is not known here.
func (l *authLimiter) forgetBad() {
	l.mu.Lock()
	clear(l.bad)
	l.mu.Unlock()
}
