// Package pg is the shared base of Hopper's store: the Postgres handle
// every aggregate works through (gorm over pgx, and database/sql), the
// errors they all return, and Querier, the handle their statements run
// on. The aggregates live beside it — jobstore (jobs and what moves
// them), accounts (users, keys, plans, provider limits), content
// (documents, chunks, embeddings, artifacts), schedules — and package
// store composes them for a service's wiring.
//
// Tables are never schema-qualified: a DB works in whatever schema the
// DSN's search_path names, which lets each test own a schema.
package pg

import (
	"context"
	"database/sql"
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

// DB is a handle on Hopper's Postgres database, shared by the aggregates.
// It is safe for concurrent use.
type DB struct {
	gorm *gorm.DB
	sql  *sql.DB
	dsn  string
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
func Open(ctx context.Context, dsn string, opts Options) (*DB, error) {
	log := opts.Logger
	if log == nil {
		log = zap.NewNop()
	}
	g, err := gorm.Open(postgres.New(postgres.Config{DSN: dsn}), &gorm.Config{
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
	sqlDB, err := g.DB()
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
	db := &DB{gorm: g, sql: sqlDB, dsn: dsn}
	if err := db.Ping(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("connect to postgres: %w", err)
	}
	return db, nil
}

// Close releases the connection pool.
func (db *DB) Close() error {
	if err := db.sql.Close(); err != nil {
		return fmt.Errorf("close postgres pool: %w", err)
	}
	return nil
}

// Ping checks that Postgres answers (readiness probes).
func (db *DB) Ping(ctx context.Context) error {
	if err := db.sql.PingContext(ctx); err != nil {
		return fmt.Errorf("ping postgres: %w", err)
	}
	return nil
}

// Conn takes a dedicated connection from the pool, for what must live
// exactly as long as one session (the dispatcher's leader lock). Close it
// to give it back.
func (db *DB) Conn(ctx context.Context) (*sql.Conn, error) {
	c, err := db.sql.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("dedicated connection: %w", err)
	}
	return c, nil
}

// Gorm is the gorm handle the aggregates query with; also for queries no
// aggregate offers (reports, admin tools, tests). Writes that change a
// job's state must go through jobstore so the timeline stays complete.
func (db *DB) Gorm() *gorm.DB { return db.gorm }

// SQL is the same pool through database/sql, for statements scanned
// without reflection and for Querier.
func (db *DB) SQL() *sql.DB { return db.sql }

// DSN is the connection string, for the dedicated connections some
// readers open (listeners, the hot path's pool).
func (db *DB) DSN() string { return db.dsn }

// Querier runs statements: a DB's pool (SQL), a gorm transaction's
// connection (tx.Statement.ConnPool), or a caller's own *sql.Tx (the
// transactional enqueue). The statements that must run inside someone
// else's transaction take one.
type Querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
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
