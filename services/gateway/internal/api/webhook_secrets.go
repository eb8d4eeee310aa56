package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/hopperq/hopper/pkg/httpx"
	"github.com/hopperq/hopper/pkg/store/accounts"
)

// A user's webhook signing secrets (POST, GET /v1/users/me/webhook-secrets,
// DELETE …/{id}). Each delivery of the user's webhooks is signed with
// every secret of theirs that still signs, newest first, so a rotation
// (a new secret, the older ones signing on for an overlap window) never
// leaves a receiver unable to verify.

// Bounds of a rotation's overlap window.
const (
	DefaultSecretOverlap = 24 * time.Hour
	MaxSecretOverlap     = 7 * 24 * time.Hour
)

// CreateWebhookSecretRequest is POST /v1/users/me/webhook-secrets' body,
// which may be empty.
type CreateWebhookSecretRequest struct {
	// OverlapSeconds is how long the user's older secrets keep signing
	// beside the new one (default 86400, at most 604800; 0 retires them
	// at once).
	OverlapSeconds *int `json:"overlap_seconds,omitempty"`
}

// WebhookSecretView is a secret as listed: never the secret itself.
type WebhookSecretView struct {
	ID        string `json:"id"`
	Prefix    string `json:"prefix"`
	CreatedAt string `json:"created_at"`
	// ExpiresAt is when the secret stops signing; null: when deleted or
	// rotated.
	ExpiresAt *string `json:"expires_at"`
}

// CreatedWebhookSecret is the answer of a creation: the only time the
// secret is shown.
type CreatedWebhookSecret struct {
	WebhookSecretView
	Secret string `json:"secret"`
	// OthersExpireAt is when the user's older secrets stop signing (null
	// when there were none).
	OthersExpireAt *string `json:"others_expire_at"`
	Note           string  `json:"note"`
}

// WebhookSecretList is the answer of GET /v1/users/me/webhook-secrets.
type WebhookSecretList struct {
	WebhookSecrets []WebhookSecretView `json:"webhook_secrets"`
}

func webhookSecretView(s accounts.WebhookSecret) WebhookSecretView {
	v := WebhookSecretView{ID: s.ID.String(), Prefix: s.Prefix, CreatedAt: s.CreatedAt.UTC().Format(time.RFC3339Nano)}
	if s.ExpiresAt != nil {
		at := s.ExpiresAt.UTC().Format(time.RFC3339Nano)
		v.ExpiresAt = &at
	}
	return v
}

// createWebhookSecret makes a new signing secret for the caller and
// shows it once; the caller's older secrets sign on for the overlap.
func (a *API) createWebhookSecret(c *gin.Context) {
	p, ok := jobOwner(c)
	if !ok {
		return
	}
	overlap, ok := a.secretOverlap(c)
	if !ok {
		return
	}
	// Postgres keeps microseconds: the expiry reported is then the stored one.
	ctx, now := c.Request.Context(), a.opts.Now().Truncate(time.Microsecond)
	before, err := a.opts.Store.ListWebhookSecrets(ctx, p.User.ID, now)
	if err != nil {
		a.internalError(c, "list webhook secrets", err)
		return
	}
	sec, plaintext, err := a.opts.Store.CreateWebhookSecret(ctx, p.User.ID, overlap, now)
	if errors.Is(err, accounts.ErrTooManySecrets) {
		httpx.Abort(c, http.StatusConflict, httpx.CodeConflict, fmt.Sprintf(
			"you have %d webhook secrets that still sign: delete one, or wait for a rotated one to expire",
			accounts.MaxLiveWebhookSecrets), map[string]any{"max": accounts.MaxLiveWebhookSecrets})
		return
	}
	if err != nil {
		a.internalError(c, "create webhook secret", err)
		return
	}
	out := CreatedWebhookSecret{WebhookSecretView: webhookSecretView(sec), Secret: plaintext,
		Note: "store this secret now: it is not shown again. Verify the Hopper-Signature header of your webhooks with it."}
	if len(before) > 0 {
		at := now.Add(overlap).UTC().Format(time.RFC3339Nano)
		out.OthersExpireAt = &at
	}
	c.JSON(http.StatusCreated, out)
}

// secretOverlap reads the optional body of a creation. When it returns
// ok false it has answered 400 or 422.
func (a *API) secretOverlap(c *gin.Context) (time.Duration, bool) {
	body, err := io.ReadAll(c.Request.Body)
	if httpx.IsTooLarge(err) {
		httpx.Abort(c, http.StatusRequestEntityTooLarge, httpx.CodeTooLarge, "request body is larger than the limit", nil)
		return 0, false
	}
	if err != nil {
		httpx.Abort(c, http.StatusBadRequest, httpx.CodeBadRequest, "could not read the request body", nil)
		return 0, false
	}
	var req CreateWebhookSecretRequest
	if len(bytes.TrimSpace(body)) > 0 {
		c.Request.Body = io.NopCloser(bytes.NewReader(body))
		if !a.decodeJSON(c, &req) {
			return 0, false
		}
	}
	if req.OverlapSeconds == nil {
		return DefaultSecretOverlap, true
	}
	d := time.Duration(*req.OverlapSeconds) * time.Second
	if d < 0 || d > MaxSecretOverlap {
		httpx.Abort(c, http.StatusUnprocessableEntity, httpx.CodeUnprocessable,
			fmt.Sprintf("overlap_seconds: %d out of range 0-%d", *req.OverlapSeconds, int(MaxSecretOverlap.Seconds())),
			map[string]any{"field": "overlap_seconds"})
		return 0, false
	}
	return d, true
}

// listWebhookSecrets answers the caller's secrets that still sign, newest
// first, without the secrets.
func (a *API) listWebhookSecrets(c *gin.Context) {
	p, ok := jobOwner(c)
	if !ok {
		return
	}
	list, err := a.opts.Store.ListWebhookSecrets(c.Request.Context(), p.User.ID, a.opts.Now())
	if err != nil {
		a.internalError(c, "list webhook secrets", err)
		return
	}
	out := WebhookSecretList{WebhookSecrets: make([]WebhookSecretView, len(list))}
	for i, s := range list {
		out.WebhookSecrets[i] = webhookSecretView(s)
	}
	c.JSON(http.StatusOK, out)
}

// deleteWebhookSecret stops one of the caller's secrets from signing at
// once; another user's secret is a 404, like a missing one.
func (a *API) deleteWebhookSecret(c *gin.Context) {
	p, ok := jobOwner(c)
	if !ok {
		return
	}
	notFound := func(c *gin.Context) {
		httpx.Abort(c, http.StatusNotFound, httpx.CodeNotFound, "webhook secret not found", nil)
	}
	id, err := uuid.Parse(c.Param("id"))
	if err != nil {
		notFound(c)
		return
	}
	err = a.opts.Store.DeleteWebhookSecret(c.Request.Context(), p.User.ID, id)
	if a.storeFailed(c, "delete webhook secret", err, notFound) {
		return
	}
	c.Status(http.StatusNoContent)
}

// SecretStore is what webhook secrets and follow-up checks need: a user's
// signing secrets and their job-finished mail rate.
type SecretStore interface {
	CreateWebhookSecret(ctx context.Context, owner uuid.UUID, overlap time.Duration, now time.Time) (accounts.WebhookSecret, string, error)
	ListWebhookSecrets(ctx context.Context, owner uuid.UUID, now time.Time) ([]accounts.WebhookSecret, error)
	DeleteWebhookSecret(ctx context.Context, owner, id uuid.UUID) error
	HasWebhookSecret(ctx context.Context, owner uuid.UUID, now time.Time) (bool, error)
	TakeMails(ctx context.Context, owner uuid.UUID, n, perHour int, now time.Time) ([]int64, error)
	ReturnMails(ctx context.Context, ids []int64) error
}
