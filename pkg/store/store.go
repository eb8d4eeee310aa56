// Package store is Hopper's Postgres data layer: users, API keys, jobs and
// their event timelines, built on gorm with pgx underneath.
//
// Postgres is the source of truth for a job's state (DESIGN §2). Every
// state transition is one conditional UPDATE that also appends the job's
// timeline event in the same statement, so a transition and its event can
// never be split by a crash, and a worker that lost its lease can never
// overwrite a newer attempt.
//
// Tables are never schema-qualified: a Store works in whatever schema the
// DSN's search_path names, which lets each test own a schema.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	gormlogger "gorm.io/gorm/logger"
)

// defaultMaxOpenConns bounds the pool when Options leaves it unset: enough
// for a service's concurrent handlers without exhausting Postgres's
// max_connections across replicas.
const defaultMaxOpenConns = 10

// slowQuery is the threshold above which a statement is logged as slow.
const slowQuery = 500 * time.Millisecond

// Store is a handle on Hopper's Postgres database. It is safe for
// concurrent use.
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
}

// Options tunes Open.
type Options struct {
	// MaxOpenConns caps the connection pool; 0 means defaultMaxOpenConns.
	MaxOpenConns int
	// Logger receives slow-query warnings; nil discards them.
	Logger *zap.Logger
}

// Open connects to Postgres at dsn (a URL or key=value string; a
// search_path query parameter is passed to the server as a runtime
// parameter) and checks the connection with ctx.
func Open(ctx context.Context, dsn string, opts Options) (*Store, error) {
	log := opts.Logger
	if log == nil {
		log = zap.NewNop()
	}
	db, err := gorm.Open(postgres.New(postgres.Config{DSN: dsn}), &gorm.Config{
		// Each write here is one statement; gorm's implicit transaction
		// would only add two round trips.
		SkipDefaultTransaction: true,
		// Ping below with the caller's ctx instead of gorm's unbounded one.
		DisableAutomaticPing: true,
		Logger:               &zapGormLogger{log: log.Named("store")},
	})
	if err != nil {
		return nil, fmt.Errorf("connect to postgres: %w", err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		return nil, fmt.Errorf("connect to postgres: %w", err)
	}
	maxOpen := opts.MaxOpenConns
	if maxOpen <= 0 {
		maxOpen = defaultMaxOpenConns
	}
	sqlDB.SetMaxOpenConns(maxOpen)
	sqlDB.SetMaxIdleConns(maxOpen)
	// Recycle idle connections so a scaled-down service gives them back.
	sqlDB.SetConnMaxIdleTime(5 * time.Minute)

	hot, err := openHotPool(dsn)
	if err != nil {
		_ = sqlDB.Close()
		return nil, fmt.Errorf("connect to postgres: %w", err)
	}
	s := &Store{db: db, sql: sqlDB, hot: hot, dsn: dsn}
	s.grouped = newGroupedWrites(s)
	if err := s.Ping(ctx); err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("connect to postgres: %w", err)
	}
	return s, nil
}

// Close releases the connection pools.
func (s *Store) Close() error {
	err := errors.Join(s.sql.Close(), s.hot.Close())
	if err != nil {
		return fmt.Errorf("close postgres pool: %w", err)
	}
	return nil
}

// Ping checks that Postgres answers (readiness probes).
func (s *Store) Ping(ctx context.Context) error {
	if err := s.sql.PingContext(ctx); err != nil {
		return fmt.Errorf("ping postgres: %w", err)
	}
	return nil
}

// Conn takes a dedicated connection from the pool, for what must live
// exactly as long as one session (the dispatcher's leader lock). Close it
// to give it back.
func (s *Store) Conn(ctx context.Context) (*sql.Conn, error) {
	c, err := s.sql.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("dedicated connection: %w", err)
	}
	return c, nil
}

// DB exposes the gorm handle for queries this package does not offer
// (reports, admin tools). Writes that change a job's state must go through
// the Store's methods so the timeline stays complete.
func (s *Store) DB() *gorm.DB {
	return s.db
}

// zapGormLogger routes gorm's logging to zap. It reports only slow
// statements: query errors are returned to (and logged by) the caller, and
// expected ones (a duplicate key, no rows) would be noise here.
type zapGormLogger struct {
	log *zap.Logger
}

var _ gormlogger.Interface = (*zapGormLogger)(nil)

func (l *zapGormLogger) LogMode(gormlogger.LogLevel) gormlogger.Interface { return l }

func (l *zapGormLogger) Info(_ context.Context, msg string, args ...any) {
	l.log.Debug(fmt.Sprintf(msg, args...))
}

func (l *zapGormLogger) Warn(_ context.Context, msg string, args ...any) {
	l.log.Warn(fmt.Sprintf(msg, args...))
}

func (l *zapGormLogger) Error(_ context.Context, msg string, args ...any) {
	l.log.Error(fmt.Sprintf(msg, args...))
}

func (l *zapGormLogger) Trace(_ context.Context, begin time.Time, fc func() (string, int64), _ error) {
	elapsed := time.Since(begin)
	if elapsed < slowQuery {
		return
	}
	query, rows := fc()
	l.log.Warn("slow query", zap.Duration("elapsed", elapsed), zap.Int64("rows", rows), zap.String("sql", query))
}
