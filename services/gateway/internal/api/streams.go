package api

import (
	"errors"
	"sync"

	"github.com/google/uuid"

	"github.com/hopperq/hopper/pkg/store/accounts"
)

// Why a stream was refused.
var (
	errStreamsPerKey = errors.New("too many open event streams for this API key")
	errStreamsTotal  = errors.New("too many open event streams on this gateway")
)

// streamRegistry counts the open event streams per credential and in
// total, refusing new ones over the caps, and tells the streams of a key
// or user that changed to check their credential at once.
type streamRegistry struct {
	mu       sync.Mutex
	perKey   map[string]int
	open     map[*openStream]struct{}
	maxKey   int
	maxTotal int
}

// openStream is one open event stream; check receives a value when its
// credential may have stopped holding.
type openStream struct {
	cred   string // the cap's bucket: key id, or "admin-token"
	keyID  uuid.UUID
	userID uuid.UUID
	check  chan struct{}
}

func newStreamRegistry(maxPerKey, maxTotal int) *streamRegistry {
	if maxPerKey <= 0 {
		maxPerKey = 20
	}
	if maxTotal <= 0 {
		maxTotal = 2000
	}
	return &streamRegistry{perKey: map[string]int{}, open: map[*openStream]struct{}{}, maxKey: maxPerKey, maxTotal: maxTotal}
}

// acquire opens a stream for p, or says which cap refuses it.
func (r *streamRegistry) acquire(p principal) (*openStream, error) {
	st := &openStream{cred: p.streamBucket(), keyID: p.KeyID, check: make(chan struct{}, 1)}
	if p.User != nil {
		st.userID = p.User.ID
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.open) >= r.maxTotal {
		return nil, errStreamsTotal
	}
	if r.perKey[st.cred] >= r.maxKey {
		return nil, errStreamsPerKey
	}
	r.perKey[st.cred]++
	r.open[st] = struct{}{}
	return st, nil
}

func (r *streamRegistry) release(st *openStream) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.open[st]; !ok {
		return
	}
	delete(r.open, st)
	if r.perKey[st.cred]--; r.perKey[st.cred] <= 0 {
		delete(r.perKey, st.cred)
	}
}

// changed asks the streams of the key or user that changed to check
// their credential now: a revoked key or a deactivated user ends them, a
// plan change does not. A reset asks none: the periodic re-check bounds
// what a lost connection may have missed, without a query per stream at
// every reconnect.
func (r *streamRegistry) changed(ch accounts.AuthChange) {
	if ch.Reset() {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for st := range r.open {
		if (ch.KeyID != uuid.Nil && st.keyID == ch.KeyID) || (ch.UserID != uuid.Nil && st.userID == ch.UserID) {
			select {
			case st.check <- struct{}{}:
			default:
			}
		}
	}
}
