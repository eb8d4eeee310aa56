package jobs

import (
	"encoding/json"
	"time"
)

// The workflow API's answers, shared by the gateway and the Go SDK.

// WorkflowView is a workflow as GET /v1/workflows/{id} shows it (Steps
// and Timeline only there, not in lists).
type WorkflowView struct {
	ID            string              `json:"id"`
	Name          string              `json:"name"`
	State         string              `json:"state"` // running, succeeded, failed, cancelled
	FailurePolicy string              `json:"failure_policy"`
	CreatedAt     time.Time           `json:"created_at"`
	UpdatedAt     time.Time           `json:"updated_at"`
	FinishedAt    *time.Time          `json:"finished_at"`
	Steps         []WorkflowStepView  `json:"steps,omitempty"`
	Timeline      []WorkflowEventView `json:"timeline,omitempty"`
}

// WorkflowStepView is one step: its state, its jobs, and once it has
// succeeded its result — the job's result, or for a fan-out step the list
// of its elements' results in element order.
type WorkflowStepView struct {
	Name          string            `json:"name"`
	Kind          string            `json:"kind"`
	State         string            `json:"state"` // waiting, running, succeeded, failed, cancelled, skipped
	DependsOn     []string          `json:"depends_on"`
	ForEach       *ForEach          `json:"for_each,omitempty"`
	Jobs          []WorkflowJobView `json:"jobs"`
	JobsTotal     int               `json:"jobs_total"`
	JobsSucceeded int               `json:"jobs_succeeded"`
	JobsFailed    int               `json:"jobs_failed"`
	JobsCancelled int               `json:"jobs_cancelled"`
	Attempts      int               `json:"attempts"` // over all its jobs
	Result        json.RawMessage   `json:"result"`
	Error         string            `json:"error,omitempty"`
	ReleasedAt    *time.Time        `json:"released_at"`
	FinishedAt    *time.Time        `json:"finished_at"`
}

// WorkflowJobView is one job of a step (GET /v1/jobs/{id} has the rest).
type WorkflowJobView struct {
	ID       string `json:"id"`
	Element  *int   `json:"element,omitempty"` // position in a fan-out
	State    State  `json:"state"`
	Attempts int    `json:"attempts"`
	Error    string `json:"error,omitempty"`
}

// WorkflowEventView is one entry of a workflow's timeline: the workflow
// created or ended, a step released or ended.
type WorkflowEventView struct {
	At    time.Time `json:"at"`
	Step  string    `json:"step,omitempty"`
	Type  string    `json:"type"` // created, released, succeeded, failed, cancelled, skipped
	Error string    `json:"error,omitempty"`
}

// WorkflowAccepted answers POST /v1/workflows.
type WorkflowAccepted struct {
	ID    string            `json:"id"`
	State string            `json:"state"`
	Links map[string]string `json:"links"`
}

// WorkflowList answers GET /v1/workflows.
type WorkflowList struct {
	Workflows  []WorkflowView `json:"workflows"`
	NextCursor *string        `json:"next_cursor"`
}

// WorkflowCancelled answers POST /v1/workflows/{id}/cancel: the workflow
// and the jobs whose cancel was asked.
type WorkflowCancelled struct {
	Workflow WorkflowView `json:"workflow"`
	// CancelledJobs counts the jobs cancelled at once; StoppingJobs the
	// running ones whose workers were asked to stop.
	CancelledJobs int `json:"cancelled_jobs"`
	StoppingJobs  int `json:"stopping_jobs"`
}

// WorkflowStepRetried answers POST /v1/workflows/{id}/steps/{name}/retry.
type WorkflowStepRetried struct {
	Workflow WorkflowView `json:"workflow"`
	// Jobs are the ids of the jobs queued again (the step's and those of
	// the steps the failure had stopped).
	Jobs []string `json:"jobs"`
}

// The messages of GET /v1/workflows/{id}/events, shared by the gateway,
// the Go SDK and hopperctl.

// WorkflowStepState is a step's state in a workflow's event stream, with
// how many of its jobs (one, or one per fan-out element) ended how.
type WorkflowStepState struct {
	Name          string `json:"name"`
	State         string `json:"state"`
	JobsTotal     int    `json:"jobs_total"`
	JobsSucceeded int    `json:"jobs_succeeded"`
	JobsFailed    int    `json:"jobs_failed"`
	JobsCancelled int    `json:"jobs_cancelled"`
	Error         string `json:"error,omitempty"`
}

// WorkflowSnapshot is a stream's first message ("event: snapshot"): the
// workflow's state and every step's, in the order given at submit.
type WorkflowSnapshot struct {
	WorkflowID string              `json:"workflow_id"`
	State      string              `json:"state"`
	Steps      []WorkflowStepState `json:"steps"`
	At         time.Time           `json:"at"`
}

// WorkflowStepEvent is an "event: step" message: one step changed (its
// state, or how many of its jobs ended), with the workflow's state.
type WorkflowStepEvent struct {
	WorkflowID    string `json:"workflow_id"`
	WorkflowState string `json:"workflow_state"`
	WorkflowStepState
	At time.Time `json:"at"`
}

// WorkflowStateEvent is an "event: workflow" message: the workflow's own
// state changed; a terminal one is the stream's last message.
type WorkflowStateEvent struct {
	WorkflowID string    `json:"workflow_id"`
	State      string    `json:"state"`
	At         time.Time `json:"at"`
}
