package api

import (
	"cmp"
	"context"
	"errors"
	"net/http"
	"slices"

	"github.com/gin-gonic/gin"
	"go.uber.org/zap"

	"github.com/hopperq/hopper/pkg/broker"
	"github.com/hopperq/hopper/pkg/httpx"
	"github.com/hopperq/hopper/pkg/store/jobstore"
)

// QueueList answers GET /v1/queues.
type QueueList struct {
	Queues []QueueView `json:"queues"`
}

// QueueView is one queue in GET /v1/queues. Broker figures are null when
// the broker could not be read (then error says why) or, for unacked and
// the rates, when source is "amqp", which does not tell them.
type QueueView struct {
	Name                 string   `json:"name"`
	AMQPName             string   `json:"amqp_name"`
	Source               string   `json:"source"`
	Ready                *int     `json:"ready"`
	Unacked              *int     `json:"unacked"`
	Consumers            *int     `json:"consumers"`
	PublishRate          *float64 `json:"publish_rate"`
	DeliverRate          *float64 `json:"deliver_rate"`
	OldestWaitingSeconds float64  `json:"oldest_waiting_seconds"`
	Held                 int64    `json:"held"`
	Paused               bool     `json:"paused"`
	ManagementURL        string   `json:"management_url,omitempty"`
	Error                string   `json:"error,omitempty"`
}

// listQueues answers GET /v1/queues: per standard queue and the dead
// queue, what RabbitMQ holds (management API or AMQP, see each "source"), how
// long the oldest job queued for a worker has waited and how many jobs
// fairness caps hold back (Postgres), and whether the queue is paused. Any
// user may read it: it shows counts, no job data.
func (a *API) listQueues(c *gin.Context) {
	in := a.opts.Inspector
	if in == nil {
		httpx.Abort(c, http.StatusServiceUnavailable, httpx.CodeUnavailable, "queue inspection is not configured", nil)
		return
	}
	ctx := c.Request.Context()
	backlog, err := a.opts.Store.Backlog(ctx)
	if err != nil {
		a.internalError(c, "queue backlog", err)
		return
	}
	paused, err := a.opts.Store.PausedQueues(ctx)
	if err != nil {
		a.internalError(c, "paused queues", err)
		return
	}
	byQueue := make(map[string]jobstore.QueueBacklog, len(backlog))
	for _, b := range backlog {
		byQueue[b.Queue] = b
	}
	stats := in.Queues(ctx)
	out := make([]QueueView, len(stats))
	var readErr error
	for i, s := range stats {
		b := byQueue[s.Queue]
		v := QueueView{Name: s.Queue, AMQPName: s.Name, Source: in.Source(), OldestWaitingSeconds: b.OldestSeconds,
			Held: b.Held, Paused: slices.Contains(paused, s.Queue), ManagementURL: s.UI}
		switch {
		case errors.Is(s.Err, broker.ErrQueueNotFound):
			v.Error = "not declared yet: no service has started with this AMQP prefix"
		case s.Err != nil:
			readErr = cmp.Or(readErr, s.Err)
			v.Error = "RabbitMQ could not be read; retry shortly"
		default:
			ready, consumers := s.Ready, s.Consumers
			v.Ready, v.Consumers = &ready, &consumers
			v.Unacked, v.PublishRate, v.DeliverRate = s.Unacked, s.PublishRate, s.DeliverRate
		}
		out[i] = v
	}
	if readErr != nil {
		// Internals (addresses, broker errors) go to the log only, once.
		a.log.Warn("queue figures unavailable", zap.String("source", in.Source()), zap.Error(readErr))
	}
	c.JSON(http.StatusOK, QueueList{Queues: out})
}

// QueuePause answers POST /v1/admin/queues/{name}/pause and /resume: the
// queue's pause state as stored.
type QueuePause struct {
	Queue  string `json:"queue"`
	Paused bool   `json:"paused"`
}

// label names the principal in logs and audit columns.
func (p principal) label() string {
	if p.User != nil {
		return "user " + p.User.ID.String()
	}
	return "admin token"
}

// setQueuePaused answers POST /v1/admin/queues/{name}/pause and /resume:
// the state is stored in Postgres first (workers starting or reconnecting
// later read it there), then a control signal tells every running worker
// instance to cancel or restart its consumer of the queue at once.
func (a *API) setQueuePaused(paused bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		name := c.Param("name")
		var known []string
		if a.opts.Inspector != nil {
			known = a.opts.Inspector.JobQueues()
		}
		if !slices.Contains(known, name) {
			httpx.Abort(c, http.StatusNotFound, httpx.CodeNotFound, "no such queue", map[string]any{"queues": known})
			return
		}
		ctx := c.Request.Context()
		var err error
		if paused {
			err = a.opts.Store.PauseQueue(ctx, name, currentPrincipal(c).label())
		} else {
			err = a.opts.Store.ResumeQueue(ctx, name)
		}
		if err != nil {
			a.internalError(c, "pause queue", err)
			return
		}
		signal := broker.ControlMessage{Type: broker.ControlResume, Queue: name}
		if paused {
			signal.Type = broker.ControlPause
		}
		pctx, cancel := context.WithTimeout(ctx, a.opts.PublishTimeout)
		defer cancel()
		if err := a.opts.Publisher.PublishControl(pctx, signal); err != nil {
			// Stored already: each worker applies it at its next registry
			// beat, seconds from now.
			a.log.Warn("queue signal not published; workers pick the change up from Postgres",
				zap.String("type", signal.Type), zap.String("queue", name), zap.Error(err))
		}
		a.log.Info("queue pause changed", zap.String("queue", name), zap.Bool("paused", paused),
			zap.String("by", currentPrincipal(c).label()))
		c.JSON(http.StatusAccepted, QueuePause{Queue: name, Paused: paused})
	}
}
