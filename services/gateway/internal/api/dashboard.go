package api

import (
	"errors"
	"io/fs"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/hopperq/hopper/pkg/httpx"
	"github.com/hopperq/hopper/pkg/store/pg"
	"github.com/hopperq/hopper/services/gateway/internal/ui"
)

// routeDashboard serves the web dashboard at /ui and its session endpoints.
func (a *API) routeDashboard(r *gin.Engine) {
	assets := ui.Assets()
	r.GET("/ui", func(c *gin.Context) { a.serveAsset(c, assets, "index.html") })
	r.GET("/ui/assets/*filepath", func(c *gin.Context) { a.serveAsset(c, assets, c.Param("filepath")[1:]) })
	r.GET("/favicon.ico", func(c *gin.Context) { a.serveAsset(c, assets, "favicon.svg") })
	r.POST("/ui/session", a.signIn)
	r.DELETE("/ui/session", a.signOut)
	r.GET("/ui/session", a.whoami)
}

func (a *API) serveAsset(c *gin.Context, assets fs.FS, name string) {
	data, err := fs.ReadFile(assets, name)
	if err != nil {
		httpx.NotFound(c)
		return
	}
	ctype := mime.TypeByExtension(extOf(name))
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	// Everything the page loads comes from here: no CDN, no inline script.
	c.Header("Content-Security-Policy", "default-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'")
	c.Header("X-Content-Type-Options", "nosniff")
	c.Header("Cache-Control", "no-cache")
	c.Data(http.StatusOK, ctype, data)
}

func extOf(name string) string {
	for i := len(name) - 1; i >= 0 && name[i] != '/'; i-- {
		if name[i] == '.' {
			return name[i:]
		}
	}
	return ""
}

type signInRequest struct {
	Key string `json:"key"`
}

// signIn checks a user's API key and opens a server-side session: the
// cookie holds a random session id (HttpOnly, SameSite=Strict, Secure on
// TLS), never the key. The admin token is refused: it is the operator's
// credential for tools, not for a browser (an admin signs in with an
// admin user's key). A JSON body is required: a cross-site form cannot
// send one, so no other site can sign a visitor in.
func (a *API) signIn(c *gin.Context) {
	if ct, _, _ := mime.ParseMediaType(c.GetHeader("Content-Type")); ct != "application/json" {
		httpx.Abort(c, http.StatusUnsupportedMediaType, httpx.CodeBadRequest, "send {\"key\": ...} as application/json", nil)
		return
	}
	var req signInRequest
	if !a.decodeJSON(c, &req) {
		return
	}
	req.Key = strings.TrimSpace(req.Key)
	if req.Key == "" {
		httpx.Abort(c, http.StatusUnauthorized, httpx.CodeUnauthorized, "key: an API key is required", nil)
		return
	}
	p, err := a.resolve(c, req.Key)
	switch {
	case errors.Is(err, errAuthThrottled):
		return
	case errors.Is(err, pg.ErrNotFound):
		httpx.Abort(c, http.StatusUnauthorized, httpx.CodeUnauthorized, "invalid, revoked or inactive API key", nil)
		return
	case err != nil:
		a.internalError(c, "sign in", err)
		return
	case p.AdminToken:
		httpx.Abort(c, http.StatusForbidden, httpx.CodeForbidden,
			"the admin token is not a dashboard credential: sign in with an admin user's API key (hopperctl users create <email> -role admin; hopperctl keys create <user id>)", nil)
		return
	}
	id, err := a.db.accounts.CreateSession(c.Request.Context(), p.User.ID, p.KeyID, a.opts.Access.SessionMaxAge)
	if err != nil {
		a.internalError(c, "sign in", err)
		return
	}
	http.SetCookie(c.Writer, &http.Cookie{
		Name: sessionCookie, Value: id, Path: "/", MaxAge: int(a.opts.Access.SessionMaxAge.Seconds()),
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: isHTTPS(c),
	})
	c.Status(http.StatusNoContent)
}

// signOut deletes the session on the server, so the cookie's value is
// worthless even if it was copied, and clears the cookie.
func (a *API) signOut(c *gin.Context) {
	if id, err := c.Cookie(sessionCookie); err == nil && id != "" {
		if err := a.db.accounts.DeleteSession(c.Request.Context(), id); err != nil {
			a.internalError(c, "sign out", err)
			return
		}
	}
	http.SetCookie(c.Writer, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: isHTTPS(c)})
	c.Status(http.StatusNoContent)
}

func isHTTPS(c *gin.Context) bool {
	return c.Request.TLS != nil || c.GetHeader("X-Forwarded-Proto") == "https"
}

// sessionView answers GET /ui/session.
type sessionView struct {
	SignedIn bool    `json:"signed_in"`
	ID       string  `json:"id,omitempty"`
	Email    string  `json:"email,omitempty"`
	Role     string  `json:"role,omitempty"`
	Plan     string  `json:"plan,omitempty"`
	Admin    bool    `json:"admin"`
	Reason   *string `json:"reason,omitempty"`
}

// whoami tells the page who is signed in, or 200 {signed_in: false}: the
// page asks before anyone signed in, and that is no error.
func (a *API) whoami(c *gin.Context) {
	id, err := c.Cookie(sessionCookie)
	if err != nil || id == "" {
		c.JSON(http.StatusOK, sessionView{})
		return
	}
	p, err := a.resolveSession(c, id)
	switch {
	case errors.Is(err, errAuthThrottled):
		return
	case errors.Is(err, pg.ErrNotFound):
		reason := "the session ended (signed out, expired, key revoked or user deactivated)"
		c.JSON(http.StatusOK, sessionView{Reason: &reason})
		return
	case err != nil:
		a.internalError(c, "session", err)
		return
	}
	c.JSON(http.StatusOK, sessionView{SignedIn: true, ID: p.User.ID.String(), Email: p.User.Email,
		Role: p.User.Role, Plan: p.User.Plan, Admin: p.isAdmin()})
}

// me answers GET /v1/users/me.
func (a *API) me(c *gin.Context) {
	p := currentPrincipal(c)
	if p.User == nil {
		httpx.Abort(c, http.StatusNotFound, httpx.CodeNotFound, "the admin token is not a user", nil)
		return
	}
	c.JSON(http.StatusOK, userView(*p.User))
}

// stats answers GET /v1/stats?minutes=N: jobs finished per minute by state
// over the last N minutes (default 60, at most 1440), within the caller's
// scope.
func (a *API) stats(c *gin.Context) {
	minutes := 60
	if raw := c.Query("minutes"); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil || n < 1 || n > 1440 {
			httpx.Abort(c, http.StatusBadRequest, httpx.CodeBadRequest, "minutes: want an integer 1-1440", nil)
			return
		}
		minutes = n
	}
	since := a.opts.Now().UTC().Truncate(time.Minute).Add(-time.Duration(minutes-1) * time.Minute)
	rows, err := a.db.reports.FinishedPerMinute(c.Request.Context(), currentPrincipal(c).ownerScope(), since)
	if err != nil {
		a.internalError(c, "stats", err)
		return
	}
	out := StatsView{Since: since.Format(time.RFC3339), Minutes: make([]StatsMinute, len(rows))}
	for i, r := range rows {
		out.Minutes[i] = StatsMinute{Minute: r.Minute.UTC().Format(time.RFC3339), Succeeded: r.Succeeded, Failed: r.Failed, Cancelled: r.Cancelled}
		out.Finished += r.Succeeded + r.Failed + r.Cancelled
		out.Failed += r.Failed
	}
	if out.Finished > 0 {
		out.FailureRate = float64(out.Failed) / float64(out.Finished)
	}
	c.JSON(http.StatusOK, out)
}

// StatsView answers GET /v1/stats: jobs finished per minute by state
// since Since (minutes with none are absent), and the totals.
type StatsView struct {
	Since       string        `json:"since"`
	Minutes     []StatsMinute `json:"minutes"`
	Finished    int64         `json:"finished"`
	Failed      int64         `json:"failed"`
	FailureRate float64       `json:"failure_rate"`
}

// StatsMinute is one minute of GET /v1/stats.
type StatsMinute struct {
	Minute    string `json:"minute"`
	Succeeded int64  `json:"succeeded"`
	Failed    int64  `json:"failed"`
	Cancelled int64  `json:"cancelled"`
}
