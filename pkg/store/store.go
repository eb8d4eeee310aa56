// Package store composes Hopper's store for a service's wiring: Open
// connects once and returns a Store that is every aggregate at once — the
// shared base (pg), jobstore, accounts, content, schedules and
// workflows. Consumers
// do not take a Store: each declares the few calls it makes (worker.Store,
// dispatch.Store, the API's handler groups…) and imports the aggregate
// packages for their types; the wiring passes a Store, which has every
// call. The schema's migrations live here, being every aggregate's.
package store

import (
	"context"
	"errors"

	"github.com/hopperq/hopper/pkg/store/accounts"
	"github.com/hopperq/hopper/pkg/store/content"
	"github.com/hopperq/hopper/pkg/store/jobstore"
	"github.com/hopperq/hopper/pkg/store/pg"
	"github.com/hopperq/hopper/pkg/store/pushkinds"
	"github.com/hopperq/hopper/pkg/store/schedules"
	"github.com/hopperq/hopper/pkg/store/workflows"
)

// The aggregates' types are all named Store; embedded under these names,
// their methods are promoted side by side.
type (
	jobsStore      = jobstore.Store
	accountsStore  = accounts.Store
	contentStore   = content.Store
	schedulesStore = schedules.Store
	workflowsStore = workflows.Store
)

// PushKinds is the push-kinds aggregate. Its method names (Create, Get,
// List…) are generic, so it is a named field rather than promoted.
type PushKinds = pushkinds.Store

// Store is every aggregate of Hopper's store over one connection pool
// (and the jobs aggregate's hot-path pool). It is safe for concurrent
// use.
type Store struct {
	*pg.DB
	*jobsStore
	*accountsStore
	*contentStore
	*schedulesStore
	*workflowsStore
	// Push holds the push kinds (migration 00024).
	Push *PushKinds
}

// Options tunes Open.
type Options = pg.Options

// Open connects to Postgres at dsn (a URL or key=value string; a
// search_path query parameter is passed to the server as a runtime
// parameter), checks the connection with ctx, and builds every aggregate
// over it.
func Open(ctx context.Context, dsn string, opts Options) (*Store, error) {
	db, err := pg.Open(ctx, dsn, opts)
	if err != nil {
		return nil, err
	}
	jobs, err := jobstore.New(db)
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	// A workflow's steps are resolved in the transaction of each of its
	// jobs' ends (pkg/store/workflows).
	flows := workflows.New(db)
	jobs.OnWorkflowJobEnded(flows.ResolveWorkflows)
	return &Store{DB: db, jobsStore: jobs, accountsStore: accounts.New(db),
		contentStore: content.New(db), schedulesStore: schedules.New(db), workflowsStore: flows,
		Push: pushkinds.New(db)}, nil
}

// Close releases the connection pools.
func (s *Store) Close() error {
	return errors.Join(s.jobsStore.Close(), s.DB.Close())
}
