package api

import (
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/hopperq/hopper/pkg/httpx"
	"github.com/hopperq/hopper/pkg/store/accounts"
)

// Bounds of a worker token.
const (
	workerTokenMaxQueues      = 32
	workerTokenMaxNameBytes   = 64
	workerTokenDefaultFlight  = 16
	workerTokenMaxInFlightCap = 1000
)

// WorkerTokenRequest is POST /v1/admin/worker-tokens's body.
type WorkerTokenRequest struct {
	Name   string   `json:"name"`
	Queues []string `json:"queues"`
	// MaxInFlight bounds the jobs the token's workers hold plus the
	// claims they wait on (default 16).
	MaxInFlight int `json:"max_in_flight"`
}

// WorkerTokenCreated is the answer: the token, shown this once.
type WorkerTokenCreated struct {
	accounts.WorkerToken
	Token string `json:"token"`
	Note  string `json:"note"`
}

// WorkerTokenList is GET /v1/admin/worker-tokens's answer.
type WorkerTokenList struct {
	Tokens []accounts.WorkerToken `json:"tokens"`
}

// createWorkerToken issues a token for external workers of the named
// queues.
func (a *API) createWorkerToken(c *gin.Context) {
	var req WorkerTokenRequest
	if !a.decodeJSON(c, &req) {
		return
	}
	req.Name = strings.TrimSpace(req.Name)
	switch {
	case req.Name == "" || len(req.Name) > workerTokenMaxNameBytes || !validServiceLike(req.Name):
		httpx.Abort(c, http.StatusUnprocessableEntity, httpx.CodeUnprocessable,
			"name: want 1 to 64 lower-case letters, digits and '-'", map[string]any{"field": "name"})
		return
	case len(req.Queues) == 0 || len(req.Queues) > workerTokenMaxQueues:
		httpx.Abort(c, http.StatusUnprocessableEntity, httpx.CodeUnprocessable,
			"queues: want 1 to 32 queue names", map[string]any{"field": "queues"})
		return
	case req.MaxInFlight < 0 || req.MaxInFlight > workerTokenMaxInFlightCap:
		httpx.Abort(c, http.StatusUnprocessableEntity, httpx.CodeUnprocessable,
			"max_in_flight: want 1 to 1000", map[string]any{"field": "max_in_flight"})
		return
	}
	for _, q := range req.Queues {
		if q == "" || len(q) > 64 || strings.ContainsAny(q, ".#* ") {
			httpx.Abort(c, http.StatusUnprocessableEntity, httpx.CodeUnprocessable,
				"queues: "+q+" is not a queue name", map[string]any{"field": "queues"})
			return
		}
	}
	if req.MaxInFlight == 0 {
		req.MaxInFlight = workerTokenDefaultFlight
	}
	t, plaintext, err := a.db.accounts.CreateWorkerToken(c.Request.Context(), req.Name, req.Queues, req.MaxInFlight)
	if err != nil {
		a.internalError(c, "create worker token", err)
		return
	}
	c.JSON(http.StatusCreated, WorkerTokenCreated{WorkerToken: t, Token: plaintext,
		Note: "store this token now: it is not shown again"})
}

func (a *API) listWorkerTokens(c *gin.Context) {
	ts, err := a.db.accounts.ListWorkerTokens(c.Request.Context())
	if err != nil {
		a.internalError(c, "list worker tokens", err)
		return
	}
	c.JSON(http.StatusOK, WorkerTokenList{Tokens: ts})
}

// validServiceLike reports whether name is a DNS label, as service names
// are.
func validServiceLike(name string) bool {
	for i, r := range name {
		ok := (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') || (r == '-' && i > 0 && i < len(name)-1)
		if !ok {
			return false
		}
	}
	return true
}
