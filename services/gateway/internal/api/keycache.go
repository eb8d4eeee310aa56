package api

import (
	"crypto/sha256"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/hopperq/hopper/pkg/store/accounts"
)

// keyCache remembers resolved API keys briefly, so a busy client does not
// cost a database lookup per request. A revoked key or deactivated user
// is dropped at once when Postgres announces it (accounts.AuthListener);
// keyCacheTTL bounds staleness only while that announcement is missed.
type keyCache struct {
	mu      sync.Mutex
	entries map[[32]byte]cachedPrincipal
	ttl     time.Duration
	max     int
}

type cachedPrincipal struct {
	p       principal
	expires time.Time
}

// keyCacheTTL bounds how stale a cached key may be.
const keyCacheTTL = 5 * time.Second

func newKeyCache(ttl time.Duration, max int) *keyCache {
	return &keyCache{entries: map[[32]byte]cachedPrincipal{}, ttl: ttl, max: max}
}

func (k *keyCache) get(token string, now time.Time) (principal, bool) {
	h := sha256.Sum256([]byte(token))
	k.mu.Lock()
	defer k.mu.Unlock()
	e, ok := k.entries[h]
	if !ok || now.After(e.expires) {
		return principal{}, false
	}
	return e.p, true
}

func (k *keyCache) put(token string, p principal, now time.Time) {
	h := sha256.Sum256([]byte(token))
	k.mu.Lock()
	defer k.mu.Unlock()
	if len(k.entries) >= k.max {
		// Simple and bounded: start over rather than track recency.
		k.entries = map[[32]byte]cachedPrincipal{}
	}
	k.entries[h] = cachedPrincipal{p: p, expires: now.Add(k.ttl)}
}

// drop forgets the cached keys of the key, user or worker token that
// changed; a reset forgets every key.
func (k *keyCache) drop(ch accounts.AuthChange) {
	if ch.Reset() {
		k.forget()
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	for h, e := range k.entries {
		if (ch.KeyID != uuid.Nil && e.p.KeyID == ch.KeyID) || (ch.UserID != uuid.Nil && e.p.User != nil && e.p.User.ID == ch.UserID) ||
			(ch.WorkerTokenID != uuid.Nil && e.p.Worker != nil && e.p.Worker.ID == ch.WorkerTokenID) {
			delete(k.entries, h)
		}
	}
}

// forget drops every cached key, e.g. after this gateway revoked one.
func (k *keyCache) forget() {
	k.mu.Lock()
	k.entries = map[[32]byte]cachedPrincipal{}
	k.mu.Unlock()
}
