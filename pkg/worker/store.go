package worker

import (
	"context"
	"encoding/json"
	"time"

	"github.com/google/uuid"

	"github.com/hopperq/hopper/pkg/jobs"
	"github.com/hopperq/hopper/pkg/store/content"
	"github.com/hopperq/hopper/pkg/store/jobstore"
)

// Store is what the worker runtime asks of Hopper's database for the jobs
// it runs: claim a delivered job, renew its lease, write its outcome, keep
// its artifacts. The runtime declares it, rather than taking the whole
// store, so that what a worker may do to the database is this list (and
// tests can stand in for it). *store.Store implements it.
type Store interface {
	// Claim and ClaimUrgent start a queued job's next attempt under a
	// lease (jobstore.ErrNotClaimed: the delivery is stale).
	Claim(ctx context.Context, jobID uuid.UUID, workerID string, lease time.Duration) (jobstore.Job, error)
	ClaimUrgent(ctx context.Context, jobID uuid.UUID, workerID string, lease time.Duration) (jobstore.Job, error)
	// GetJob tells a stale delivery from one naming no job at all.
	GetJob(ctx context.Context, ownerID *uuid.UUID, id uuid.UUID) (jobstore.Job, error)
	// Finish writes an attempt's outcome.
	Finish(ctx context.Context, o jobstore.Outcome) (jobs.State, error)
	leaseStore
	artifactWriter
	outputStore
	parentReader
}

// parentReader is what Job.ParentResults reads: a workflow step's
// parents' results, from their own job rows.
type parentReader interface {
	ParentResults(ctx context.Context, jobID uuid.UUID) (map[string]json.RawMessage, error)
}

// leaseStore is what an attempt's heartbeat and progress reports write.
type leaseStore interface {
	Heartbeat(ctx context.Context, jobID uuid.UUID, attempt int, workerID string, lease time.Duration) (cancelRequested bool, err error)
	Progress(ctx context.Context, jobID uuid.UUID, attempt int, workerID string, pct int, msg string, lease time.Duration) (cancelRequested bool, err error)
}

// artifactWriter is the store call Job.PutArtifact makes.
type artifactWriter interface {
	PutArtifact(ctx context.Context, jobID uuid.UUID, a content.NewArtifact) (content.ArtifactInfo, error)
}

// registryStore is what an instance's registry row needs: its own row
// and the queues an admin paused.
type registryStore interface {
	UpsertWorker(ctx context.Context, w jobstore.Worker) error
	DeleteWorker(ctx context.Context, id string) error
	PausedQueues(ctx context.Context) ([]string, error)
}

// pinger is what the readiness probe asks of the database.
type pinger interface {
	Ping(ctx context.Context) error
}
