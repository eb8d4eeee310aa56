package store

import (
	"errors"

	"github.com/jackc/pgx/v5/pgconn"
)

// Errors callers branch on. Methods wrap them with context; test with
// errors.Is.
var (
	// ErrNotFound: no such row, or one the caller may not see (another
	// user's job, a revoked key).
	ErrNotFound = errors.New("not found")
	// ErrConflict: the write contradicts existing data (a duplicate email,
	// cancelling a finished job).
	ErrConflict = errors.New("conflict")
	// ErrNotClaimed: a claim found no queued job, so the delivery is stale
	// (the job is done, cancelled, or owned by another worker).
	ErrNotClaimed = errors.New("job not claimable")
	// ErrLeaseLost: a worker's conditional write matched no row because its
	// attempt no longer owns the job.
	ErrLeaseLost = errors.New("lease lost")
	// ErrBadCursor: a list cursor was not one ListJobs produced.
	ErrBadCursor = errors.New("malformed cursor")
)

// Postgres SQLSTATE codes this package maps to its errors.
const (
	pgUniqueViolation     = "23505"
	pgForeignKeyViolation = "23503"
)

// pgCode returns err's Postgres SQLSTATE, or "" when err is not from the
// server.
func pgCode(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}
