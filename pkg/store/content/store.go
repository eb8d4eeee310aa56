// Package content is the store's content aggregate: uploaded documents
// and their bytes, their chunks and embeddings (full-text and hybrid
// retrieval), and the files jobs consume and produce (artifacts). A
// document's ingest job and a job's input artifact are created with the
// job, through jobstore.Enqueue, in one transaction.
package content

import "github.com/hopperq/hopper/pkg/store/pg"

// Store reads and writes content. It is safe for concurrent use.
type Store struct {
	db *pg.DB
}

// New returns the content aggregate over db.
func New(db *pg.DB) *Store {
	return &Store{db: db}
}
