package dispatch

import (
	"context"
	"database/sql"
	"time"

	"github.com/google/uuid"

	"github.com/hopperq/hopper/pkg/jobs"
	"github.com/hopperq/hopper/pkg/store/jobstore"
	"github.com/hopperq/hopper/pkg/store/schedules"
)

// Store is what the dispatcher asks of Hopper's database: the outbox and
// the due, held and expired jobs it moves, the cron schedules it fires,
// and a connection to hold its leader lock on. The dispatcher declares it
// rather than taking the whole store, so this list is all a leader may do
// to the database. *store.Store implements it.
type Store interface {
	outboxStore
	MarkStore
	reapStore
	republishStore
	cronStore
	// Conn is a dedicated connection: the leader lock lives as long as it.
	Conn(ctx context.Context) (*sql.Conn, error)
}

// outboxStore reads the jobs to publish and marks the published ones.
type outboxStore interface {
	PromoteDue(ctx context.Context, now time.Time, limit int) ([]jobstore.Job, error)
	ReleaseHeld(ctx context.Context, limit int) ([]jobstore.Job, error)
	Unpublished(ctx context.Context, olderThan time.Time, limit int) ([]jobstore.Job, error)
	UnpublishedOf(ctx context.Context, ids []uuid.UUID) ([]jobstore.Job, error)
	ListenEnqueued(ctx context.Context) (*jobstore.EnqueuedListener, error)
	MarkPublished(ctx context.Context, ids ...uuid.UUID) error
}

// reapStore ends the attempts whose lease expired.
type reapStore interface {
	ReapExpired(ctx context.Context, now time.Time, limit int, retryAt func(jobstore.Job) time.Time) ([]jobstore.Job, error)
}

// cronStore creates the jobs of the schedules due at now.
type cronStore interface {
	ClaimDueSchedules(ctx context.Context, now time.Time, reg jobs.Catalog) ([]schedules.ScheduleRun, error)
}

// MarkStore is what a PublishedMarker writes.
type MarkStore interface {
	MarkPublishedUnclaimed(ctx context.Context, ids ...uuid.UUID) error
}
