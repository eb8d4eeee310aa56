// Package signsecrets keeps signing secrets that rotate with an overlap
// window, for any table of them (a user's webhook secrets, a push kind's
// secrets): a new secret is made, every older live one signs on for at
// most the overlap, expired ones are deleted, and a bound on the live ones
// keeps the signature header small. The aggregates own their tables and
// the lock that orders an owner's rotations; this package holds the
// statements they share.
package signsecrets

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"
)

// Table names a table of secrets: (id uuid, <Owner>, prefix text, secret
// text, created_at, expires_at NULL). Its names are the code's constants,
// never user input: they are written into the statements.
type Table struct {
	Name  string // e.g. webhook_secrets
	Owner string // the owner's column, e.g. owner_id
	// Scheme starts every secret of the table, so one pasted in the wrong
	// place is recognisable (e.g. whsec_).
	Scheme string
	// MaxLive bounds an owner's secrets that sign at once: every delivery
	// carries one signature per live secret.
	MaxLive int
}

// Secret is one secret as listed, without the secret itself.
type Secret struct {
	ID        uuid.UUID
	Prefix    string // the first characters, to tell secrets apart
	CreatedAt time.Time
	// ExpiresAt is when it stops signing; nil: when rotated or deleted.
	ExpiresAt *time.Time
}

// secretBytes is a secret's entropy, 256 bits.
const secretBytes = 32

// prefixLen is how many characters after the scheme a listing shows.
const prefixLen = 6

// ErrTooMany: the owner has MaxLive live secrets; the aggregates return it
// as their own ErrTooManySecrets.
var ErrTooMany = errors.New("too many live signing secrets")

// Rotate makes a new secret for owner and returns it with its plaintext,
// which cannot be shown again. Every older live secret of owner signs on
// for at most overlap (0: stops at once). It runs in tx, in which the
// caller has locked owner's row, so concurrent rotations of one owner
// see each other's secret when they count; more than t.MaxLive live
// secrets after that is ErrTooMany.
func Rotate(tx *gorm.DB, t Table, owner any, overlap time.Duration, now time.Time) (Secret, string, error) {
	until := now.Add(max(overlap, 0))
	err := tx.Exec(fmt.Sprintf(`UPDATE %s SET expires_at = ? WHERE %s = ? AND (expires_at IS NULL OR expires_at > ?)`, t.Name, t.Owner),
		until, owner, until).Error
	if err != nil {
		return Secret{}, "", fmt.Errorf("expire older secrets: %w", err)
	}
	// Secrets that stopped signing are only clutter.
	if err := tx.Exec(fmt.Sprintf(`DELETE FROM %s WHERE %s = ? AND expires_at <= ?`, t.Name, t.Owner), owner, now).Error; err != nil {
		return Secret{}, "", fmt.Errorf("delete expired secrets: %w", err)
	}
	var live int64
	if err := tx.Raw(fmt.Sprintf(`SELECT count(*) FROM %s WHERE %s = ?`, t.Name, t.Owner), owner).Scan(&live).Error; err != nil {
		return Secret{}, "", fmt.Errorf("count secrets: %w", err)
	}
	if live >= int64(t.MaxLive) {
		return Secret{}, "", ErrTooMany
	}
	return Insert(tx, t, owner, now)
}

// Insert adds a new secret of owner, leaving the others as they are (an
// owner's first secret), and returns it with its plaintext.
func Insert(tx *gorm.DB, t Table, owner any, now time.Time) (Secret, string, error) {
	buf := make([]byte, secretBytes)
	if _, err := rand.Read(buf); err != nil {
		return Secret{}, "", fmt.Errorf("new secret: %w", err)
	}
	plaintext := t.Scheme + base64.RawURLEncoding.EncodeToString(buf)
	id, err := uuid.NewV7()
	if err != nil {
		return Secret{}, "", fmt.Errorf("new secret id: %w", err)
	}
	var out Secret
	err = tx.Raw(fmt.Sprintf(`INSERT INTO %s (id, %s, prefix, secret, created_at) VALUES (?, ?, ?, ?, ?)
		RETURNING id, prefix, created_at, expires_at`, t.Name, t.Owner),
		id, owner, plaintext[:len(t.Scheme)+prefixLen], plaintext, now).Scan(&out).Error
	if err != nil {
		return Secret{}, "", fmt.Errorf("insert secret: %w", err)
	}
	return out, plaintext, nil
}

// Signing returns the secrets that sign owner's deliveries as of now,
// newest first; none means owner has no live secret.
func Signing(ctx context.Context, db *gorm.DB, t Table, owner any, now time.Time) ([][]byte, error) {
	var secrets []string
	err := db.WithContext(ctx).Raw(fmt.Sprintf(`SELECT secret FROM %s
		WHERE %s = ? AND (expires_at IS NULL OR expires_at > ?) ORDER BY created_at DESC, id DESC`, t.Name, t.Owner),
		owner, now).Scan(&secrets).Error
	if err != nil {
		return nil, fmt.Errorf("signing secrets: %w", err)
	}
	out := make([][]byte, len(secrets))
	for i, sec := range secrets {
		out[i] = []byte(sec)
	}
	return out, nil
}
