package accounts

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/hopperq/hopper/pkg/store/pg"
)

// API key format: keyScheme + 8 hex chars (the stored, visible prefix) +
// "_" + 32 random bytes in base64url. The secret part alone has 256 bits of
// entropy, so an unsalted SHA-256 looked up by equality is safe.
const (
	keyScheme      = "hop_"
	keyPrefixBytes = 4
	keySecretBytes = 32
)

// CreateUser adds a user. An empty plan means DefaultPlan. A taken email
// is pg.ErrConflict.
func (s *Store) CreateUser(ctx context.Context, email, role, plan string) (User, error) {
	email = strings.TrimSpace(email)
	if email == "" {
		return User{}, errors.New("create user: email is empty")
	}
	if role != RoleUser && role != RoleAdmin {
		return User{}, fmt.Errorf("create user: role %q is not %q or %q", role, RoleUser, RoleAdmin)
	}
	if plan == "" {
		plan = DefaultPlan
	}
	id, err := uuid.NewV7()
	if err != nil {
		return User{}, fmt.Errorf("create user: new id: %w", err)
	}
	var u User
	err = s.db.WithContext(ctx).Raw(
		`INSERT INTO users (id, email, role, plan) VALUES (?, ?, ?, ?) RETURNING *`,
		id, email, role, plan,
	).Scan(&u).Error
	if pg.Code(err) == pg.UniqueViolation {
		return User{}, fmt.Errorf("create user %s: email taken: %w", email, pg.ErrConflict)
	}
	if pg.Code(err) == pg.ForeignKeyViolation {
		return User{}, fmt.Errorf("create user %s: plan %q: %w", email, plan, ErrUnknownPlan)
	}
	if err != nil {
		return User{}, fmt.Errorf("create user %s: %w", email, err)
	}
	return u, nil
}

// GetUser returns the user with id.
func (s *Store) GetUser(ctx context.Context, id uuid.UUID) (User, error) {
	var u User
	res := s.db.WithContext(ctx).Where("id = ?", id).Limit(1).Find(&u)
	if res.Error != nil {
		return User{}, fmt.Errorf("get user %s: %w", id, res.Error)
	}
	if res.RowsAffected == 0 {
		return User{}, fmt.Errorf("get user %s: %w", id, pg.ErrNotFound)
	}
	return u, nil
}

// SetUserActive enables or disables a user; a disabled user's keys stop
// authenticating at once.
func (s *Store) SetUserActive(ctx context.Context, id uuid.UUID, active bool) error {
	res := s.db.WithContext(ctx).Exec(`UPDATE users SET active = ? WHERE id = ?`, active, id)
	if res.Error != nil {
		return fmt.Errorf("set user %s active=%t: %w", id, active, res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("set user %s active=%t: %w", id, active, pg.ErrNotFound)
	}
	return nil
}

// CreateAPIKey issues a key for userID and returns it with its plaintext,
// which is never stored and cannot be shown again. An unknown user is
// pg.ErrNotFound.
func (s *Store) CreateAPIKey(ctx context.Context, userID uuid.UUID) (APIKey, string, error) {
	plaintext, prefix, err := newKeyText(keyScheme)
	if err != nil {
		return APIKey{}, "", fmt.Errorf("create api key: %w", err)
	}
	id, err := uuid.NewV7()
	if err != nil {
		return APIKey{}, "", fmt.Errorf("create api key: new id: %w", err)
	}
	var k APIKey
	err = s.db.WithContext(ctx).Raw(
		`INSERT INTO api_keys (id, user_id, prefix, hash) VALUES (?, ?, ?, ?) RETURNING *`,
		id, userID, prefix, hashKey(plaintext),
	).Scan(&k).Error
	if pg.Code(err) == pg.ForeignKeyViolation {
		return APIKey{}, "", fmt.Errorf("create api key: user %s: %w", userID, pg.ErrNotFound)
	}
	if err != nil {
		return APIKey{}, "", fmt.Errorf("create api key for user %s: %w", userID, err)
	}
	return k, plaintext, nil
}

// newKeyText returns a fresh plaintext key of scheme and its visible
// prefix.
func newKeyText(scheme string) (plaintext, prefix string, err error) {
	buf := make([]byte, keyPrefixBytes+keySecretBytes)
	if _, err := rand.Read(buf); err != nil {
		return "", "", fmt.Errorf("read random bytes: %w", err)
	}
	prefix = scheme + hex.EncodeToString(buf[:keyPrefixBytes])
	secret := base64.RawURLEncoding.EncodeToString(buf[keyPrefixBytes:])
	return prefix + "_" + secret, prefix, nil
}

func hashKey(plaintext string) []byte {
	sum := sha256.Sum256([]byte(plaintext))
	return sum[:]
}

// authRow is one api_keys row joined to its user.
type authRow struct {
	KeyID         uuid.UUID
	UserID        uuid.UUID
	Prefix        string
	Hash          []byte
	KeyCreatedAt  time.Time
	LastUsedAt    *time.Time
	RevokedAt     *time.Time
	Email         string
	Role          string
	Plan          string
	Active        bool
	UserCreatedAt time.Time
}

// authQuery finds a live key and its active user, and stamps last_used_at
// in the same round trip, at most once a minute so that authenticating
// every request does not write every time. The returned last_used_at is
// the value before the stamp.
const authQuery = `
WITH k AS (
	SELECT k.id AS key_id, k.user_id, k.prefix, k.hash, k.created_at AS key_created_at,
	       k.last_used_at, k.revoked_at,
	       u.email, u.role, u.plan, u.active, u.created_at AS user_created_at
	FROM api_keys k JOIN users u ON u.id = k.user_id
	WHERE k.hash = ? AND k.revoked_at IS NULL AND u.active
), touch AS (
	UPDATE api_keys SET last_used_at = now()
	WHERE id = (SELECT key_id FROM k)
	  AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')
)
SELECT * FROM k`

// Authenticate resolves a plaintext key to its user. An unknown or revoked
// key, or an inactive user, is pg.ErrNotFound.
func (s *Store) Authenticate(ctx context.Context, plaintext string) (User, APIKey, error) {
	if !strings.HasPrefix(plaintext, keyScheme) {
		return User{}, APIKey{}, fmt.Errorf("authenticate: %w", pg.ErrNotFound)
	}
	var row authRow
	res := s.db.WithContext(ctx).Raw(authQuery, hashKey(plaintext)).Scan(&row)
	if res.Error != nil {
		return User{}, APIKey{}, fmt.Errorf("authenticate: %w", res.Error)
	}
	if res.RowsAffected == 0 {
		return User{}, APIKey{}, fmt.Errorf("authenticate: %w", pg.ErrNotFound)
	}
	u := User{ID: row.UserID, Email: row.Email, Role: row.Role, Plan: row.Plan,
		Active: row.Active, CreatedAt: row.UserCreatedAt}
	k := APIKey{ID: row.KeyID, UserID: row.UserID, Prefix: row.Prefix, Hash: row.Hash,
		CreatedAt: row.KeyCreatedAt, LastUsedAt: row.LastUsedAt, RevokedAt: row.RevokedAt}
	return u, k, nil
}

// RevokeAPIKey stops a key from authenticating. Revoking a revoked key
// succeeds and keeps the first revocation time; an unknown key is
// pg.ErrNotFound.
func (s *Store) RevokeAPIKey(ctx context.Context, keyID uuid.UUID) error {
	res := s.db.WithContext(ctx).Exec(
		`UPDATE api_keys SET revoked_at = COALESCE(revoked_at, now()) WHERE id = ?`, keyID)
	if res.Error != nil {
		return fmt.Errorf("revoke api key %s: %w", keyID, res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("revoke api key %s: %w", keyID, pg.ErrNotFound)
	}
	return nil
}

// ListAPIKeys returns user id's keys, newest first: ids, prefixes and
// times only (the table holds no secret to show). An unknown user is
// pg.ErrNotFound; a user without keys is an empty list.
func (s *Store) ListAPIKeys(ctx context.Context, userID uuid.UUID) ([]APIKey, error) {
	if _, err := s.GetUser(ctx, userID); err != nil {
		return nil, fmt.Errorf("list api keys: %w", err)
	}
	var keys []APIKey
	err := s.db.WithContext(ctx).Raw(
		`SELECT * FROM api_keys WHERE user_id = ? ORDER BY created_at DESC, id DESC`, userID).Scan(&keys).Error
	if err != nil {
		return nil, fmt.Errorf("list api keys of user %s: %w", userID, err)
	}
	return keys, nil
}

// KeyActive reports nil when key id still authenticates (not revoked, its
// user active), else pg.ErrNotFound: what an open event stream re-checks.
func (s *Store) KeyActive(ctx context.Context, keyID uuid.UUID) error {
	var n int64
	err := s.db.WithContext(ctx).Raw(`SELECT count(*) FROM api_keys k JOIN users u ON u.id = k.user_id
	WHERE k.id = ? AND k.revoked_at IS NULL AND u.active`, keyID).Scan(&n).Error
	if err != nil {
		return fmt.Errorf("check api key %s: %w", keyID, err)
	}
	if n == 0 {
		return fmt.Errorf("check api key %s: %w", keyID, pg.ErrNotFound)
	}
	return nil
}
