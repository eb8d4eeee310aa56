package api

import (
	"context"
	"net/http"
	"regexp"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"go.uber.org/zap"

	"github.com/hopperq/hopper/pkg/httpx"
	"github.com/hopperq/hopper/pkg/store/accounts"
	"github.com/hopperq/hopper/pkg/store/jobstore"
)

// Pull workers in the worker registry. An external worker runs no
// registry loop of its own, so the gateway keeps its row in the workers
// table from its calls: written on its first call here and renewed by its
// calls at most every pullSeenEvery, and by the PullFleet loop while a
// claim of it waits in a long poll (which makes no other call). A worker
// that stops calling ages out of GET /v1/workers as a crashed Go worker
// does. The row counts for the kinds its token registered
// (GET /v1/kinds/{name}'s workers).

// PullInstanceHeader names one process among a worker token's: each
// instance gets its own row (pull:<token id>/<instance>); without it, a
// token's workers share one row (pull:<token id>).
const PullInstanceHeader = "Hopper-Worker-Instance"

// pullSeenEvery is how often a pull worker's row is renewed at most: the
// Go workers' registry period, well within workersSeenWithin.
const pullSeenEvery = 5 * time.Second

// pullForgetAfter is how long this gateway remembers an instance that
// made no call (its row is rewritten in full when it comes back).
const pullForgetAfter = 2 * workersSeenWithin

// pullRowTimeout bounds a row write made inside a worker's call.
const pullRowTimeout = 2 * time.Second

// validInstance bounds the instance name a client sends.
var validInstance = regexp.MustCompile(`^[A-Za-z0-9._:@-]{1,64}$`)

// PullFleetStore is what the pull workers' rows need.
type PullFleetStore interface {
	UpsertServiceWorker(ctx context.Context, w jobstore.Worker) error
	TouchWorkers(ctx context.Context, ids []string) error
}

// PullFleet holds the pull worker instances seen on this gateway and
// renews the rows of those waiting in a claim. Safe for concurrent use.
type PullFleet struct {
	store PullFleetStore
	every time.Duration
	log   *zap.Logger

	mu   sync.Mutex
	seen map[string]*pullInstance
}

type pullInstance struct {
	started time.Time // first call seen here
	written time.Time // last row write
	called  time.Time // last call
	waiting int       // claims waiting
}

// NewPullFleet returns the pull workers' registry over st; Run renews the
// rows of waiting claims.
func NewPullFleet(st PullFleetStore, log *zap.Logger) *PullFleet {
	if log == nil {
		log = zap.NewNop()
	}
	return &PullFleet{store: st, every: pullSeenEvery, log: log, seen: map[string]*pullInstance{}}
}

// Run renews the rows of the instances with a claim waiting here every
// period, and forgets instances silent for pullForgetAfter, until ctx
// ends.
func (f *PullFleet) Run(ctx context.Context) error {
	t := time.NewTicker(f.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		now := time.Now()
		var ids []string
		f.mu.Lock()
		for id, in := range f.seen {
			switch {
			case in.waiting > 0:
				ids = append(ids, id)
				in.written = now
			case now.Sub(in.called) > pullForgetAfter:
				delete(f.seen, id)
			}
		}
		f.mu.Unlock()
		wctx, cancel := context.WithTimeout(ctx, pullRowTimeout)
		if err := f.store.TouchWorkers(wctx, ids); err != nil {
			f.log.Warn("pull workers: rows not renewed", zap.Int("instances", len(ids)), zap.Error(err))
		}
		cancel()
	}
}

// call records a call of instance id and reports whether its row is due
// a write (first call here, or pullSeenEvery since the last one), with
// when it was first seen.
func (f *PullFleet) call(id string, now time.Time, force bool) (time.Time, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	in := f.seen[id]
	if in == nil {
		in = &pullInstance{started: now}
		f.seen[id] = in
	}
	in.called = now
	if !force && !in.written.IsZero() && now.Sub(in.written) < f.every {
		return in.started, false
	}
	in.written = now
	return in.started, true
}

// wait counts a claim of id waiting until release.
func (f *PullFleet) wait(id string) (release func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if in := f.seen[id]; in != nil {
		in.waiting++
	}
	return func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		if in := f.seen[id]; in != nil && in.waiting > 0 {
			in.waiting--
			in.called = time.Now()
		}
	}
}

// pullRowKey holds a call's instance row id in the gin context.
const pullRowKey = "hopper.pull_row"

// pullSeen records the calling instance's row (after authenticateWorker):
// a Hopper-Worker-Instance that is not a short name is 400.
func (a *API) pullSeen(c *gin.Context) {
	tok := currentPrincipal(c).Worker
	id := "pull:" + tok.ID.String()
	if inst := c.GetHeader(PullInstanceHeader); inst != "" {
		if !validInstance.MatchString(inst) {
			httpx.Abort(c, http.StatusBadRequest, httpx.CodeBadRequest,
				PullInstanceHeader+": want 1 to 64 letters, digits or ._:@-", nil)
			return
		}
		id += "/" + inst
	}
	c.Set(pullRowKey, id)
	if started, due := a.pullFleet.call(id, time.Now(), false); due {
		a.writePullRow(c, tok, id, started)
	}
	c.Next()
}

// pullRowID is the calling instance's row id.
func pullRowID(c *gin.Context) string { return c.GetString(pullRowKey) }

// writePullRow writes instance id's row: the token's queues, its
// max_in_flight as concurrency and its running jobs as in flight (both
// per token), and as kinds those its workers registered (the catalogue's
// kinds of service pull-<token name> on its queues). A failure is logged:
// the worker's call goes on.
func (a *API) writePullRow(c *gin.Context, tok *accounts.WorkerToken, id string, started time.Time) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), pullRowTimeout)
	defer cancel()
	running, err := a.db.pull.RunningBy(ctx, pullWorkerID(tok))
	if err != nil {
		a.log.Warn("pull workers: in-flight count not read", zap.String("worker_id", id), zap.Error(err))
	}
	w := jobstore.Worker{ID: id, Service: "pull-" + tok.Name, Host: c.ClientIP(), Queues: tok.Queues,
		Concurrency: tok.MaxInFlight, InFlight: running, StartedAt: started}
	if err := a.pullFleet.store.UpsertServiceWorker(ctx, w); err != nil {
		a.log.Warn("pull workers: row not written", zap.String("worker_id", id), zap.Error(err))
	}
}
