package api

import (
	"context"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/hopperq/hopper/pkg/jobs"
	"github.com/hopperq/hopper/pkg/store/workflows"
)

// workflowEventsMinGap spaces a workflow stream's reads: its wake-ups
// come from every job's timeline (a workflow's changes all are job
// ends), which on a busy gateway fire every notifier tick.
const workflowEventsMinGap = 100 * time.Millisecond

// workflowEvents streams a workflow's changes as Server-Sent Events (GET
// /v1/workflows/{id}/events), with the same 404 rules as GET
// /v1/workflows/{id}.
//
// The first message is a snapshot of the workflow and all its steps
// (event: snapshot); then an "event: step" message for each step whose
// state or job counts changed, and an "event: workflow" message when the
// workflow's state changes. The stream ends after the workflow's terminal
// state. Messages carry no id: a workflow has no timeline table to resume
// from, and a reconnecting client gets a fresh snapshot, which is all it
// needs to be current.
//
// Streams count against the caller's and the gateway's stream caps and
// end when the caller's credential does, as job event streams do.
//
// Every step change is a job's end, which grows the job timeline, so the
// stream wakes on the notifier's any-job subscription; it also re-reads
// every eventsPoll, which bounds how late a change can be whatever the
// notifier does.
func (a *API) workflowEvents(c *gin.Context) {
	id, ok := workflowID(c)
	if !ok {
		return
	}
	p := currentPrincipal(c)
	open, ok := a.openStream(c, p)
	if !ok {
		return
	}
	defer a.streams.release(open)
	wake, unsubscribe := a.subscribeJob(uuid.Nil)
	defer unsubscribe()

	ctx := c.Request.Context()
	scope := p.ownerScope()
	w, steps, err := a.db.workflows.WorkflowStates(ctx, scope, id)
	if err != nil {
		a.workflowError(c, "workflow events", err)
		return
	}
	st := &workflowStream{out: openSSE(c), id: id.String(), now: a.opts.Now}
	log := a.log.With(zap.String("workflow_id", id.String()))
	log.Debug("workflow event stream opened")
	reason := a.runStream(ctx, streamLoop{out: st.out, what: "workflow", p: p, open: open, pollAlways: true, minGap: workflowEventsMinGap,
		send: func() (bool, error) { return st.send(w, steps) },
		read: func(ctx context.Context) error {
			var err error
			w, steps, err = a.db.workflows.WorkflowStates(ctx, scope, id)
			return err
		},
	}, wake, log)
	log.Debug("workflow event stream closed", zap.String("reason", reason))
}

// workflowStream is what one client has been sent so far.
type workflowStream struct {
	out   *sseWriter
	id    string
	now   func() time.Time
	state string                            // the workflow's, "" before the snapshot
	steps map[string]jobs.WorkflowStepState // as last sent, by name
}

// send writes the snapshot the first time, then each step that changed
// and the workflow's state if it changed. It reports whether the
// workflow is over (its terminal state sent now or before).
func (st *workflowStream) send(w workflows.Workflow, steps []workflows.StepState) (done bool, err error) {
	at := st.now().UTC()
	views := make([]jobs.WorkflowStepState, len(steps))
	for i, s := range steps {
		views[i] = jobs.WorkflowStepState{Name: s.Name, State: s.State, JobsTotal: s.JobsTotal,
			JobsSucceeded: s.JobsSucceeded, JobsFailed: s.JobsFailed, JobsCancelled: s.JobsCancelled, Error: s.Error}
	}
	terminal := w.State != workflows.StateRunning
	if st.steps == nil {
		st.steps = make(map[string]jobs.WorkflowStepState, len(views))
		for _, v := range views {
			st.steps[v.Name] = v
		}
		st.state = w.State
		err := st.out.message(0, "snapshot", jobs.WorkflowSnapshot{WorkflowID: st.id, State: w.State, Steps: views, At: at})
		return terminal, err
	}
	for _, v := range views {
		if st.steps[v.Name] == v {
			continue
		}
		st.steps[v.Name] = v
		err := st.out.message(0, "step", jobs.WorkflowStepEvent{WorkflowID: st.id, WorkflowState: w.State,
			WorkflowStepState: v, At: at})
		if err != nil {
			return false, err
		}
	}
	if w.State != st.state {
		st.state = w.State
		if err := st.out.message(0, "workflow", jobs.WorkflowStateEvent{WorkflowID: st.id, State: w.State, At: at}); err != nil {
			return false, err
		}
	}
	return terminal, nil
}
