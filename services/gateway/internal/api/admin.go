package api

import (
	"context"
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

// UserView is a user as GET /v1/users/me and the admin's user routes
// show it.
type UserView struct {
	ID        string  `json:"id"`
	Email     string  `json:"email"`
	Role      string  `json:"role"`
	Plan      string  `json:"plan"`
	Active    bool    `json:"active"`
	CreatedAt *string `json:"created_at"`
}

func userView(u accounts.User) UserView {
	return UserView{ID: u.ID.String(), Email: u.Email, Role: u.Role, Plan: u.Plan,
		Active: u.Active, CreatedAt: rfc3339(&u.CreatedAt)}
}

// CreatedAPIKey answers POST /v1/admin/users/{id}/keys: the new key with
// its secret, shown in this answer only.
type CreatedAPIKey struct {
	ID        string  `json:"id"`
	UserID    string  `json:"user_id"`
	Prefix    string  `json:"prefix"`
	Key       string  `json:"key"`
	CreatedAt *string `json:"created_at"`
	Note      string  `json:"note"`
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
	c.JSON(http.StatusCreated, CreatedAPIKey{ID: key.ID.String(), UserID: userID.String(), Prefix: key.Prefix,
		Key: plaintext, CreatedAt: rfc3339(&key.CreatedAt),
		Note: "store this key now: it is not shown again"})
}

// revoker answers the DELETE of a credential (an API key, a worker
// token): 204 once revoked, 404 for an unknown id. This gateway forgets
// it at once even if its listener is down; the others hear it from
// Postgres.
func (a *API) revoker(what string, revoke func(context.Context, uuid.UUID) error,
	change func(uuid.UUID) accounts.AuthChange) gin.HandlerFunc {
	return func(c *gin.Context) {
		id, err := uuid.Parse(c.Param("id"))
		if err != nil {
			httpx.Abort(c, http.StatusNotFound, httpx.CodeNotFound, what+" not found", nil)
			return
		}
		err = revoke(c.Request.Context(), id)
		a.authChanged(change(id))
		if errors.Is(err, pg.ErrNotFound) {
			httpx.Abort(c, http.StatusNotFound, httpx.CodeNotFound, what+" not found", nil)
			return
		}
		if err != nil {
			a.internalError(c, "revoke "+what, err)
			return
		}
		c.Status(http.StatusNoContent)
	}
}

// keyView is an API key as the admin's list shows it: no secret (none is
// stored), only what tells keys apart and whether they work.
type keyView struct {
	ID         string  `json:"id"`
	UserID     string  `json:"user_id"`
	Prefix     string  `json:"prefix"`
	CreatedAt  any     `json:"created_at"`
	LastUsedAt any     `json:"last_used_at"`
	RevokedAt  any     `json:"revoked_at"`
	Active     bool    `json:"active"`
	Note       *string `json:"note,omitempty"`
}

type keyList struct {
	Keys []keyView `json:"keys"`
}

// listKeys answers GET /v1/admin/users/{id}/keys, newest first.
func (a *API) listKeys(c *gin.Context) {
	userID, err := uuid.Parse(c.Param("id"))
	if err != nil {
		httpx.Abort(c, http.StatusNotFound, httpx.CodeNotFound, "user not found", nil)
		return
	}
	keys, err := a.db.accounts.ListAPIKeys(c.Request.Context(), userID)
	if a.storeFailed(c, "list keys", err, func(c *gin.Context) {
		httpx.Abort(c, http.StatusNotFound, httpx.CodeNotFound, "user not found", nil)
	}) {
		return
	}
	out := keyList{Keys: make([]keyView, len(keys))}
	for i, k := range keys {
		out.Keys[i] = keyView{ID: k.ID.String(), UserID: k.UserID.String(), Prefix: k.Prefix,
			CreatedAt: rfc3339(&k.CreatedAt), LastUsedAt: rfc3339(k.LastUsedAt), RevokedAt: rfc3339(k.RevokedAt),
			Active: k.RevokedAt == nil}
	}
	c.JSON(http.StatusOK, out)
}

// setUserActive answers POST /v1/admin/users/{id}/deactivate and
// /activate. Deactivating stops every key and dashboard session of the
// user on every gateway at once (Postgres announces it) and ends the
// user's open event streams; the user's jobs stay.
func (a *API) setUserActive(active bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		userID, err := uuid.Parse(c.Param("id"))
		if err != nil {
			httpx.Abort(c, http.StatusNotFound, httpx.CodeNotFound, "user not found", nil)
			return
		}
		err = a.db.accounts.SetUserActive(c.Request.Context(), userID, active)
		if a.storeFailed(c, "set user active", err, func(c *gin.Context) {
			httpx.Abort(c, http.StatusNotFound, httpx.CodeNotFound, "user not found", nil)
		}) {
			return
		}
		// This gateway acts at once even if its listener is down.
		a.authChanged(accounts.AuthChange{UserID: userID})
		u, err := a.db.accounts.GetUser(c.Request.Context(), userID)
		if a.storeFailed(c, "get user", err, func(c *gin.Context) {
			httpx.Abort(c, http.StatusNotFound, httpx.CodeNotFound, "user not found", nil)
		}) {
			return
		}
		c.JSON(http.StatusOK, userView(u))
	}
}
