package accounts

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/hopperq/hopper/pkg/store/pg"
)

// sessionIDBytes is the entropy of a dashboard session id: 256 bits, so an
// unsalted SHA-256 looked up by equality is safe, as for API keys.
const sessionIDBytes = 32

// Session is a dashboard sign-in. Only the SHA-256 of its id is stored.
type Session struct {
	UserID     uuid.UUID
	KeyID      uuid.UUID
	CreatedAt  time.Time
	LastSeenAt time.Time
	ExpiresAt  time.Time
}

// CreateSession opens a dashboard session for the user of keyID, valid
// until now+ttl at most, and returns its id: the cookie's value, shown
// only here. It also deletes the user's expired sessions, so the table
// holds live sessions and recent leftovers only.
func (s *Store) CreateSession(ctx context.Context, userID, keyID uuid.UUID, ttl time.Duration) (string, error) {
	buf := make([]byte, sessionIDBytes)
	if _, err := rand.Read(buf); err != nil {
		return "", fmt.Errorf("create session: read random bytes: %w", err)
	}
	id := base64.RawURLEncoding.EncodeToString(buf)
	err := s.db.WithContext(ctx).Exec(`
WITH gone AS (DELETE FROM ui_sessions WHERE user_id = @user AND expires_at < now())
INSERT INTO ui_sessions (id_hash, user_id, key_id, expires_at)
VALUES (decode(@hash, 'hex'), @user, @key, now() + make_interval(secs => @ttl))`,
		// Hex, not bytes: gorm expands a []byte inside parentheses into
		// one parameter per byte.
		map[string]any{"user": userID, "hash": hex.EncodeToString(hashKey(id)), "key": keyID, "ttl": ttl.Seconds()}).Error
	if pg.Code(err) == pg.ForeignKeyViolation {
		return "", fmt.Errorf("create session for user %s: %w", userID, pg.ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("create session for user %s: %w", userID, err)
	}
	return id, nil
}

// sessionQuery finds a live session — not past its absolute expiry, seen
// within the idle timeout, its key not revoked, its user active — and
// stamps last_seen_at in the same round trip, at most every touchEvery so
// that a page polling every second does not write every second.
const sessionQuery = `
WITH s AS (
	SELECT s.user_id, s.key_id, s.created_at, s.last_seen_at, s.expires_at,
	       u.email, u.role, u.plan, u.active, u.created_at AS user_created_at
	FROM ui_sessions s
	JOIN api_keys k ON k.id = s.key_id
	JOIN users u ON u.id = s.user_id
	WHERE s.id_hash = @hash AND s.expires_at > now()
	  AND s.last_seen_at > now() - make_interval(secs => @idle)
	  AND k.revoked_at IS NULL AND u.active
), touch AS (
	UPDATE ui_sessions SET last_seen_at = now()
	WHERE id_hash = @hash AND EXISTS (SELECT 1 FROM s)
	  AND last_seen_at < now() - make_interval(secs => @touch)
)
SELECT * FROM s`

type sessionRow struct {
	UserID        uuid.UUID
	KeyID         uuid.UUID
	CreatedAt     time.Time
	LastSeenAt    time.Time
	ExpiresAt     time.Time
	Email         string
	Role          string
	Plan          string
	Active        bool
	UserCreatedAt time.Time
}

// SessionUser resolves a session id to its user and session. A session
// unknown, expired (absolute or idle), signed out, whose key was revoked
// or whose user is inactive is pg.ErrNotFound.
func (s *Store) SessionUser(ctx context.Context, id string, idle time.Duration) (User, Session, error) {
	if id == "" {
		return User{}, Session{}, fmt.Errorf("session: %w", pg.ErrNotFound)
	}
	// Stamp at most once a minute, or a tenth of the idle timeout when
	// that is shorter, so the stamp's lag never expires a busy session.
	touch := min(time.Minute, idle/10)
	var row sessionRow
	res := s.db.WithContext(ctx).Raw(sessionQuery, map[string]any{
		"hash": hashKey(id), "idle": idle.Seconds(), "touch": touch.Seconds(),
	}).Scan(&row)
	if res.Error != nil {
		return User{}, Session{}, fmt.Errorf("session: %w", res.Error)
	}
	if res.RowsAffected == 0 {
		return User{}, Session{}, fmt.Errorf("session: %w", pg.ErrNotFound)
	}
	u := User{ID: row.UserID, Email: row.Email, Role: row.Role, Plan: row.Plan, Active: row.Active, CreatedAt: row.UserCreatedAt}
	return u, Session{UserID: row.UserID, KeyID: row.KeyID, CreatedAt: row.CreatedAt,
		LastSeenAt: row.LastSeenAt, ExpiresAt: row.ExpiresAt}, nil
}

// DeleteSession ends a session (sign-out). An unknown id is not an error:
// signing out twice is harmless.
func (s *Store) DeleteSession(ctx context.Context, id string) error {
	if err := s.db.WithContext(ctx).Exec(`DELETE FROM ui_sessions WHERE id_hash = ?`, hashKey(id)).Error; err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}
