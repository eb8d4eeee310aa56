package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/hopperq/hopper/pkg/httpx"
	"github.com/hopperq/hopper/pkg/jobs"
	hlog "github.com/hopperq/hopper/pkg/log"
	"github.com/hopperq/hopper/pkg/store/jobstore"
	"github.com/hopperq/hopper/pkg/store/pg"
)

// Event stream timing.
const (
	// eventsKeepAlive is how often an idle stream sends a comment, so
	// proxies and clients do not take it for dead.
	eventsKeepAlive = 15 * time.Second
	// eventsPoll is how often a stream re-reads the job while
	// notifications are unavailable (notifier down or absent): half the
	// 1 s promise, leaving the other half for the read and the write.
	eventsPoll = 500 * time.Millisecond
	// eventsMaxReadFailures ends a stream after this many consecutive
	// failed reads (one per poll); the client resumes with Last-Event-ID.
	eventsMaxReadFailures = 10
)

// eventData is the data of a timeline message.
type eventData struct {
	JobID   string     `json:"job_id"`
	Type    string     `json:"type"`
	State   jobs.State `json:"state"`
	Attempt int        `json:"attempt"`
	Message any        `json:"message"`
	At      any        `json:"at"`
}

// progressData is the data of a progress message; At is the job's
// updated_at.
type progressData struct {
	JobID         string     `json:"job_id"`
	State         jobs.State `json:"state"`
	Progress      int        `json:"progress"`
	StatusMessage string     `json:"status_message"`
	At            any        `json:"at"`
}

// jobEvents streams a job's changes as Server-Sent Events (GET
// /v1/jobs/{id}/events), with the same 404 rules as GET /v1/jobs/{id}.
//
// Each timeline event is a message whose event field is the event type
// (created, started, succeeded…) and whose id is the job_events id, so a
// client reconnecting with Last-Event-ID gets only later events. A change
// of progress or status message is an "event: progress" message without
// an id: it never moves the client's Last-Event-ID, and a resumed stream
// sends the current progress again. The stream ends once the job's
// terminal event has been sent.
//
// It subscribes to the job's notifications before its first read, so no
// change can slip between the two; with notifications unavailable it
// re-reads every eventsPoll.
func (a *API) jobEvents(c *gin.Context) {
	id, err := uuid.Parse(c.Param("id"))
	if err != nil {
		httpx.Abort(c, http.StatusNotFound, httpx.CodeNotFound, "job not found", nil)
		return
	}
	ss, ok := a.startJobStream(c, id, "the id of an event")
	if !ok {
		return
	}
	defer ss.end()
	p, open, after, wake := ss.p, ss.open, ss.after, ss.wake

	ctx := c.Request.Context()
	scope := p.ownerScope()
	job, evs, err := a.db.jobs.JobSnapshot(ctx, scope, id, after)
	if errors.Is(err, pg.ErrNotFound) {
		httpx.Abort(c, http.StatusNotFound, httpx.CodeNotFound, "job not found", nil)
		return
	}
	if err != nil {
		a.internalError(c, "job events", err)
		return
	}

	st := &jobStream{out: openSSE(c), jobID: id, lastID: after}
	log := a.log.With(hlog.JobID(id.String()))
	log.Debug("event stream opened", zap.Int64("last_event_id", after))
	reason := a.runStream(ctx, streamLoop{out: st.out, what: "job", p: p, open: open,
		send: func() (bool, error) { return st.send(job, evs) },
		read: func(ctx context.Context) error {
			var err error
			job, evs, err = a.db.jobs.JobSnapshot(ctx, scope, id, st.lastID)
			return err
		},
	}, wake, log)
	log.Debug("event stream closed", zap.String("reason", reason))
}

// streamStart is what a job's stream holds from its start: the caller,
// its slot under the stream caps, where the client resumes (Last-Event-ID)
// and the job's change notifications; end releases the slot and the
// subscription.
type streamStart struct {
	p     principal
	open  *openStream
	after int64
	wake  <-chan struct{}
	end   func()
}

// startJobStream does what every job stream (events, output) does before
// its first read: parses Last-Event-ID (what names the id, for the 400),
// takes a slot under the stream caps, and subscribes to jobID's changes
// before the first read, so no change slips between. ok false: it
// answered.
func (a *API) startJobStream(c *gin.Context, jobID uuid.UUID, what string) (streamStart, bool) {
	after, err := parseLastEventID(c.GetHeader("Last-Event-ID"))
	if err != nil {
		httpx.Abort(c, http.StatusBadRequest, httpx.CodeBadRequest,
			"Last-Event-ID: want "+what+" this stream sent", nil)
		return streamStart{}, false
	}
	p := currentPrincipal(c)
	open, ok := a.openStream(c, p)
	if !ok {
		return streamStart{}, false
	}
	wake, unsubscribe := a.subscribeJob(jobID)
	return streamStart{p: p, open: open, after: after, wake: wake, end: func() {
		unsubscribe()
		a.streams.release(open)
	}}, true
}

// openStream counts a new stream against the caller's and the gateway's
// caps, or answers why not: 429 over the key's cap (the client holds the
// streams it would need to close), 503 over the gateway's (another
// replica may have room).
func (a *API) openStream(c *gin.Context, p principal) (*openStream, bool) {
	open, err := a.streams.acquire(p)
	switch {
	case errors.Is(err, errStreamsPerKey):
		c.Header("Retry-After", "5")
		httpx.Abort(c, http.StatusTooManyRequests, httpx.CodeRateLimited,
			fmt.Sprintf("%s (at most %d at once): close one first", err, a.opts.Access.StreamsPerKey),
			map[string]any{"limit": a.opts.Access.StreamsPerKey})
		return nil, false
	case err != nil:
		c.Header("Retry-After", "5")
		httpx.Abort(c, http.StatusServiceUnavailable, httpx.CodeUnavailable,
			fmt.Sprintf("%s: retry shortly", err), nil)
		return nil, false
	}
	return open, true
}

// credentialEnded checks the stream's credential again and says why the
// stream must end, or "" to go on. A failed check (database trouble) goes
// on: the next check decides.
func (a *API) credentialEnded(ctx context.Context, p principal, log *zap.Logger) string {
	err := a.recheck(ctx, p)
	switch {
	case err == nil:
		return ""
	case errors.Is(err, pg.ErrNotFound):
		return "credential revoked, user deactivated or session ended"
	case ctx.Err() != nil:
		return "client gone"
	default:
		log.Warn("event stream: credential check failed", zap.Error(err))
		return ""
	}
}

// subscribeJob subscribes to job id's change notifications; without a
// notifier the channel never fires and the stream polls.
func (a *API) subscribeJob(id uuid.UUID) (<-chan struct{}, func()) {
	if a.opts.Notifier == nil {
		return nil, func() {}
	}
	return a.opts.Notifier.Subscribe(id)
}

// notificationsFlow reports whether wake-ups arrive, so polling can pause.
func (a *API) notificationsFlow() bool {
	return a.opts.Notifier != nil && a.opts.Notifier.Listening()
}

// jobStream is what one client has been sent so far.
type jobStream struct {
	out    *sseWriter
	jobID  uuid.UUID
	lastID int64 // last timeline event sent (or named by Last-Event-ID)
	// progress and status last sent; a new stream starts from the zero
	// values, so a job that has not reported progress sends none.
	progress int
	status   string
}

// send writes what changed in the snapshot: the progress first (a finished
// job's final progress comes before its terminal event), then the events
// after lastID. It reports whether the job is over, its terminal event
// sent now or before.
func (st *jobStream) send(job jobstore.Job, evs []jobstore.Event) (done bool, err error) {
	if job.Progress != st.progress || job.StatusMessage != st.status {
		err := st.out.message(0, "progress", progressData{
			JobID: st.jobID.String(), State: job.State, Progress: job.Progress,
			StatusMessage: job.StatusMessage, At: rfc3339(&job.UpdatedAt),
		})
		if err != nil {
			return false, err
		}
		st.progress, st.status = job.Progress, job.StatusMessage
	}
	for _, e := range evs {
		if e.ID <= st.lastID {
			continue
		}
		err := st.out.message(e.ID, e.Type, eventData{
			JobID: st.jobID.String(), Type: e.Type, State: e.State, Attempt: e.Attempt,
			Message: nullIfEmpty(e.Message), At: rfc3339(&e.At),
		})
		if err != nil {
			return false, err
		}
		st.lastID = e.ID
	}
	// The snapshot is consistent: a terminal job's terminal event is in
	// evs, or was sent (or skipped by Last-Event-ID) before.
	return job.State.Terminal(), nil
}

// parseLastEventID reads the Last-Event-ID header; empty means from the
// start.
func parseLastEventID(v string) (int64, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, nil
	}
	id, err := strconv.ParseInt(v, 10, 64)
	if err != nil || id < 0 {
		return 0, errors.New("not an event id")
	}
	return id, nil
}
