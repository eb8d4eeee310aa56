package api

import (
	"errors"
	"net/http"
	"net/mail"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/hopperq/hopper/pkg/httpx"
	"github.com/hopperq/hopper/pkg/store/accounts"
	"github.com/hopperq/hopper/pkg/store/pg"
)

type createUserRequest struct {
	Email string `json:"email"`
	Plan  string `json:"plan"`
	Role  string `json:"role"`
}

func (a *API) createUser(c *gin.Context) {
	var req createUserRequest
	if !a.decodeJSON(c, &req) {
		return
	}
	req.Email = strings.TrimSpace(req.Email)
	if _, err := mail.ParseAddress(req.Email); err != nil || req.Email == "" {
		httpx.Abort(c, http.StatusUnprocessableEntity, httpx.CodeUnprocessable, "email: not a valid address", map[string]any{"field": "email"})
		return
	}
	req.Plan = strings.TrimSpace(req.Plan)
	if req.Plan == "" {
		req.Plan = accounts.DefaultPlan
	}
	if req.Role == "" {
		req.Role = accounts.RoleUser
	}
	if req.Role != accounts.RoleUser && req.Role != accounts.RoleAdmin {
		httpx.Abort(c, http.StatusUnprocessableEntity, httpx.CodeUnprocessable, "role: want user or admin", map[string]any{"field": "role"})
		return
	}
	u, err := a.db.accounts.CreateUser(c.Request.Context(), req.Email, req.Role, req.Plan)
	if errors.Is(err, pg.ErrConflict) {
		httpx.Abort(c, http.StatusConflict, httpx.CodeConflict, "a user with this email exists", nil)
		return
	}
	if errors.Is(err, accounts.ErrUnknownPlan) {
		a.unknownPlan(c, req.Plan)
		return
	}
	if err != nil {
		a.internalError(c, "create user", err)
		return
	}
	c.JSON(http.StatusCreated, userView(u))
}

func userView(u accounts.User) gin.H {
	return gin.H{"id": u.ID.String(), "email": u.Email, "role": u.Role, "plan": u.Plan,
		"active": u.Active, "created_at": rfc3339(&u.CreatedAt)}
}

// createKey issues an API key; its secret is in this answer only.
func (a *API) createKey(c *gin.Context) {
	userID, err := uuid.Parse(c.Param("id"))
	if err != nil {
		httpx.Abort(c, http.StatusNotFound, httpx.CodeNotFound, "user not found", nil)
		return
	}
	key, plaintext, err := a.db.accounts.CreateAPIKey(c.Request.Context(), userID)
	if errors.Is(err, pg.ErrNotFound) {
		httpx.Abort(c, http.StatusNotFound, httpx.CodeNotFound, "user not found", nil)
		return
	}
	if err != nil {
		a.internalError(c, "create key", err)
		return
	}
	c.JSON(http.StatusCreated, gin.H{"id": key.ID.String(), "user_id": userID.String(), "prefix": key.Prefix,
		"key": plaintext, "created_at": rfc3339(&key.CreatedAt),
		"note": "store this key now: it is not shown again"})
}

func (a *API) revokeKey(c *gin.Context) {
	id, err := uuid.Parse(c.Param("id"))
	if err != nil {
		httpx.Abort(c, http.StatusNotFound, httpx.CodeNotFound, "key not found", nil)
		return
	}
	err = a.db.accounts.RevokeAPIKey(c.Request.Context(), id)
	a.keys.forget()
	if errors.Is(err, pg.ErrNotFound) {
		httpx.Abort(c, http.StatusNotFound, httpx.CodeNotFound, "key not found", nil)
		return
	}
	if err != nil {
		a.internalError(c, "revoke key", err)
		return
	}
	c.Status(http.StatusNoContent)
}
