package api

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
)

// workersSeenWithin is how recent a worker's registry heartbeat must be
// for GET /v1/workers to list it: several heartbeat periods, so a busy
// database does not make live workers flicker, short enough that a
// crashed one drops out soon.
const workersSeenWithin = 30 * time.Second

// listWorkers answers GET /v1/workers (admins): the worker instances seen
// lately, newest first.
func (a *API) listWorkers(c *gin.Context) {
	ws, err := a.db.fleet.ListWorkers(c.Request.Context(), workersSeenWithin)
	if err != nil {
		a.internalError(c, "list workers", err)
		return
	}
	out := WorkerList{Workers: make([]WorkerView, len(ws))}
	for i, w := range ws {
		out.Workers[i] = WorkerView{ID: w.ID, Service: w.Service, Host: w.Host, PID: w.PID, Queues: w.Queues,
			Concurrency: w.Concurrency, InFlight: w.InFlight, PausedQueues: w.PausedQueues,
			StartedAt: rfc3339(&w.StartedAt), LastSeenAt: rfc3339(&w.LastSeenAt)}
	}
	c.JSON(http.StatusOK, out)
}

// WorkerList answers GET /v1/workers, newest first.
type WorkerList struct {
	Workers []WorkerView `json:"workers"`
}

// WorkerView is a worker instance as its registry heartbeat describes it.
type WorkerView struct {
	ID           string   `json:"id"`
	Service      string   `json:"service"`
	Host         string   `json:"host"`
	PID          int      `json:"pid"`
	Queues       []string `json:"queues"`
	Concurrency  int      `json:"concurrency"`
	InFlight     int      `json:"in_flight"`
	PausedQueues []string `json:"paused_queues"`
	StartedAt    *string  `json:"started_at"`
	LastSeenAt   *string  `json:"last_seen_at"`
}
