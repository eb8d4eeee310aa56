package accounts

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/hopperq/hopper/pkg/store/pg"
)

// AuthChannel is the channel migration 00020's triggers notify when a key
// is revoked or deleted, or a user deactivated, deleted or changed.
const AuthChannel = "hopper_auth"

// AuthChange names what changed: a key (KeyID and its UserID), a user
// (UserID, KeyID zero) or a worker token (WorkerTokenID, migration
// 00027). Reset (all zero) means notifications may have been missed:
// forget everything.
type AuthChange struct {
	KeyID         uuid.UUID `json:"key_id"`
	UserID        uuid.UUID `json:"user_id"`
	WorkerTokenID uuid.UUID `json:"worker_token_id"`
	Schema        string    `json:"schema"`
}

// Reset reports whether the change is "forget everything".
func (c AuthChange) Reset() bool {
	return c.KeyID == uuid.Nil && c.UserID == uuid.Nil && c.WorkerTokenID == uuid.Nil
}

// AuthListener LISTENs on AuthChannel on one dedicated connection and
// hands each change of this store's schema to its handlers, so every
// gateway drops a revoked key at once rather than when its cache expires.
// After each (re)connect it hands a Reset: what happened while no
// connection listened is unknown. Run one per process.
type AuthListener struct {
	dsn string
	log *zap.Logger

	mu       sync.Mutex
	handlers []func(AuthChange)

	listening atomic.Bool
}

// NewAuthListener returns a listener for the database at dsn (the Store's
// DSN; its search_path selects the schema). It connects in Run.
func NewAuthListener(dsn string, log *zap.Logger) *AuthListener {
	if log == nil {
		log = zap.NewNop()
	}
	return &AuthListener{dsn: dsn, log: log.Named("auth-listener")}
}

// OnChange registers fn, called from Run's goroutine for every change; fn
// must not block.
func (l *AuthListener) OnChange(fn func(AuthChange)) {
	l.mu.Lock()
	l.handlers = append(l.handlers, fn)
	l.mu.Unlock()
}

// Listening reports whether a connection listens now.
func (l *AuthListener) Listening() bool { return l.listening.Load() }

// Run listens until ctx ends, reconnecting with capped backoff. A
// database outage does not stop it: the caches' own expiry still bounds
// staleness meanwhile.
func (l *AuthListener) Run(ctx context.Context) error {
	pg.RunReconnecting(ctx, l.log, "auth change listener", l.listen, func() { l.listening.Store(false) })
	return nil
}

func (l *AuthListener) listen(ctx context.Context) (connected bool, err error) {
	conn, closeConn, err := pg.Dial(ctx, l.dsn)
	if err != nil {
		return false, err
	}
	defer closeConn()
	var schema string
	if err := conn.QueryRow(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		return false, fmt.Errorf("read schema: %w", err)
	}
	if _, err := conn.Exec(ctx, "LISTEN "+AuthChannel); err != nil {
		return false, fmt.Errorf("listen: %w", err)
	}
	l.listening.Store(true)
	l.log.Info("listening for key and user changes", zap.String("schema", schema))
	l.emit(AuthChange{})
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return true, nil
			}
			return true, fmt.Errorf("wait: %w", err)
		}
		var ch AuthChange
		if err := json.Unmarshal([]byte(n.Payload), &ch); err != nil {
			l.log.Warn("auth change: bad payload; forgetting every cached credential", zap.Error(err))
			l.emit(AuthChange{})
			continue
		}
		if ch.Schema != schema || ch.Reset() {
			continue // another schema's (a test's, an environment's) change
		}
		l.log.Debug("auth change", zap.Stringer("key_id", ch.KeyID), zap.Stringer("user_id", ch.UserID))
		l.emit(ch)
	}
}

func (l *AuthListener) emit(ch AuthChange) {
	l.mu.Lock()
	hs := slices.Clone(l.handlers)
	l.mu.Unlock()
	for _, fn := range hs {
		fn(ch)
	}
}
