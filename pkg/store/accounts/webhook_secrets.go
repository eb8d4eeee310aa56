package accounts

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/hopperq/hopper/pkg/store/pg"
	"gorm.io/gorm"
)

// WebhookSecret is one of a user's webhook signing secrets (migration
// 00018). The secret itself is returned once, by CreateWebhookSecret, and
// read back only by the deliverer (WebhookSigningSecrets).
type WebhookSecret struct {
	ID        uuid.UUID
	OwnerID   uuid.UUID
	Prefix    string // the first characters, to tell secrets apart
	CreatedAt time.Time
	// ExpiresAt is when the secret stops signing; nil: when deleted.
	ExpiresAt *time.Time
}

// MaxLiveWebhookSecrets bounds a user's secrets that still sign: every
// delivery carries one signature per live secret, so rotating in a loop
// must not grow the header without bound.
const MaxLiveWebhookSecrets = 5

// webhookSecretScheme starts every secret, so one pasted in the wrong
// place is recognisable (as API keys start with hop_).
const webhookSecretScheme = "whsec_"

// webhookSecretBytes is the secret's entropy, 256 bits.
const webhookSecretBytes = 32

// ErrTooManySecrets: the user has MaxLiveWebhookSecrets live secrets.
var ErrTooManySecrets = errors.New("too many live webhook secrets")

// CreateWebhookSecret makes a new signing secret for owner and returns it
// with its plaintext, which cannot be shown again. Every other live
// secret of owner keeps signing for at most overlap more (0: stops at
// once), so receivers can move to the new secret while deliveries carry
// signatures by both — the rotation. A user with MaxLiveWebhookSecrets
// live secrets after that gets ErrTooManySecrets; an unknown owner
// pg.ErrNotFound.
func (s *Store) CreateWebhookSecret(ctx context.Context, owner uuid.UUID, overlap time.Duration, now time.Time) (WebhookSecret, string, error) {
	buf := make([]byte, webhookSecretBytes)
	if _, err := rand.Read(buf); err != nil {
		return WebhookSecret{}, "", fmt.Errorf("create webhook secret: %w", err)
	}
	plaintext := webhookSecretScheme + base64.RawURLEncoding.EncodeToString(buf)
	id, err := uuid.NewV7()
	if err != nil {
		return WebhookSecret{}, "", fmt.Errorf("create webhook secret: new id: %w", err)
	}
	var out WebhookSecret
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		// The owner's row lock orders concurrent rotations of one user:
		// each sees the other's secret when it counts.
		var n int64
		res := tx.Raw(`SELECT 1 FROM users WHERE id = ? FOR UPDATE`, owner).Scan(&n)
		if res.Error != nil {
			return fmt.Errorf("lock owner: %w", res.Error)
		}
		if res.RowsAffected == 0 {
			return fmt.Errorf("owner %s: %w", owner, pg.ErrNotFound)
		}
		until := now.Add(max(overlap, 0))
		err := tx.Exec(`UPDATE webhook_secrets SET expires_at = ? WHERE owner_id = ? AND (expires_at IS NULL OR expires_at > ?)`,
			until, owner, until).Error
		if err != nil {
			return fmt.Errorf("expire older secrets: %w", err)
		}
		// Secrets that stopped signing are only clutter.
		if err := tx.Exec(`DELETE FROM webhook_secrets WHERE owner_id = ? AND expires_at <= ?`, owner, now).Error; err != nil {
			return fmt.Errorf("delete expired secrets: %w", err)
		}
		var live int64
		if err := tx.Raw(`SELECT count(*) FROM webhook_secrets WHERE owner_id = ?`, owner).Scan(&live).Error; err != nil {
			return fmt.Errorf("count secrets: %w", err)
		}
		if live >= MaxLiveWebhookSecrets {
			return ErrTooManySecrets
		}
		return tx.Raw(`INSERT INTO webhook_secrets (id, owner_id, prefix, secret, created_at) VALUES (?, ?, ?, ?, ?)
			RETURNING id, owner_id, prefix, created_at, expires_at`,
			id, owner, plaintext[:len(webhookSecretScheme)+6], plaintext, now).Scan(&out).Error
	})
	if err != nil {
		return WebhookSecret{}, "", fmt.Errorf("create webhook secret: %w", err)
	}
	return out, plaintext, nil
}

// ListWebhookSecrets returns owner's secrets that still sign as of now,
// newest first, without the secrets themselves.
func (s *Store) ListWebhookSecrets(ctx context.Context, owner uuid.UUID, now time.Time) ([]WebhookSecret, error) {
	var out []WebhookSecret
	err := s.db.WithContext(ctx).Raw(`SELECT id, owner_id, prefix, created_at, expires_at FROM webhook_secrets
		WHERE owner_id = ? AND (expires_at IS NULL OR expires_at > ?) ORDER BY created_at DESC, id DESC`, owner, now).Scan(&out).Error
	if err != nil {
		return nil, fmt.Errorf("list webhook secrets: %w", err)
	}
	return out, nil
}

// DeleteWebhookSecret stops secret id of owner from signing at once;
// pg.ErrNotFound when owner has no such secret (another user's included).
func (s *Store) DeleteWebhookSecret(ctx context.Context, owner, id uuid.UUID) error {
	res := s.db.WithContext(ctx).Exec(`DELETE FROM webhook_secrets WHERE owner_id = ? AND id = ?`, owner, id)
	if res.Error != nil {
		return fmt.Errorf("delete webhook secret %s: %w", id, res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("delete webhook secret %s: %w", id, pg.ErrNotFound)
	}
	return nil
}

// WebhookSigningSecrets returns the secrets that sign owner's deliveries
// as of now, newest first; none means owner has no live secret.
func (s *Store) WebhookSigningSecrets(ctx context.Context, owner uuid.UUID, now time.Time) ([][]byte, error) {
	var secrets []string
	err := s.db.WithContext(ctx).Raw(`SELECT secret FROM webhook_secrets
		WHERE owner_id = ? AND (expires_at IS NULL OR expires_at > ?) ORDER BY created_at DESC, id DESC`, owner, now).Scan(&secrets).Error
	if err != nil {
		return nil, fmt.Errorf("webhook signing secrets: %w", err)
	}
	out := make([][]byte, len(secrets))
	for i, sec := range secrets {
		out[i] = []byte(sec)
	}
	return out, nil
}

// HasWebhookSecret reports whether owner has a secret that signs as of
// now (a submit with webhook_url needs one).
func (s *Store) HasWebhookSecret(ctx context.Context, owner uuid.UUID, now time.Time) (bool, error) {
	var ok bool
	err := s.db.WithContext(ctx).Raw(`SELECT EXISTS (SELECT 1 FROM webhook_secrets
		WHERE owner_id = ? AND (expires_at IS NULL OR expires_at > ?))`, owner, now).Scan(&ok).Error
	if err != nil {
		return false, fmt.Errorf("has webhook secret: %w", err)
	}
	return ok, nil
}
