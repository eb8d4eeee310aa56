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
	out := make([]gin.H, len(ws))
	for i, w := range ws {
		out[i] = gin.H{"id": w.ID, "service": w.Service, "host": w.Host, "pid": w.PID, "queues": w.Queues,
			"concurrency": w.Concurrency, "in_flight": w.InFlight, "paused_queues": w.PausedQueues,
			"started_at": rfc3339(&w.StartedAt), "last_seen_at": rfc3339(&w.LastSeenAt)}
	}
	c.JSON(http.StatusOK, gin.H{"workers": out})
}
