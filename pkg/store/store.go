// Package store composes Hopper's store for a service's wiring: Open
// connects once and returns a Store that is every aggregate at once —
// pg's handle, accounts, and the jobs, content and schedules statements
// still here. Consumers do not take a Store: each declares the few calls
// it makes (worker.Store, dispatch.Store, the API's handler groups) and
// the wiring passes a Store, which has them all. Migrations live here
// too, the schema being every aggregate's.
//
// Postgres is the source of truth for a job's state (DESIGN §2). Every
// state transition is one conditional UPDATE that also appends the job's
// timeline event in the same statement, so a transition and its event can
// never be split by a crash, and a worker that lost its lease can never
// overwrite a newer attempt.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"gorm.io/gorm"

	"github.com/hopperq/hopper/pkg/store/accounts"
	"github.com/hopperq/hopper/pkg/store/pg"
)

// Store is every aggregate of Hopper's store over one connection pool.
// It is safe for concurrent use.
type Store struct {
	*pg.DB
	*accounts.Store

	db  *gorm.DB
	sql *sql.DB
	// hot is the pool of the group-committed hot-path statements, with
	// their plans pinned (hotPathParams).
	hot     *sql.DB
	grouped groupedWrites
	// dsn opens the dedicated connections some readers need
	// (ListenEnqueued).
	dsn string
}

// Options tunes Open.
type Options = pg.Options

// Open connects to Postgres at dsn (a URL or key=value string; a
// search_path query parameter is passed to the server as a runtime
// parameter) and checks the connection with ctx.
func Open(ctx context.Context, dsn string, opts Options) (*Store, error) {
	db, err := pg.Open(ctx, dsn, opts)
	if err != nil {
		return nil, err
	}
	hot, err := openHotPool(dsn)
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("connect to postgres: %w", err)
	}
	s := &Store{DB: db, Store: accounts.New(db), db: db.Gorm(), sql: db.SQL(), hot: hot, dsn: dsn}
	s.grouped = newGroupedWrites(s)
	return s, nil
}

// Close releases the connection pools.
func (s *Store) Close() error {
	return errors.Join(s.DB.Close(), s.hot.Close())
}
