package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/hopperq/hopper/pkg/jobs"
	"github.com/hopperq/hopper/pkg/store"
	"github.com/hopperq/hopper/pkg/store/jobstore"
	"github.com/hopperq/hopper/pkg/store/pg"
)

// Lease is the lease tests claim jobs under: long enough that no reaper
// takes them back mid-test.
const Lease = time.Minute

// Kinds of the product that the store's tests create jobs of (the store
// knows no product; the names only make the tests read like the real use).
const (
	KindTranscribe = "chat.transcribe"
	KindIngest     = "document.ingest"
	KindEmail      = "maintenance.email"
	KindCleanup    = "maintenance.cleanup"
)

// Registry is the platform's kinds plus the product kinds the tests use,
// defined as their services define them.
func Registry(t testing.TB) *jobs.Registry {
	t.Helper()
	kinds := append(jobs.DefaultKinds(),
		jobs.Kind{Name: KindTranscribe, Queue: "chat", DefaultPriority: jobs.PriorityHigh, MaxAttempts: 3, Timeout: 10 * time.Minute},
		jobs.Kind{Name: KindIngest, Queue: "document", DefaultPriority: jobs.PriorityNormal, MaxAttempts: 3, Timeout: 5 * time.Minute},
		jobs.Kind{Name: KindEmail, Queue: "maintenance", DefaultPriority: jobs.PriorityLow, MaxAttempts: 6, Timeout: time.Minute},
		jobs.Kind{Name: KindCleanup, Queue: "maintenance", DefaultPriority: jobs.PriorityLow, MaxAttempts: 3, Timeout: 30 * time.Minute},
	)
	reg, err := jobs.NewRegistry(kinds...)
	require.NoError(t, err)
	return reg
}

// Spec is a noop job due at runAt (zero: now), two attempts.
func Spec(t testing.TB, runAt time.Time) jobs.Spec {
	t.Helper()
	k, ok := Registry(t).Lookup(jobs.KindNoop)
	require.True(t, ok)
	return jobs.Spec{
		Kind: k, Payload: json.RawMessage(`{"n": 1}`), Priority: jobs.PriorityHigh,
		RunAt: runAt, MaxAttempts: 2, Timeout: 5 * time.Second,
	}
}

// CreateJob stores one submission through Store.Enqueue.
func CreateJob(ctx context.Context, s *store.Store, nj jobstore.NewJob, now time.Time) (jobstore.Job, bool, error) {
	res, err := s.Enqueue(ctx, []jobstore.NewJob{nj}, now)
	if err != nil {
		return jobstore.Job{}, false, err
	}
	return res[0].Job, res[0].Created, nil
}

// CreateJobs stores a batch through Store.Enqueue and returns its jobs.
func CreateJobs(ctx context.Context, s *store.Store, batch []jobstore.NewJob, now time.Time) ([]jobstore.Job, error) {
	res, err := s.Enqueue(ctx, batch, now)
	return JobsOf(res), err
}

// JobsOf is the jobs of an Enqueue's results.
func JobsOf(res []jobstore.Enqueued) []jobstore.Job {
	if res == nil {
		return nil
	}
	out := make([]jobstore.Job, len(res))
	for i, r := range res {
		out[i] = r.Job
	}
	return out
}

// Job creates a queued noop job of owner.
func Job(t testing.TB, s *store.Store, owner uuid.UUID) jobstore.Job {
	t.Helper()
	j, created, err := CreateJob(t.Context(), s, jobstore.NewJob{OwnerID: owner, Spec: Spec(t, time.Time{})}, time.Now())
	require.NoError(t, err)
	require.True(t, created)
	return j
}

// Scheduled creates a job due in an hour.
func Scheduled(t testing.TB, s *store.Store, owner uuid.UUID) jobstore.Job {
	t.Helper()
	now := time.Now()
	j, _, err := CreateJob(t.Context(), s, jobstore.NewJob{OwnerID: owner, Spec: Spec(t, now.Add(time.Hour))}, now)
	require.NoError(t, err)
	require.Equal(t, jobs.StateScheduled, j.State)
	return j
}

// Running creates a job and claims it as worker.
func Running(t testing.TB, s *store.Store, owner uuid.UUID, worker string) jobstore.Job {
	t.Helper()
	j, err := s.Claim(t.Context(), Job(t, s, owner).ID, worker, Lease)
	require.NoError(t, err)
	return j
}

// Finish ends running job j's attempt with state.
func Finish(t testing.TB, s *store.Store, j jobstore.Job, state jobs.State) jobstore.Job {
	t.Helper()
	got, err := s.Finish(t.Context(), jobstore.Outcome{
		JobID: j.ID, Attempt: j.Attempt, WorkerID: j.WorkerID, State: state,
		Error: "boom", RetryAt: time.Now().Add(time.Hour), Result: json.RawMessage(`{"ok": true}`),
	})
	require.NoError(t, err)
	require.Equal(t, state, got)
	out, err := s.GetJob(t.Context(), nil, j.ID)
	require.NoError(t, err)
	require.Equal(t, state, out.State)
	return out
}

// Timeline renders a job's events as "type/state/attempt".
func Timeline(t testing.TB, s *store.Store, id uuid.UUID) []string {
	t.Helper()
	evs, err := s.Events(context.WithoutCancel(t.Context()), id)
	require.NoError(t, err)
	out := make([]string, len(evs))
	for i, e := range evs {
		require.Equal(t, id, e.JobID)
		require.False(t, e.At.IsZero())
		out[i] = fmt.Sprintf("%s/%s/%d", e.Type, e.State, e.Attempt)
	}
	return out
}

// LimitedJob is a noop submission of owner under a jobs-per-hour quota.
func LimitedJob(t testing.TB, owner uuid.UUID, perHour int) jobstore.NewJob {
	return jobstore.NewJob{OwnerID: owner, Spec: Spec(t, time.Time{}), JobsPerHour: perHour}
}

// QuotaErr is the *pg.QuotaError err must be.
func QuotaErr(t testing.TB, err error) *pg.QuotaError {
	t.Helper()
	var qe *pg.QuotaError
	require.ErrorAs(t, err, &qe)
	require.ErrorIs(t, err, pg.ErrQuotaExceeded)
	return qe
}
