package jobstore

import (
	"encoding/json"
	"time"

	"github.com/google/uuid"

	"github.com/hopperq/hopper/pkg/jobs"
)

// Timeline event types. Each state transition appends exactly one event
// (DESIGN §2, invariant 5); progress writes do not, they would flood the
// table.
const (
	EventCreated         = "created"          // submitted; state queued or scheduled
	EventQueued          = "queued"           // scheduled/retrying job came due
	EventStarted         = "started"          // a worker claimed it
	EventCancelRequested = "cancel_requested" // cancel asked of a running job
	EventSucceeded       = "succeeded"
	EventFailed          = "failed"
	EventRetrying        = "retrying"
	EventCancelled       = "cancelled"
	EventReleased        = "released"      // running → queued on worker shutdown
	EventSnoozed         = "snoozed"       // running → retrying at a handler's request, attempt not charged
	EventLeaseExpired    = "lease_expired" // worker stopped renewing its lease
	EventRetried         = "retried"       // a failed or cancelled job re-run on request
)

// Job is a job row.
type Job struct {
	ID              uuid.UUID
	OwnerID         uuid.UUID
	Kind            string
	Queue           string
	State           jobs.State
	Priority        int
	Payload         json.RawMessage
	Result          json.RawMessage // nil until a result is stored
	Error           string
	Progress        int
	StatusMessage   string
	Attempt         int // attempts started (a release does not count)
	MaxAttempts     int
	TimeoutMS       int64  `gorm:"column:timeout_ms"`
	WebhookURL      string `gorm:"column:webhook_url"`
	NotifyEmail     string // job-finished mail recipient; "" = none
	IdempotencyKey  *string
	CancelRequested bool
	WorkerID        string
	LeaseExpiresAt  *time.Time
	RunAt           time.Time
	CreatedAt       time.Time
	UpdatedAt       time.Time
	StartedAt       *time.Time
	FinishedAt      *time.Time
	PublishedAt     *time.Time // last confirmed publish to RabbitMQ
	// Held: queued but over its owner's fairness cap; waits in Postgres,
	// unpublished, until the dispatcher admits it (migration 00011).
	Held bool
	// WorkflowID, WorkflowStep and WorkflowElement name the workflow step
	// the job runs (migration 00021); nil for a job of its own. Element is
	// the job's position in a fan-out step.
	WorkflowID      *uuid.UUID
	WorkflowStep    *string
	WorkflowElement *int
}

// TableName maps Job to its table.
func (Job) TableName() string { return "jobs" }

// Timeout is the per-attempt deadline.
func (j Job) Timeout() time.Duration {
	return time.Duration(j.TimeoutMS) * time.Millisecond
}

// Event is one entry of a job's timeline: the state and attempt the job
// had after the transition.
type Event struct {
	ID      int64
	JobID   uuid.UUID
	At      time.Time
	Type    string
	State   jobs.State
	Attempt int
	Message string
	Data    json.RawMessage
}

// TableName maps Event to its table.
func (Event) TableName() string { return "job_events" }
