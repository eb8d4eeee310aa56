package pg

import (
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// Errors callers branch on, whichever aggregate returns them. Methods
// wrap them with context; test with errors.Is.
var (
	// ErrNotFound: no such row, or one the caller may not see (another
	// user's job, a revoked key).
	ErrNotFound = errors.New("not found")
	// ErrConflict: the write contradicts existing data (a duplicate email,
	// cancelling a finished job).
	ErrConflict = errors.New("conflict")
	// ErrQuotaExceeded: a plan limit (documents per user, jobs per hour)
	// refuses the write; the error is a *QuotaError saying which.
	ErrQuotaExceeded = errors.New("quota exceeded")
)

// Plan limit names, as the API reports them.
const (
	LimitJobsPerHour      = "jobs_per_hour"
	LimitDocumentsPerUser = "documents_per_user"
)

// QuotaError is a write refused by a plan limit: the jobs-per-hour quota
// (any job's creation) or the documents quota (an upload). errors.Is(err,
// ErrQuotaExceeded) holds for it.
type QuotaError struct {
	Limit     string // LimitJobsPerHour or LimitDocumentsPerUser
	Max       int
	Used      int
	Requested int // jobs the refused write would have added
	// RetryAfter is how long until enough jobs leave the window for the
	// write to fit; 0 when waiting does not help (documents, a batch
	// larger than the limit).
	RetryAfter time.Duration
}

func (e *QuotaError) Error() string {
	return fmt.Sprintf("%s quota exceeded: %d used of %d, %d more asked", e.Limit, e.Used, e.Max, e.Requested)
}

// Is makes errors.Is(err, ErrQuotaExceeded) true.
func (e *QuotaError) Is(target error) bool { return target == ErrQuotaExceeded }

// Postgres SQLSTATE codes the aggregates map to their errors.
const (
	UniqueViolation     = "23505"
	ForeignKeyViolation = "23503"
)

// Code returns err's Postgres SQLSTATE, or "" when err is not from the
// server.
func Code(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}
