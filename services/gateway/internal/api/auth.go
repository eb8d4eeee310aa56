package api

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/hopperq/hopper/pkg/httpx"
	"github.com/hopperq/hopper/pkg/store/accounts"
	"github.com/hopperq/hopper/pkg/store/pg"
)

// principal is who made the request: a user (by API key or dashboard
// session) or the operator holding HOPPER_ADMIN_TOKEN (no user).
type principal struct {
	User *accounts.User
	// KeyID is the API key that authenticated the request, or that signed
	// the dashboard session in (uuid.Nil for the admin token); uploads
	// and event streams are bounded per key.
	KeyID      uuid.UUID
	AdminToken bool
	// Session is the dashboard session's id when the request came with
	// the session cookie, so a stream can check it again.
	Session string
	// Worker is an external worker's token: it may call /v1/worker/*
	// only.
	Worker *accounts.WorkerToken
}

func (p principal) isAdmin() bool {
	return p.AdminToken || (p.User != nil && p.User.Role == accounts.RoleAdmin)
}

// streamBucket is what the per-key stream cap counts against.
func (p principal) streamBucket() string {
	if p.AdminToken {
		return "admin-token"
	}
	return p.KeyID.String()
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
// or the admin token, or the dashboard's session cookie. Cookie-
// authenticated requests that change state must carry the X-Hopper-CSRF
// header, which a cross-site form or image cannot send.
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
	var (
		p   principal
		err error
	)
	if fromCookie {
		p, err = a.resolveSession(c, token)
	} else {
		p, err = a.resolve(c, token)
	}
	if errors.Is(err, errAuthThrottled) {
		return // answered
	}
	if errors.Is(err, pg.ErrNotFound) {
		if fromCookie {
			httpx.Abort(c, http.StatusUnauthorized, httpx.CodeUnauthorized, "the dashboard session ended; sign in again", nil)
			return
		}
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
	p, err := a.resolve(c, token)
	if errors.Is(err, errAuthThrottled) {
		return // answered
	}
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

// errAuthThrottled: the client used up its failed authentications; the
// answer (429) is written.
var errAuthThrottled = errors.New("authentication throttled")

// resolve maps an API key or the admin token to its principal; ErrNotFound
// when it is invalid, revoked or its user inactive. Keys this gateway
// resolved lately come from the cache; an unknown key from a client over
// its failure budget is refused (429) without a lookup.
func (a *API) resolve(c *gin.Context, token string) (principal, error) {
	if a.opts.AdminToken != "" && subtle.ConstantTimeCompare([]byte(token), []byte(a.opts.AdminToken)) == 1 {
		return principal{AdminToken: true}, nil
	}
	now := a.opts.Now()
	if p, ok := a.keys.get(token, now); ok {
		return p, nil
	}
	if a.throttled(c, now) {
		return principal{}, errAuthThrottled
	}
	if a.failures.knownBad(token, now) {
		a.failures.fail(c.ClientIP(), token, now)
		return principal{}, fmt.Errorf("authenticate: %w", pg.ErrNotFound)
	}
	ctx := c.Request.Context()
	if strings.HasPrefix(token, accounts.WorkerTokenScheme) {
		t, err := a.db.accounts.AuthenticateWorker(ctx, token)
		if errors.Is(err, pg.ErrNotFound) {
			a.failures.fail(c.ClientIP(), token, now)
		}
		if err != nil {
			return principal{}, err
		}
		p := principal{Worker: &t}
		a.keys.put(token, p, now)
		return p, nil
	}
	user, key, err := a.db.accounts.Authenticate(ctx, token)
	if errors.Is(err, pg.ErrNotFound) {
		a.failures.fail(c.ClientIP(), token, now)
	}
	if err != nil {
		return principal{}, err
	}
	p := principal{User: &user, KeyID: key.ID}
	a.keys.put(token, p, now)
	return p, nil
}

// resolveSession maps a dashboard session id to its principal, from the
// database each time: sessions serve a person's browser, not a busy
// client, and sign-out or revocation must end them on every replica at
// once.
func (a *API) resolveSession(c *gin.Context, id string) (principal, error) {
	now := a.opts.Now()
	if a.throttled(c, now) {
		return principal{}, errAuthThrottled
	}
	user, sess, err := a.db.accounts.SessionUser(c.Request.Context(), id, a.opts.Access.SessionIdle)
	if errors.Is(err, pg.ErrNotFound) {
		a.failures.fail(c.ClientIP(), id, now)
	}
	if err != nil {
		return principal{}, err
	}
	return principal{User: &user, KeyID: sess.KeyID, Session: id}, nil
}

// throttled answers 429 when the client used up its failed
// authentications.
func (a *API) throttled(c *gin.Context, now time.Time) bool {
	blocked, retry := a.failures.blocked(c.ClientIP(), now)
	if !blocked {
		return false
	}
	secs := int(retry.Seconds()) + 1
	c.Header("Retry-After", strconv.Itoa(secs))
	httpx.Abort(c, http.StatusTooManyRequests, httpx.CodeRateLimited,
		"too many failed authentications from this address; retry later", map[string]any{"retry_after_seconds": secs})
	return true
}

// recheck tells whether p's credential still holds, bypassing every
// cache: what an open event stream asks periodically and when told its
// key or user changed. ErrNotFound when it does not.
func (a *API) recheck(ctx context.Context, p principal) error {
	switch {
	case p.AdminToken:
		return nil
	case p.Session != "":
		_, _, err := a.db.accounts.SessionUser(ctx, p.Session, a.opts.Access.SessionIdle)
		return err
	default:
		return a.db.accounts.KeyActive(ctx, p.KeyID)
	}
}

// authChanged applies a key or user change announced by Postgres (any
// gateway's revocation): the cached keys of that key or user go, their
// open streams check their credential at once, and credentials that
// failed lately may be tried again (the change may be an activation).
func (a *API) authChanged(ch accounts.AuthChange) {
	a.keys.drop(ch)
	a.failures.forgetBad()
	a.streams.changed(ch)
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
