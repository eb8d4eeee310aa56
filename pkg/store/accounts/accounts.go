// Package accounts is the store's accounts aggregate: users, their API
// keys and plans, and the provider rate-limit buckets the workers share.
package accounts

import (
	"database/sql"

	"gorm.io/gorm"

	"github.com/hopperq/hopper/pkg/store/pg"
)

// Store reads and writes accounts. It is safe for concurrent use.
type Store struct {
	db  *gorm.DB
	sql *sql.DB
}

// New returns the accounts aggregate over db.
func New(db *pg.DB) *Store {
	return &Store{db: db.Gorm(), sql: db.SQL()}
}
