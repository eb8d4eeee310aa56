package api

import (
	"errors"
	"io/fs"
	"mime"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/hopperq/hopper/pkg/httpx"
	"github.com/hopperq/hopper/pkg/store/pg"
	"github.com/hopperq/hopper/services/gateway/internal/ui"
)

// sessionTTL bounds a dashboard session; the key itself stays valid.
const sessionTTL = 12 * time.Hour

// routeDashboard serves the web dashboard at /ui and its session endpoints.
func (a *API) routeDashboard(r *gin.Engine) {
	assets := ui.Assets()
	r.GET("/ui", func(c *gin.Context) { a.serveAsset(c, assets, "index.html") })
	r.GET("/ui/assets/*filepath", func(c *gin.Context) { a.serveAsset(c, assets, c.Param("filepath")[1:]) })
	r.POST("/ui/session", a.signIn)
	r.DELETE("/ui/session", a.signOut)
	r.GET("/ui/session", a.authenticate, a.whoami)
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

// signIn checks an API key (or the admin token) and keeps it in an
// HttpOnly, SameSite=Strict cookie. A JSON body is required: a cross-site
// form cannot send one, so no other site can sign a visitor in.
func (a *API) signIn(c *gin.Context) {
	if ct, _, _ := mime.ParseMediaType(c.GetHeader("Content-Type")); ct != "application/json" {
		httpx.Abort(c, http.StatusUnsupportedMediaType, httpx.CodeBadRequest, "send {\"key\": ...} as application/json", nil)
		return
	}
	var req signInRequest
	if !a.decodeJSON(c, &req) {
		return
	}
	if _, err := a.resolve(c.Request.Context(), req.Key); err != nil {
		if errors.Is(err, pg.ErrNotFound) || req.Key == "" {
			httpx.Abort(c, http.StatusUnauthorized, httpx.CodeUnauthorized, "invalid, revoked or inactive API key", nil)
			return
		}
		a.internalError(c, "sign in", err)
		return
	}
	http.SetCookie(c.Writer, &http.Cookie{
		Name: sessionCookie, Value: req.Key, Path: "/", MaxAge: int(sessionTTL.Seconds()),
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: isHTTPS(c),
	})
	c.Status(http.StatusNoContent)
}

func (a *API) signOut(c *gin.Context) {
	http.SetCookie(c.Writer, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: isHTTPS(c)})
	c.Status(http.StatusNoContent)
}

func isHTTPS(c *gin.Context) bool {
	return c.Request.TLS != nil || c.GetHeader("X-Forwarded-Proto") == "https"
}

// whoami tells the page who is signed in.
func (a *API) whoami(c *gin.Context) {
	p := currentPrincipal(c)
	if p.User == nil {
		c.JSON(http.StatusOK, gin.H{"email": nil, "role": "admin", "admin": true, "admin_token": true})
		return
	}
	c.JSON(http.StatusOK, gin.H{"id": p.User.ID.String(), "email": p.User.Email, "role": p.User.Role,
		"plan": p.User.Plan, "admin": p.isAdmin()})
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
	out := make([]gin.H, len(rows))
	var total, failed int64
	for i, r := range rows {
		out[i] = gin.H{"minute": r.Minute.UTC().Format(time.RFC3339), "succeeded": r.Succeeded, "failed": r.Failed, "cancelled": r.Cancelled}
		total += r.Succeeded + r.Failed + r.Cancelled
		failed += r.Failed
	}
	rate := 0.0
	if total > 0 {
		rate = float64(failed) / float64(total)
	}
	c.JSON(http.StatusOK, gin.H{"since": since.Format(time.RFC3339), "minutes": out,
		"finished": total, "failed": failed, "failure_rate": rate})
}
