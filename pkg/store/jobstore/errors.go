package jobstore

import "errors"

// Errors of the jobs aggregate callers branch on (pg has the ones every
// aggregate returns). Methods wrap them with context; test with
// errors.Is.
var (
	// ErrNotClaimed: a claim found no queued job, so the delivery is stale
	// (the job is done, cancelled, or owned by another worker).
	ErrNotClaimed = errors.New("job not claimable")
	// ErrLeaseLost: a worker's conditional write matched no row because its
	// attempt no longer owns the job.
	ErrLeaseLost = errors.New("lease lost")
	// ErrBadCursor: a list cursor was not one ListJobs produced.
	ErrBadCursor = errors.New("malformed cursor")
)
