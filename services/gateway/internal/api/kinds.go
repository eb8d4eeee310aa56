package api

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/hopperq/hopper/pkg/httpx"
	"github.com/hopperq/hopper/pkg/jobs"
	"github.com/hopperq/hopper/pkg/store/pg"
)

// KindCatalog is the kind catalogue as the API reads it: lookups for
// submits, and the whole list for GET /v1/kinds.
type KindCatalog interface {
	jobs.Catalog
	Kinds() []jobs.Kind
}

// KindView is a kind as GET /v1/kinds shows it.
type KindView struct {
	Name               string          `json:"name"`
	Queue              string          `json:"queue"`
	Service            string          `json:"service"`
	Description        string          `json:"description,omitempty"`
	DefaultPriority    int             `json:"default_priority"`
	MaxAttempts        int             `json:"max_attempts"`
	TimeoutSeconds     float64         `json:"timeout_seconds"`
	MaxTimeoutSeconds  float64         `json:"max_timeout_seconds"`
	BackoffBaseSeconds float64         `json:"backoff_base_seconds"`
	BackoffCapSeconds  float64         `json:"backoff_cap_seconds"`
	PayloadSchema      json.RawMessage `json:"payload_schema,omitempty"`
	Version            string          `json:"version,omitempty"`
	// Visibility is who may submit the kind: public (anyone), admin
	// (users with the admin role) or internal (no client: Hopper creates
	// its jobs — a route, a follow-up, a schedule).
	Visibility string `json:"visibility"`
	// Submittable says whether the caller may submit it with POST
	// /v1/jobs; a submit it is false for answers 403.
	Submittable bool `json:"submittable"`
	// Workers counts the live worker instances running the kind; 0 means
	// its jobs are accepted and wait in their queue until one starts.
	Workers int `json:"workers"`
}

// KindList is the answer of GET /v1/kinds.
type KindList struct {
	Kinds []KindView `json:"kinds"`
}

// kindView is k as p sees it.
func kindView(k jobs.Kind, workers int, p principal) KindView {
	visibility := k.Visibility
	if visibility == "" {
		visibility = jobs.VisibilityPublic
	}
	return KindView{Name: k.Name, Queue: k.Queue, Service: k.Service, Description: k.Description,
		DefaultPriority: int(k.DefaultPriority), MaxAttempts: k.MaxAttempts,
		TimeoutSeconds: k.Timeout.Seconds(), MaxTimeoutSeconds: k.MaxTimeout.Seconds(),
		BackoffBaseSeconds: k.BackoffBase.Seconds(), BackoffCapSeconds: k.BackoffCap.Seconds(),
		PayloadSchema: k.Schema, Version: k.Version, Workers: workers,
		Visibility: string(visibility), Submittable: p.User != nil && visibility.Submittable(p.isAdmin())}
}

// listKinds answers GET /v1/kinds: every kind the gateway accepts, with
// its defaults, payload schema, live worker count, visibility and whether
// the caller may submit it. Internal and admin kinds are listed for
// everyone, marked, not hidden: users see jobs of internal kinds among
// their own (a document's ingest, a webhook delivery), and a kind they
// can look up explains a 403 better than one that seems not to exist.
func (a *API) listKinds(c *gin.Context) {
	workers, err := a.db.fleet.KindWorkers(c.Request.Context(), workersSeenWithin)
	if err != nil {
		a.internalError(c, "count workers per kind", err)
		return
	}
	kinds := a.opts.Registry.Kinds()
	out := KindList{Kinds: make([]KindView, len(kinds))}
	for i, k := range kinds {
		out.Kinds[i] = kindView(k, workers[k.Name], currentPrincipal(c))
	}
	c.JSON(http.StatusOK, out)
}

// getKind answers GET /v1/kinds/{name}.
func (a *API) getKind(c *gin.Context) {
	k, ok := a.opts.Registry.Lookup(c.Param("name"))
	if !ok {
		httpx.Abort(c, http.StatusNotFound, httpx.CodeNotFound, "kind not found",
			map[string]any{"valid_kinds": a.opts.Registry.Names()})
		return
	}
	workers, err := a.db.fleet.KindWorkers(c.Request.Context(), workersSeenWithin)
	if err != nil {
		a.internalError(c, "count workers per kind", err)
		return
	}
	c.JSON(http.StatusOK, kindView(k, workers[k.Name], currentPrincipal(c)))
}

// deleteKind answers DELETE /v1/admin/kinds/{name} (admins): the kind
// leaves the catalogue, so new submits are refused; its jobs stay, and a
// worker running it publishes it again when it starts.
func (a *API) deleteKind(c *gin.Context) {
	err := a.db.fleet.DeleteKind(c.Request.Context(), c.Param("name"))
	if errors.Is(err, pg.ErrNotFound) {
		httpx.Abort(c, http.StatusNotFound, httpx.CodeNotFound, "kind not in the published catalogue", nil)
		return
	}
	if err != nil {
		a.internalError(c, "delete kind", err)
		return
	}
	c.Status(http.StatusNoContent)
}
