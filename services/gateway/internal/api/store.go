package api

import (
	"context"
	"encoding/json"
	"time"

	"github.com/google/uuid"

	"github.com/hopperq/hopper/pkg/jobs"
	"github.com/hopperq/hopper/pkg/store/accounts"
	"github.com/hopperq/hopper/pkg/store/content"
	"github.com/hopperq/hopper/pkg/store/jobstore"
	"github.com/hopperq/hopper/pkg/store/schedules"
	"github.com/hopperq/hopper/pkg/store/workflows"
)

// The API declares, per group of handlers, the store calls they make:
// what an endpoint may do to the database is its group's list, and a test
// can stand in for one group without the rest. Store composes them for
// the wiring; *store.Store implements it.

// JobStore serves the job endpoints: submit, batch, read, list, stream,
// cancel, retry, artifacts.
type JobStore interface {
	Enqueue(ctx context.Context, batch []jobstore.NewJob, now time.Time) ([]jobstore.Enqueued, error)
	// MarkPublished records confirmed publishes (without a marker).
	MarkPublished(ctx context.Context, ids ...uuid.UUID) error
	GetJob(ctx context.Context, ownerID *uuid.UUID, id uuid.UUID) (jobstore.Job, error)
	Events(ctx context.Context, jobID uuid.UUID) ([]jobstore.Event, error)
	JobSnapshot(ctx context.Context, ownerID *uuid.UUID, id uuid.UUID, afterEvent int64) (jobstore.Job, []jobstore.Event, error)
	ListJobs(ctx context.Context, f jobstore.ListFilter) ([]jobstore.Job, string, error)
	Cancel(ctx context.Context, ownerID *uuid.UUID, id uuid.UUID) (jobstore.Job, error)
	Retry(ctx context.Context, ownerID *uuid.UUID, id uuid.UUID, extraAttempts int) (jobstore.Job, error)
	RetryCharged(ctx context.Context, owner uuid.UUID, id uuid.UUID, extraAttempts, perHour int, now time.Time) (jobstore.Job, error)
	ListArtifacts(ctx context.Context, jobID uuid.UUID) ([]content.ArtifactInfo, error)
	ReadOutput(ctx context.Context, jobID uuid.UUID, after int64, limit int) ([]jobstore.OutputChunk, error)
	GetArtifact(ctx context.Context, ownerID *uuid.UUID, jobID uuid.UUID, name string) (content.Artifact, error)
}

// UploadStore serves the endpoints that store a file with the job that
// reads it (documents, recordings), and the document endpoints.
type UploadStore interface {
	CreateDocument(ctx context.Context, nd content.NewDocument, now time.Time) (content.Document, jobstore.Job, error)
	CreateJobWithUpload(ctx context.Context, a content.NewArtifact, build func() (jobstore.NewJob, error), now time.Time) (jobstore.Job, content.ArtifactInfo, error)
	GetDocument(ctx context.Context, owner, id uuid.UUID) (content.Document, error)
	ListDocuments(ctx context.Context, owner uuid.UUID, limit int) ([]content.Document, error)
	DeleteDocument(ctx context.Context, owner, id uuid.UUID) error
}

// AccountStore serves authentication, dashboard sessions and the admin's
// user and key endpoints.
type AccountStore interface {
	Authenticate(ctx context.Context, plaintext string) (accounts.User, accounts.APIKey, error)
	KeyActive(ctx context.Context, keyID uuid.UUID) error
	CreateUser(ctx context.Context, email, role, plan string) (accounts.User, error)
	SetUserActive(ctx context.Context, id uuid.UUID, active bool) error
	GetUser(ctx context.Context, id uuid.UUID) (accounts.User, error)
	CreateAPIKey(ctx context.Context, userID uuid.UUID) (accounts.APIKey, string, error)
	ListAPIKeys(ctx context.Context, userID uuid.UUID) ([]accounts.APIKey, error)
	RevokeAPIKey(ctx context.Context, keyID uuid.UUID) error
	CreateSession(ctx context.Context, userID, keyID uuid.UUID, ttl time.Duration) (string, error)
	SessionUser(ctx context.Context, id string, idle time.Duration) (accounts.User, accounts.Session, error)
	DeleteSession(ctx context.Context, id string) error
	AuthenticateWorker(ctx context.Context, plaintext string) (accounts.WorkerToken, error)
	CreateWorkerToken(ctx context.Context, name string, queues []string, maxInFlight int) (accounts.WorkerToken, string, error)
	ListWorkerTokens(ctx context.Context) ([]accounts.WorkerToken, error)
	RevokeWorkerToken(ctx context.Context, id uuid.UUID) error
}

// PullStore serves the pull protocol of external workers: the same
// claim, lease, progress, output and finish calls as the Go worker
// runtime (worker.Store), and the catalogue's publish.
type PullStore interface {
	Claim(ctx context.Context, jobID uuid.UUID, workerID string, lease time.Duration) (jobstore.Job, error)
	ClaimUrgent(ctx context.Context, jobID uuid.UUID, workerID string, lease time.Duration) (jobstore.Job, error)
	GetJob(ctx context.Context, ownerID *uuid.UUID, id uuid.UUID) (jobstore.Job, error)
	Heartbeat(ctx context.Context, jobID uuid.UUID, attempt int, workerID string, lease time.Duration) (bool, error)
	Progress(ctx context.Context, jobID uuid.UUID, attempt int, workerID string, pct int, msg string, lease time.Duration) (bool, error)
	AppendOutput(ctx context.Context, jobID uuid.UUID, attempt int, workerID string, chunks []string, maxBytes int64) (int64, bool, error)
	Finish(ctx context.Context, o jobstore.Outcome) (jobs.State, error)
	RunningBy(ctx context.Context, workerID string) (int, error)
	EverClaimedBy(ctx context.Context, jobID uuid.UUID, workerID string) (bool, error)
	PublishKinds(ctx context.Context, kinds []jobs.Kind) error
	// ParentResultsUpTo reads a workflow step's parents' results for
	// GET /v1/worker/jobs/{id}/parents.
	ParentResultsUpTo(ctx context.Context, id uuid.UUID, step string, maxBytes int64) (map[string]json.RawMessage, error)
}

// PlanStore serves the plan endpoints, the plan cache and the caller's
// limits.
type PlanStore interface {
	ListPlans(ctx context.Context) ([]accounts.Plan, error)
	CreatePlan(ctx context.Context, p accounts.Plan) (accounts.Plan, error)
	UpdatePlan(ctx context.Context, name string, ch accounts.PlanChanges) (accounts.Plan, error)
	DeletePlan(ctx context.Context, name string) (usersOnPlan int64, err error)
	SetUserPlan(ctx context.Context, id uuid.UUID, plan string) (accounts.User, error)
	// QuotaUsage and CountDocuments are what the caller's limits report
	// counts.
	QuotaUsage(ctx context.Context, owner uuid.UUID, jobsPerHour int, now time.Time) (jobstore.QuotaUsage, error)
	CountDocuments(ctx context.Context, owner uuid.UUID) (int64, error)
}

// ScheduleStore serves the admin's schedule endpoints.
type ScheduleStore interface {
	ListSchedules(ctx context.Context) ([]schedules.Schedule, error)
	GetSchedule(ctx context.Context, name string) (schedules.Schedule, error)
	CreateSchedule(ctx context.Context, ns schedules.NewSchedule, now time.Time) (schedules.Schedule, error)
	EnableSchedule(ctx context.Context, name string, now time.Time) (schedules.Schedule, error)
	DisableSchedule(ctx context.Context, name string, now time.Time) (schedules.Schedule, error)
	DeleteSchedule(ctx context.Context, name string) error
	TriggerSchedule(ctx context.Context, name string, reg jobs.Catalog, now time.Time) (jobstore.Job, error)
}

// FleetStore serves the queue, worker and kind endpoints.
type FleetStore interface {
	Backlog(ctx context.Context) ([]jobstore.QueueBacklog, error)
	PausedQueues(ctx context.Context) ([]string, error)
	PauseQueue(ctx context.Context, name, by string) error
	ResumeQueue(ctx context.Context, name string) error
	ListWorkers(ctx context.Context, seenWithin time.Duration) ([]jobstore.Worker, error)
	KindWorkers(ctx context.Context, seenWithin time.Duration) (map[string]int, error)
	DeleteKind(ctx context.Context, name string) error
}

// ReportStore serves the dashboard's figures and the usage report.
type ReportStore interface {
	FinishedPerMinute(ctx context.Context, ownerID *uuid.UUID, since time.Time) ([]jobstore.MinuteStats, error)
	Usage(ctx context.Context, owner uuid.UUID, days int, now time.Time) (jobstore.UsageReport, error)
}

// WorkflowStore serves the workflow endpoints.
type WorkflowStore interface {
	CreateWorkflow(ctx context.Context, nw workflows.NewWorkflow, now time.Time) (workflows.Created, error)
	GetWorkflow(ctx context.Context, owner *uuid.UUID, id uuid.UUID) (workflows.Detail, error)
	ListWorkflows(ctx context.Context, f workflows.ListFilter) ([]workflows.Workflow, string, error)
	CancelWorkflow(ctx context.Context, owner *uuid.UUID, id uuid.UUID, now time.Time) ([]uuid.UUID, error)
	RetryWorkflowStep(ctx context.Context, owner *uuid.UUID, id uuid.UUID, name string, extraAttempts, perHour int, now time.Time) ([]jobstore.Job, error)
	WorkflowStates(ctx context.Context, owner *uuid.UUID, id uuid.UUID) (workflows.Workflow, []workflows.StepState, error)
}

// Store is every group's calls, and the readiness probe's.
type Store interface {
	JobStore
	UploadStore
	AccountStore
	SecretStore
	PlanStore
	ScheduleStore
	FleetStore
	ReportStore
	PullStore
	WorkflowStore
	CallbackStore
	PullFleetStore
	Ping(ctx context.Context) error
}

// Notifier wakes event streams when their job changes
// (*jobstore.JobNotifier).
type Notifier interface {
	Subscribe(jobID uuid.UUID) (<-chan struct{}, func())
	Listening() bool
}

// stores are the API's store groups, each handler reaching only its own.
type stores struct {
	jobs      JobStore
	uploads   UploadStore
	accounts  AccountStore
	plans     PlanStore
	schedules ScheduleStore
	fleet     FleetStore
	reports   ReportStore
	pull      PullStore
	workflows WorkflowStore
}

func newStores(st Store) stores {
	return stores{jobs: st, uploads: st, accounts: st, plans: st, schedules: st, fleet: st, reports: st, pull: st, workflows: st}
}
