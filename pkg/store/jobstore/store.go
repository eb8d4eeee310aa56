// Package jobstore is the store's jobs aggregate: jobs and their
// timelines, every state transition (claims, leases, finishes, cancels,
// retries, the reaper), the one way to create a job (Enqueue), the outbox
// and its marks, fairness admission, the catalogue of kinds, the worker
// registry and queue pauses, change notifications, and the figures read
// from jobs.
//
// Postgres is the source of truth for a job's state (DESIGN §2). Every
// state transition is one conditional UPDATE that also appends the job's
// timeline event in the same statement, so a transition and its event can
// never be split by a crash, and a worker that lost its lease can never
// overwrite a newer attempt.
package jobstore

import (
	"database/sql"
	"fmt"

	"gorm.io/gorm"

	"github.com/hopperq/hopper/pkg/store/pg"
)

// Store reads and writes jobs. It is safe for concurrent use.
type Store struct {
	db  *gorm.DB
	sql *sql.DB
	// hot is the pool of the group-committed hot-path statements, with
	// their plans pinned (hotPathParams).
	hot     *sql.DB
	grouped groupedWrites
	// dsn opens the dedicated connections some readers need
	// (ListenEnqueued).
	dsn string
	// onEnded resolves workflows as their jobs end (workflow_hook.go).
	onEnded EndedHook
}

// New returns the jobs aggregate over db, with a pool of its own for the
// hot path (Close closes it).
func New(db *pg.DB) (*Store, error) {
	hot, err := openHotPool(db.DSN())
	if err != nil {
		return nil, fmt.Errorf("connect to postgres: %w", err)
	}
	s := &Store{db: db.Gorm(), sql: db.SQL(), hot: hot, dsn: db.DSN()}
	s.grouped = newGroupedWrites(s)
	return s, nil
}

// Close closes the hot path's pool; db is the caller's to close.
func (s *Store) Close() error {
	if err := s.hot.Close(); err != nil {
		return fmt.Errorf("close postgres pool: %w", err)
	}
	return nil
}
