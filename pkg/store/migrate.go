package store

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

//go:embed migrations/*.sql
var embeddedMigrations embed.FS

// Migration lock timing: poll once a second for up to five minutes. Goose's
// default polls every 5 s, which would stall every replica that loses the
// race by seconds.
const (
	migrateLockPollSeconds = 1
	migrateLockPolls       = 300
)

// Migrate applies pending migrations to the search_path schema. Replicas
// starting together may all call it: a session advisory lock lets one
// migrate while the others wait, then find nothing left to do.
func (s *Store) Migrate(ctx context.Context) error {
	p, err := s.migrationProvider(ctx)
	if err != nil {
		return err
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

// MigrationStatus returns the highest migration version applied to the
// schema, 0 when none is.
func (s *Store) MigrationStatus(ctx context.Context) (current int64, err error) {
	p, err := s.migrationProvider(ctx)
	if err != nil {
		return 0, err
	}
	// GetVersions takes no lock, so a status check never waits on a
	// running migration.
	current, _, err = p.GetVersions(ctx)
	if err != nil {
		return 0, fmt.Errorf("migration status: %w", err)
	}
	return current, nil
}

// migrationProvider builds a goose provider over the embedded migrations.
// It is built per call: it holds no connection, and never Close it, as
// that would close the Store's pool.
func (s *Store) migrationProvider(ctx context.Context) (*goose.Provider, error) {
	fsys, err := fs.Sub(embeddedMigrations, "migrations")
	if err != nil {
		return nil, fmt.Errorf("migrations: open embedded files: %w", err)
	}
	lockID, err := s.migrationLockID(ctx)
	if err != nil {
		return nil, err
	}
	locker, err := lock.NewPostgresSessionLocker(
		lock.WithLockID(lockID),
		lock.WithLockTimeout(migrateLockPollSeconds, migrateLockPolls),
	)
	if err != nil {
		return nil, fmt.Errorf("migrations: build locker: %w", err)
	}
	// Out-of-order migrations are allowed: versions are reserved by
	// parallel work (00002 may land after 00003), and each migration is
	// independent of those numbered around it.
	p, err := goose.NewProvider(goose.DialectPostgres, s.SQL(), fsys, goose.WithSessionLocker(locker),
		goose.WithAllowOutofOrder(true))
	if err != nil {
		return nil, fmt.Errorf("migrations: build provider: %w", err)
	}
	return p, nil
}

// migrationLockID derives the advisory lock id from the database and
// schema: replicas migrating one schema serialise, while tests migrating
// their own schemas in parallel never wait on each other.
func (s *Store) migrationLockID(ctx context.Context) (int64, error) {
	var where struct {
		Database string
		Schema   *string
	}
	err := s.Gorm().WithContext(ctx).
		Raw("SELECT current_database() AS database, current_schema() AS schema").
		Scan(&where).Error
	if err != nil {
		return 0, fmt.Errorf("migrations: read current schema: %w", err)
	}
	if where.Schema == nil {
		return 0, errors.New("migrations: no schema in search_path exists")
	}
	h := fnv.New64a()
	// Writes to a hash.Hash never fail.
	_, _ = h.Write([]byte("hopper.migrate\x00" + where.Database + "\x00" + *where.Schema))
	return int64(h.Sum64()), nil
}
