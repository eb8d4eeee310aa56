package hopper

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// JobState is a job's state as the API reports it.
type JobState string

// Job states. Succeeded, failed and cancelled are terminal.
const (
	JobStateScheduled JobState = "scheduled" // run_at in the future
	JobStateQueued    JobState = "queued"
	JobStateRunning   JobState = "running"
	JobStateRetrying  JobState = "retrying" // waiting for its backoff
	JobStateSucceeded JobState = "succeeded"
	JobStateFailed    JobState = "failed"
	JobStateCancelled JobState = "cancelled"
)

// Terminal reports whether a job in state s is over.
func (s JobState) Terminal() bool {
	return s == JobStateSucceeded || s == JobStateFailed || s == JobStateCancelled
}

// JobInfo is a job as GET /v1/jobs/{id} returns it. Payload and Result are
// the raw JSON; DecodeResult reads the result into a type.
type JobInfo struct {
	ID              string          `json:"id"`
	Kind            string          `json:"kind"`
	Queue           string          `json:"queue"`
	State           JobState        `json:"state"`
	Priority        int             `json:"priority"`
	Progress        int             `json:"progress"` // 0–100, as the handler reported it
	StatusMessage   string          `json:"status_message"`
	Payload         json.RawMessage `json:"payload"`
	Result          json.RawMessage `json:"result"` // null until the job succeeds
	Error           string          `json:"error"`  // why the last attempt failed
	Attempts        int             `json:"attempts"`
	MaxAttempts     int             `json:"max_attempts"`
	Timeout         time.Duration   `json:"-"` // per attempt
	CancelRequested bool            `json:"cancel_requested"`
	// Held is true while a queued job waits for room under its owner's
	// fairness cap.
	Held        bool       `json:"held"`
	WebhookURL  string     `json:"webhook_url"`
	NotifyEmail string     `json:"notify_email"`
	CreatedAt   time.Time  `json:"created_at"`
	UpdatedAt   time.Time  `json:"updated_at"`
	RunAt       time.Time  `json:"run_at"`
	StartedAt   *time.Time `json:"started_at"`
	FinishedAt  *time.Time `json:"finished_at"`
	// Events (the timeline) and Artifacts are only filled by Get and Wait,
	// not by List, Cancel or Retry.
	Events    []JobTimelineEvent `json:"events"`
	Artifacts []JobArtifact      `json:"artifacts"`
}

// UnmarshalJSON reads timeout_seconds into Timeout.
func (j *JobInfo) UnmarshalJSON(b []byte) error {
	type plain JobInfo // without this method
	var w struct {
		plain
		TimeoutSeconds float64 `json:"timeout_seconds"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*j = JobInfo(w.plain)
	j.Timeout = time.Duration(w.TimeoutSeconds * float64(time.Second))
	return nil
}

// ErrNoResult is returned by DecodeResult for a job without a result
// (not succeeded, or a handler that returned none).
var ErrNoResult = errors.New("hopper: job has no result")

// DecodeResult decodes the job's result into v (a pointer).
func (j JobInfo) DecodeResult(v any) error {
	if len(j.Result) == 0 || string(j.Result) == "null" {
		return fmt.Errorf("%w (job %s is %s)", ErrNoResult, j.ID, j.State)
	}
	if err := json.Unmarshal(j.Result, v); err != nil {
		return fmt.Errorf("hopper: decode result of job %s: %w", j.ID, err)
	}
	return nil
}

// JobTimelineEvent is one entry of a job's timeline (created, started,
// retrying, succeeded…).
type JobTimelineEvent struct {
	At      time.Time `json:"at"`
	Type    string    `json:"type"`
	State   JobState  `json:"state"` // the job's state after the event
	Attempt int       `json:"attempt"`
	Message string    `json:"message"`
}

// JobArtifact is a file a job consumed or produced; URL is its path on
// the gateway.
type JobArtifact struct {
	Name        string `json:"name"`
	ContentType string `json:"content_type"`
	SizeBytes   int64  `json:"size_bytes"`
	URL         string `json:"url"`
}

// JobFilter selects jobs for List. Zero values select everything.
type JobFilter struct {
	States []JobState // any of these
	Kind   string
	Limit  int    // page size, 1–500 (server default 50)
	Cursor string // JobList.NextCursor of the previous page
}

// JobList is one page of List, newest first.
type JobList struct {
	Jobs []JobInfo `json:"jobs"`
	// NextCursor fetches the next page; "" on the last one.
	NextCursor string `json:"next_cursor"`
}

// JobEvent is one message of a job's event stream: a timeline event
// (ID > 0; Type "created", "started", "succeeded"…) or a progress change
// (Type "progress", ID 0).
type JobEvent struct {
	ID      int64  // timeline event id; 0 for progress
	Type    string // the SSE event name
	JobID   string
	State   JobState
	Attempt int    // timeline events
	Message string // timeline events, e.g. the error of a failed attempt
	// Progress and StatusMessage are set on progress events.
	Progress      int
	StatusMessage string
	At            time.Time // when the database recorded it
}

// sseProgressEvent is the event name of a progress message.
const sseProgressEvent = "progress"

// IsProgress reports whether e is a progress change rather than a
// timeline event.
func (e JobEvent) IsProgress() bool { return e.Type == sseProgressEvent }

// Terminal reports whether e is a timeline event that left the job in a
// terminal state. It ends the stream unless the job was retried since
// (the stream then goes on to the next attempts).
func (e JobEvent) Terminal() bool { return e.ID > 0 && e.State.Terminal() }
