package accounts

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/hopperq/hopper/pkg/store/pg"
	"github.com/hopperq/hopper/pkg/store/signsecrets"
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

// webhookSecrets is the table of users' secrets; they start with whsec_,
// so one pasted in the wrong place is recognisable (as API keys start
// with hop_).
var webhookSecrets = signsecrets.Table{Name: "webhook_secrets", Owner: "owner_id", Scheme: "whsec_", MaxLive: MaxLiveWebhookSecrets}

// ErrTooManySecrets: the user has MaxLiveWebhookSecrets live secrets.
var ErrTooManySecrets = signsecrets.ErrTooMany

// CreateWebhookSecret makes a new signing secret for owner and returns it
// with its plaintext, which cannot be shown again. Every other live
// secret of owner keeps signing for at most overlap more (0: stops at
// once), so receivers can move to the new secret while deliveries carry
// signatures by both — the rotation. A user with MaxLiveWebhookSecrets
// live secrets after that gets ErrTooManySecrets; an unknown owner
// pg.ErrNotFound.
func (s *Store) CreateWebhookSecret(ctx context.Context, owner uuid.UUID, overlap time.Duration, now time.Time) (WebhookSecret, string, error) {
	var (
		sec       signsecrets.Secret
		plaintext string
	)
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
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
		var err error
		sec, plaintext, err = signsecrets.Rotate(tx, webhookSecrets, owner, overlap, now)
		return err
	})
	if err != nil {
		return WebhookSecret{}, "", fmt.Errorf("create webhook secret: %w", err)
	}
	return WebhookSecret{ID: sec.ID, OwnerID: owner, Prefix: sec.Prefix, CreatedAt: sec.CreatedAt, ExpiresAt: sec.ExpiresAt}, plaintext, nil
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
	out, err := signsecrets.Signing(ctx, s.db, webhookSecrets, owner, now)
	if err != nil {
		return nil, fmt.Errorf("webhook %w", err)
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
