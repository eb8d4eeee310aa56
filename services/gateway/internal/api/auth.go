package api

import (
	"context"
	"crypto/subtle"
	"errors"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/hopperq/hopper/pkg/httpx"
	"github.com/hopperq/hopper/pkg/store/accounts"
	"github.com/hopperq/hopper/pkg/store/pg"
)

// principal is who made the request: a user (by API key) or the operator
// holding HOPPER_ADMIN_TOKEN (no user).
type principal struct {
	User *accounts.User
	// KeyID is the API key's id (uuid.Nil for the admin token); uploads
	// are bounded per key.
	KeyID      uuid.UUID
	AdminToken bool
	// Worker is an external worker's token: it may call /v1/worker/*
	// only.
	Worker *accounts.WorkerToken
}

func (p principal) isAdmin() bool {
	return p.AdminToken || (p.User != nil && p.User.Role == accounts.RoleAdmin)
}

// ownerScope is the owner filter for job reads: admins see every job,
// users only their own.
func (p principal) ownerScope() *uuid.UUID {
	if p.isAdmin() {
		return nil
	}
	id := p.User.ID
	return &id
}

const principalKey = "hopper.principal"

func currentPrincipal(c *gin.Context) principal {
	p, _ := c.Get(principalKey)
	pr, _ := p.(principal)
	return pr
}

// authenticate accepts "Authorization: Bearer <key>" with a user's API key
// or the admin token, or the dashboard's session cookie holding one.
// Cookie-authenticated requests that change state must carry the
// X-Hopper-CSRF header, which a cross-site form or image cannot send.
func (a *API) authenticate(c *gin.Context) {
	token, fromCookie := bearerToken(c)
	if token == "" {
		c.Header("WWW-Authenticate", `Bearer realm="hopper"`)
		httpx.Abort(c, http.StatusUnauthorized, httpx.CodeUnauthorized,
			"missing API key: send Authorization: Bearer <key>", nil)
		return
	}
	if fromCookie && !safeMethod(c.Request.Method) && c.GetHeader(csrfHeader) == "" {
		httpx.Abort(c, http.StatusForbidden, httpx.CodeForbidden, "missing "+csrfHeader+" header on a cookie-authenticated request", nil)
		return
	}
	p, err := a.resolve(c.Request.Context(), token)
	if errors.Is(err, pg.ErrNotFound) {
		c.Header("WWW-Authenticate", `Bearer realm="hopper", error="invalid_token"`)
		httpx.Abort(c, http.StatusUnauthorized, httpx.CodeUnauthorized, "invalid, revoked or inactive API key", nil)
		return
	}
	if err != nil {
		a.internalError(c, "authenticate", err)
		return
	}
	if p.Worker != nil {
		// A worker token neither submits nor reads jobs: it is no user.
		httpx.Abort(c, http.StatusForbidden, httpx.CodeForbidden, "a worker token may only call /v1/worker/*", nil)
		return
	}
	c.Set(principalKey, p)
	c.Next()
}

// authenticateWorker accepts "Authorization: Bearer <worker token>" only
// (no cookie, no API key): the pull protocol's credential.
func (a *API) authenticateWorker(c *gin.Context) {
	token, ok := strings.CutPrefix(c.GetHeader("Authorization"), "Bearer ")
	token = strings.TrimSpace(token)
	if !ok || token == "" {
		c.Header("WWW-Authenticate", `Bearer realm="hopper-worker"`)
		httpx.Abort(c, http.StatusUnauthorized, httpx.CodeUnauthorized,
			"missing worker token: send Authorization: Bearer <worker token>", nil)
		return
	}
	if !strings.HasPrefix(token, accounts.WorkerTokenScheme) {
		httpx.Abort(c, http.StatusForbidden, httpx.CodeForbidden,
			"/v1/worker/* takes a worker token (hwt_…), created by an admin at POST /v1/admin/worker-tokens", nil)
		return
	}
	p, err := a.resolve(c.Request.Context(), token)
	if errors.Is(err, pg.ErrNotFound) {
		c.Header("WWW-Authenticate", `Bearer realm="hopper-worker", error="invalid_token"`)
		httpx.Abort(c, http.StatusUnauthorized, httpx.CodeUnauthorized, "invalid or revoked worker token", nil)
		return
	}
	if err != nil {
		a.internalError(c, "authenticate worker", err)
		return
	}
	c.Set(principalKey, p)
	c.Next()
}

// Cookie and header of the dashboard's session.
const (
	sessionCookie = "hopper_session"
	csrfHeader    = "X-Hopper-CSRF"
)

// bearerToken returns the request's credential and whether it came from
// the session cookie.
func bearerToken(c *gin.Context) (string, bool) {
	if token, ok := strings.CutPrefix(c.GetHeader("Authorization"), "Bearer "); ok {
		return strings.TrimSpace(token), false
	}
	if v, err := c.Cookie(sessionCookie); err == nil && v != "" {
		return v, true
	}
	return "", false
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// resolve maps a credential to its principal; ErrNotFound when it is
// invalid, revoked or its user inactive.
func (a *API) resolve(ctx context.Context, token string) (principal, error) {
	if a.opts.AdminToken != "" && subtle.ConstantTimeCompare([]byte(token), []byte(a.opts.AdminToken)) == 1 {
		return principal{AdminToken: true}, nil
	}
	now := a.opts.Now()
	if p, ok := a.keys.get(token, now); ok {
		return p, nil
	}
	if strings.HasPrefix(token, accounts.WorkerTokenScheme) {
		t, err := a.db.accounts.AuthenticateWorker(ctx, token)
		if err != nil {
			return principal{}, err
		}
		p := principal{Worker: &t}
		a.keys.put(token, p, now)
		return p, nil
	}
	user, key, err := a.db.accounts.Authenticate(ctx, token)
	if err != nil {
		return principal{}, err
	}
	p := principal{User: &user, KeyID: key.ID}
	a.keys.put(token, p, now)
	return p, nil
}

func (a *API) requireAdmin(c *gin.Context) {
	if !currentPrincipal(c).isAdmin() {
		httpx.Abort(c, http.StatusForbidden, httpx.CodeForbidden, "admin role required", nil)
		return
	}
	c.Next()
}

// internalError logs err and answers 503 for database trouble: the client
// may retry, and the body never carries internals.
func (a *API) internalError(c *gin.Context, op string, err error) {
	a.log.Error("request failed", zap.String("op", op), zap.Error(err))
	httpx.Abort(c, http.StatusServiceUnavailable, httpx.CodeUnavailable,
		"the service could not complete the request; retry shortly", nil)
}

// storeFailed answers a store call's error and reports whether it did:
// pg.ErrNotFound with notFound (the resource's 404), anything else as
// an internal error.
func (a *API) storeFailed(c *gin.Context, op string, err error, notFound func(*gin.Context)) bool {
	switch {
	case err == nil:
		return false
	case errors.Is(err, pg.ErrNotFound):
		notFound(c)
	default:
		a.internalError(c, op, err)
	}
	return true
}
