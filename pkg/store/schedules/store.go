// Package schedules is the store's schedules aggregate: cron schedules,
// and the jobs their ticks and manual triggers create through
// jobstore.Enqueue.
package schedules

import "github.com/hopperq/hopper/pkg/store/pg"

// Store reads and writes schedules. It is safe for concurrent use.
type Store struct {
	db *pg.DB
}

// New returns the schedules aggregate over db.
func New(db *pg.DB) *Store {
	return &Store{db: db}
}
