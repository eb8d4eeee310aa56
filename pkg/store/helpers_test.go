package store_test

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
	"github.com/hopperq/hopper/pkg/store/accounts"
	"github.com/hopperq/hopper/pkg/store/storetest"
)

const testLease = time.Minute

// newStore opens a migrated store on a fresh schema of its own.
func newStore(t *testing.T) *store.Store { return storetest.New(t) }

// openStore opens dsn and closes the store when t ends.
func openStore(t *testing.T, dsn string) *store.Store { return storetest.Open(t, dsn) }

func mustUser(t *testing.T, s *store.Store) accounts.User { return storetest.User(t, s) }

// Kinds of the product that the store's tests create jobs of (the store
// knows no product; the names only make the tests read like the real use).
const (
	kindTranscribe = "chat.transcribe"
	kindIngest     = "document.ingest"
	kindEmail      = "maintenance.email"
	kindCleanup    = "maintenance.cleanup"
)

// testRegistry is the platform's kinds plus the product kinds the tests
// use, defined as their services define them.
func testRegistry(t *testing.T) *jobs.Registry {
	t.Helper()
	kinds := append(jobs.DefaultKinds(),
		jobs.Kind{Name: kindTranscribe, Queue: "chat", DefaultPriority: jobs.PriorityHigh, MaxAttempts: 3, Timeout: 10 * time.Minute},
		jobs.Kind{Name: kindIngest, Queue: "document", DefaultPriority: jobs.PriorityNormal, MaxAttempts: 3, Timeout: 5 * time.Minute},
		jobs.Kind{Name: kindEmail, Queue: "maintenance", DefaultPriority: jobs.PriorityLow, MaxAttempts: 6, Timeout: time.Minute},
		jobs.Kind{Name: kindCleanup, Queue: "maintenance", DefaultPriority: jobs.PriorityLow, MaxAttempts: 3, Timeout: 30 * time.Minute},
	)
	reg, err := jobs.NewRegistry(kinds...)
	require.NoError(t, err)
	return reg
}

// testSpec is a noop job due at runAt (zero: now), two attempts.
func testSpec(t *testing.T, runAt time.Time) jobs.Spec {
	t.Helper()
	reg := testRegistry(t)
	k, ok := reg.Lookup(jobs.KindNoop)
	require.True(t, ok)
	return jobs.Spec{
		Kind: k, Payload: json.RawMessage(`{"n": 1}`), Priority: jobs.PriorityHigh,
		RunAt: runAt, MaxAttempts: 2, Timeout: 5 * time.Second,
	}
}

func mustJob(t *testing.T, s *store.Store, owner uuid.UUID) store.Job {
	t.Helper()
	j, created, err := createJob(t.Context(), s, store.NewJob{OwnerID: owner, Spec: testSpec(t, time.Time{})}, time.Now())
	require.NoError(t, err)
	require.True(t, created)
	return j
}

// mustScheduled creates a job due in an hour.
func mustScheduled(t *testing.T, s *store.Store, owner uuid.UUID) store.Job {
	t.Helper()
	now := time.Now()
	j, _, err := createJob(t.Context(), s, store.NewJob{OwnerID: owner, Spec: testSpec(t, now.Add(time.Hour))}, now)
	require.NoError(t, err)
	require.Equal(t, jobs.StateScheduled, j.State)
	return j
}

// mustRunning creates a job and claims it as worker.
func mustRunning(t *testing.T, s *store.Store, owner uuid.UUID, worker string) store.Job {
	t.Helper()
	j, err := s.Claim(t.Context(), mustJob(t, s, owner).ID, worker, testLease)
	require.NoError(t, err)
	return j
}

// mustFinish ends running job j's attempt with state.
func mustFinish(t *testing.T, s *store.Store, j store.Job, state jobs.State) store.Job {
	t.Helper()
	got, err := s.Finish(t.Context(), store.Outcome{
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

// timeline renders a job's events as "type/state/attempt".
func timeline(t *testing.T, s *store.Store, id uuid.UUID) []string {
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

// createJob stores one submission through Store.Enqueue.
func createJob(ctx context.Context, s *store.Store, nj store.NewJob, now time.Time) (store.Job, bool, error) {
	res, err := s.Enqueue(ctx, []store.NewJob{nj}, now)
	if err != nil {
		return store.Job{}, false, err
	}
	return res[0].Job, res[0].Created, nil
}

// createJobs stores a batch through Store.Enqueue and returns its jobs.
func createJobs(ctx context.Context, s *store.Store, batch []store.NewJob, now time.Time) ([]store.Job, error) {
	res, err := s.Enqueue(ctx, batch, now)
	return jobsOf(res), err
}

// jobsOf is the jobs of an Enqueue's results.
func jobsOf(res []store.Enqueued) []store.Job {
	if res == nil {
		return nil
	}
	out := make([]store.Job, len(res))
	for i, r := range res {
		out[i] = r.Job
	}
	return out
}
