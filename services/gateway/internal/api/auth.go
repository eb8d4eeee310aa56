package api

import (
	"crypto/subtle"
	"errors"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/hopperq/hopper/pkg/httpx"
	"github.com/hopperq/hopper/pkg/store"
)

// principal is who made the request: a user (by API key) or the operator
// holding HOPPER_ADMIN_TOKEN (no user).
type principal struct {
	User       *store.User
	AdminToken bool
}

func (p principal) isAdmin() bool {
	return p.AdminToken || (p.User != nil && p.User.Role == store.RoleAdmin)
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
// or the admin token.
func (a *API) authenticate(c *gin.Context) {
	header := c.GetHeader("Authorization")
	token, ok := strings.CutPrefix(header, "Bearer ")
	token = strings.TrimSpace(token)
	if !ok || token == "" {
		c.Header("WWW-Authenticate", `Bearer realm="hopper"`)
		httpx.Abort(c, http.StatusUnauthorized, httpx.CodeUnauthorized,
			"missing API key: send Authorization: Bearer <key>", nil)
		return
	}
	if a.opts.AdminToken != "" && subtle.ConstantTimeCompare([]byte(token), []byte(a.opts.AdminToken)) == 1 {
		c.Set(principalKey, principal{AdminToken: true})
		c.Next()
		return
	}
	user, _, err := a.opts.Store.Authenticate(c.Request.Context(), token)
	if errors.Is(err, store.ErrNotFound) {
		c.Header("WWW-Authenticate", `Bearer realm="hopper", error="invalid_token"`)
		httpx.Abort(c, http.StatusUnauthorized, httpx.CodeUnauthorized, "invalid, revoked or inactive API key", nil)
		return
	}
	if err != nil {
		a.internalError(c, "authenticate", err)
		return
	}
	c.Set(principalKey, principal{User: &user})
	c.Next()
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
