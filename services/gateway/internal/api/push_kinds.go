package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"go.uber.org/zap"

	"github.com/hopperq/hopper/pkg/httpx"
	"github.com/hopperq/hopper/pkg/jobs"
	"github.com/hopperq/hopper/pkg/push"
	"github.com/hopperq/hopper/pkg/store/pushkinds"
)

// Push kinds (POST, GET /v1/admin/push-kinds, GET, PATCH, DELETE …/{name},
// POST …/{name}/rotate-secret): kinds whose handler is an HTTP endpoint.
// Declaring one writes its catalogue row, so clients submit it as any
// kind (schema-checked, in GET /v1/kinds), and the push worker delivers
// its jobs, signed with the kind's own secrets.

// PushStore is what the push-kind endpoints and the callback read and
// write of the push kinds (*store.PushKinds).
type PushStore interface {
	Create(ctx context.Context, k jobs.Kind, t pushkinds.Target, now time.Time) (pushkinds.PushKind, string, error)
	Get(ctx context.Context, name string, now time.Time) (pushkinds.PushKind, error)
	List(ctx context.Context, now time.Time) ([]pushkinds.PushKind, error)
	Update(ctx context.Context, k jobs.Kind, t pushkinds.Target, now time.Time) (pushkinds.PushKind, error)
	Delete(ctx context.Context, name string) error
	RotateSecret(ctx context.Context, name string, overlap time.Duration, now time.Time) (pushkinds.Secret, string, error)
	CallbackKey(ctx context.Context) ([]byte, error)
}

// PushKindRequest is the body of POST /v1/admin/push-kinds (every field)
// and PATCH …/{name} (the fields to change; name is the path's).
type PushKindRequest struct {
	Name               string          `json:"name,omitempty"`
	Description        *string         `json:"description,omitempty"`
	URL                *string         `json:"url,omitempty"`
	TimeoutSeconds     *float64        `json:"timeout_seconds,omitempty"`
	MaxAttempts        *int            `json:"max_attempts,omitempty"`
	BackoffBaseSeconds *float64        `json:"backoff_base_seconds,omitempty"`
	BackoffCapSeconds  *float64        `json:"backoff_cap_seconds,omitempty"`
	Concurrency        *int            `json:"concurrency,omitempty"`
	RatePerSecond      *float64        `json:"rate_per_second,omitempty"`
	DefaultPriority    *int            `json:"default_priority,omitempty"`
	PayloadSchema      json.RawMessage `json:"payload_schema,omitempty"`
	Visibility         *string         `json:"visibility,omitempty"`
}

// PushKindView is a push kind as the admin API shows it: never a secret.
type PushKindView struct {
	KindView
	URL           string           `json:"url"`
	Concurrency   int              `json:"concurrency"`
	RatePerSecond float64          `json:"rate_per_second"`
	Secrets       []PushSecretView `json:"secrets"`
	CreatedAt     string           `json:"created_at"`
	UpdatedAt     string           `json:"updated_at"`
	// Secret is shown once, in the answer of the creation.
	Secret string `json:"secret,omitempty"`
	Note   string `json:"note,omitempty"`
}

// PushSecretView is one of a kind's signing secrets, as listed.
type PushSecretView struct {
	ID        string  `json:"id"`
	Prefix    string  `json:"prefix"`
	CreatedAt string  `json:"created_at"`
	ExpiresAt *string `json:"expires_at"`
}

// PushKindList is the answer of GET /v1/admin/push-kinds.
type PushKindList struct {
	PushKinds []PushKindView `json:"push_kinds"`
}

// RotatedPushSecret is the answer of a rotation: the only time the new
// secret is shown.
type RotatedPushSecret struct {
	PushSecretView
	Secret         string  `json:"secret"`
	OthersExpireAt *string `json:"others_expire_at"`
}

const secretNote = "store this secret now: it is not shown again. Verify the Hopper-Signature header of each delivery with it."

func pushKindView(pk pushkinds.PushKind) PushKindView {
	v := PushKindView{KindView: kindView(pk.Kind, 0, principal{AdminToken: true}), URL: pk.URL,
		Concurrency: pk.Concurrency, RatePerSecond: pk.RatePerSecond, Secrets: []PushSecretView{},
		CreatedAt: pk.CreatedAt.UTC().Format(time.RFC3339Nano), UpdatedAt: pk.UpdatedAt.UTC().Format(time.RFC3339Nano)}
	for _, s := range pk.Secrets {
		v.Secrets = append(v.Secrets, pushSecretView(s))
	}
	return v
}

func pushSecretView(s pushkinds.Secret) PushSecretView {
	v := PushSecretView{ID: s.ID.String(), Prefix: s.Prefix, CreatedAt: s.CreatedAt.UTC().Format(time.RFC3339Nano)}
	if s.ExpiresAt != nil {
		at := s.ExpiresAt.UTC().Format(time.RFC3339Nano)
		v.ExpiresAt = &at
	}
	return v
}

// declaration applies req onto d.
func (req PushKindRequest) apply(d push.Declaration) (push.Declaration, error) {
	secs := func(f *float64, field string, dst *time.Duration) error {
		if f == nil {
			return nil
		}
		if *f < 0 || *f > push.MaxTimeout.Seconds() {
			return fmt.Errorf("%s: %g out of range", field, *f)
		}
		*dst = time.Duration(*f * float64(time.Second))
		return nil
	}
	if req.Description != nil {
		d.Description = *req.Description
	}
	if req.URL != nil {
		d.URL = strings.TrimSpace(*req.URL)
	}
	if err := errors.Join(secs(req.TimeoutSeconds, "timeout_seconds", &d.Timeout),
		secs(req.BackoffBaseSeconds, "backoff_base_seconds", &d.BackoffBase),
		secs(req.BackoffCapSeconds, "backoff_cap_seconds", &d.BackoffCap)); err != nil {
		return d, err
	}
	if req.MaxAttempts != nil {
		d.MaxAttempts = *req.MaxAttempts
	}
	if req.Concurrency != nil {
		d.Concurrency = *req.Concurrency
	}
	if req.RatePerSecond != nil {
		d.RatePerSecond = *req.RatePerSecond
	}
	if req.DefaultPriority != nil {
		if *req.DefaultPriority < 0 || *req.DefaultPriority > 5 {
			return d, fmt.Errorf("default_priority: %d out of range 0-5", *req.DefaultPriority)
		}
		d.DefaultPriority = jobs.Priority(*req.DefaultPriority)
	}
	if len(req.PayloadSchema) > 0 {
		if string(req.PayloadSchema) == "null" {
			d.Schema = nil
		} else {
			d.Schema = req.PayloadSchema
		}
	}
	if req.Visibility != nil {
		d.Visibility = jobs.Visibility(*req.Visibility)
	}
	return d, nil
}

// declarationOf is what pk was declared with.
func declarationOf(pk pushkinds.PushKind) push.Declaration {
	k := pk.Kind
	return push.Declaration{Name: k.Name, Description: k.Description, URL: pk.URL, Timeout: k.Timeout,
		MaxAttempts: k.MaxAttempts, BackoffBase: k.BackoffBase, BackoffCap: k.BackoffCap, Concurrency: pk.Concurrency,
		RatePerSecond: pk.RatePerSecond, DefaultPriority: k.DefaultPriority, Schema: k.Schema, Visibility: k.Visibility}
}

// pushDefinition checks d: 422 naming the problem when it fails.
func (a *API) pushDefinition(c *gin.Context, d push.Declaration) (jobs.Kind, bool) {
	k, err := d.Kind(a.opts.PushAllowHosts)
	if err != nil {
		httpx.Abort(c, http.StatusUnprocessableEntity, httpx.CodeUnprocessable, err.Error(), nil)
		return jobs.Kind{}, false
	}
	return k, true
}

func (a *API) pushNotFound(c *gin.Context) {
	httpx.Abort(c, http.StatusNotFound, httpx.CodeNotFound, "push kind not found", nil)
}

// createPushKind declares a push kind and shows its first secret once.
func (a *API) createPushKind(c *gin.Context) {
	var req PushKindRequest
	if !a.decodeJSON(c, &req) {
		return
	}
	d, err := req.apply(push.Declaration{Name: strings.TrimSpace(req.Name)})
	if err != nil {
		httpx.Abort(c, http.StatusUnprocessableEntity, httpx.CodeUnprocessable, err.Error(), nil)
		return
	}
	k, ok := a.pushDefinition(c, d)
	if !ok {
		return
	}
	ctx, now := c.Request.Context(), a.opts.Now().Truncate(time.Microsecond)
	pk, secret, err := a.opts.Push.Create(ctx, k, pushkinds.Target{URL: d.URL, Concurrency: d.Concurrency, RatePerSecond: d.RatePerSecond}, now)
	if errors.Is(err, pushkinds.ErrKindExists) {
		httpx.Abort(c, http.StatusConflict, httpx.CodeConflict, fmt.Sprintf("a kind named %s exists already", k.Name), nil)
		return
	}
	if err != nil {
		a.internalError(c, "create push kind", err)
		return
	}
	a.bindPushKind(ctx, k)
	a.refreshKinds(ctx)
	v := pushKindView(pk)
	v.Secret, v.Note = secret, secretNote
	c.JSON(http.StatusCreated, v)
}

// bindPushKind binds the kind to the push queue at once, so its first
// submits route even before a push worker's next look at the catalogue
// (which binds it too). A failure only delays them: they wait in the
// outbox.
func (a *API) bindPushKind(ctx context.Context, k jobs.Kind) {
	if a.opts.BindKind == nil {
		return
	}
	if err := a.opts.BindKind(ctx, k); err != nil {
		a.log.Warn("push kind not bound to its queue yet; the push worker binds it", zap.String("kind", k.Name), zap.Error(err))
	}
}

// refreshKinds makes this gateway's catalogue see a change at once (the
// others see it at their next look, within a second).
func (a *API) refreshKinds(ctx context.Context) {
	if r, ok := a.opts.Registry.(interface{ Refresh(context.Context) error }); ok {
		if err := r.Refresh(ctx); err != nil {
			a.log.Warn("kind catalogue not refreshed", zap.Error(err))
		}
	}
}

func (a *API) listPushKinds(c *gin.Context) {
	list, err := a.opts.Push.List(c.Request.Context(), a.opts.Now())
	if err != nil {
		a.internalError(c, "list push kinds", err)
		return
	}
	out := PushKindList{PushKinds: make([]PushKindView, len(list))}
	for i, pk := range list {
		out.PushKinds[i] = pushKindView(pk)
	}
	c.JSON(http.StatusOK, out)
}

func (a *API) getPushKind(c *gin.Context) {
	pk, err := a.opts.Push.Get(c.Request.Context(), c.Param("name"), a.opts.Now())
	if a.storeFailed(c, "get push kind", err, a.pushNotFound) {
		return
	}
	c.JSON(http.StatusOK, pushKindView(pk))
}

// updatePushKind changes the fields the body names.
func (a *API) updatePushKind(c *gin.Context) {
	var req PushKindRequest
	if !a.decodeJSON(c, &req) {
		return
	}
	ctx, now := c.Request.Context(), a.opts.Now().Truncate(time.Microsecond)
	pk, err := a.opts.Push.Get(ctx, c.Param("name"), now)
	if a.storeFailed(c, "get push kind", err, a.pushNotFound) {
		return
	}
	if req.Name != "" && req.Name != pk.Kind.Name {
		httpx.Abort(c, http.StatusUnprocessableEntity, httpx.CodeUnprocessable, "name: a push kind cannot be renamed", nil)
		return
	}
	d, err := req.apply(declarationOf(pk))
	if err != nil {
		httpx.Abort(c, http.StatusUnprocessableEntity, httpx.CodeUnprocessable, err.Error(), nil)
		return
	}
	k, ok := a.pushDefinition(c, d)
	if !ok {
		return
	}
	pk, err = a.opts.Push.Update(ctx, k, pushkinds.Target{URL: d.URL, Concurrency: d.Concurrency, RatePerSecond: d.RatePerSecond}, now)
	if a.storeFailed(c, "update push kind", err, a.pushNotFound) {
		return
	}
	a.refreshKinds(ctx)
	c.JSON(http.StatusOK, pushKindView(pk))
}

// deletePushKind removes the kind from the catalogue: new submits are
// refused; jobs already accepted fail at delivery.
func (a *API) deletePushKind(c *gin.Context) {
	err := a.opts.Push.Delete(c.Request.Context(), c.Param("name"))
	if a.storeFailed(c, "delete push kind", err, a.pushNotFound) {
		return
	}
	a.refreshKinds(c.Request.Context())
	c.Status(http.StatusNoContent)
}

// rotatePushSecret makes a new signing secret, shown once; the older
// ones sign on for the overlap (overlap_seconds, default a day).
func (a *API) rotatePushSecret(c *gin.Context) {
	overlap, ok := a.secretOverlap(c)
	if !ok {
		return
	}
	ctx, now := c.Request.Context(), a.opts.Now().Truncate(time.Microsecond)
	sec, plaintext, err := a.opts.Push.RotateSecret(ctx, c.Param("name"), overlap, now)
	if errors.Is(err, pushkinds.ErrTooManySecrets) {
		httpx.Abort(c, http.StatusConflict, httpx.CodeConflict, fmt.Sprintf(
			"the kind has %d secrets that still sign: rotate with overlap_seconds 0, or wait for one to expire", pushkinds.MaxLiveSecrets), nil)
		return
	}
	if a.storeFailed(c, "rotate push secret", err, a.pushNotFound) {
		return
	}
	at := now.Add(overlap).UTC().Format(time.RFC3339Nano)
	c.JSON(http.StatusCreated, RotatedPushSecret{PushSecretView: pushSecretView(sec), Secret: plaintext, OthersExpireAt: &at})
}
