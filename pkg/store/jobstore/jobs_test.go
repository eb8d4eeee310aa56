package jobstore_test

import (
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/hopperq/hopper/pkg/jobs"
	"github.com/hopperq/hopper/pkg/store/jobstore"
	"github.com/hopperq/hopper/pkg/store/pg"
	"github.com/hopperq/hopper/pkg/store/storetest"
)

func TestCreateJob(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	owner := storetest.User(t, s)
	now := time.Now().UTC().Truncate(time.Microsecond)

	tests := []struct {
		name      string
		runAt     time.Time
		wantState jobs.State
		wantRunAt time.Time
	}{
		{name: "due now", wantState: jobs.StateQueued, wantRunAt: now},
		{name: "due in the past", runAt: now.Add(-time.Hour), wantState: jobs.StateQueued, wantRunAt: now.Add(-time.Hour)},
		{name: "due later", runAt: now.Add(time.Hour), wantState: jobs.StateScheduled, wantRunAt: now.Add(time.Hour)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			spec := storetest.Spec(t, tc.runAt)
			spec.WebhookURL = "https://example.com/hook"
			j, created, err := storetest.CreateJob(t.Context(), s, jobstore.NewJob{OwnerID: owner.ID, Spec: spec}, now)
			require.NoError(t, err)
			require.True(t, created)

			require.EqualValues(t, 7, j.ID.Version())
			require.Equal(t, owner.ID, j.OwnerID)
			require.Equal(t, jobs.KindNoop, j.Kind)
			require.Equal(t, "maintenance", j.Queue)
			require.Equal(t, tc.wantState, j.State)
			require.Equal(t, int(jobs.PriorityHigh), j.Priority)
			require.JSONEq(t, `{"n": 1}`, string(j.Payload))
			require.Nil(t, j.Result)
			require.Zero(t, j.Attempt)
			require.Equal(t, 2, j.MaxAttempts)
			require.Equal(t, 5*time.Second, j.Timeout())
			require.Equal(t, "https://example.com/hook", j.WebhookURL)
			require.Nil(t, j.IdempotencyKey)
			require.False(t, j.CancelRequested)
			require.Empty(t, j.WorkerID)
			require.Nil(t, j.LeaseExpiresAt)
			require.Nil(t, j.StartedAt)
			require.Nil(t, j.FinishedAt)
			require.Nil(t, j.PublishedAt)
			require.True(t, tc.wantRunAt.Equal(j.RunAt), "run_at %s, want %s", j.RunAt, tc.wantRunAt)
			require.True(t, now.Equal(j.CreatedAt))
			require.True(t, now.Equal(j.UpdatedAt))

			got, err := s.GetJob(t.Context(), &owner.ID, j.ID)
			require.NoError(t, err)
			require.Equal(t, j.ID, got.ID)
			require.JSONEq(t, string(j.Payload), string(got.Payload))

			require.Equal(t, []string{"created/" + string(tc.wantState) + "/0"}, storetest.Timeline(t, s, j.ID))
		})
	}
}

func TestCreateJobIdempotent(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ctx := t.Context()
	owner, other := storetest.User(t, s), storetest.User(t, s)
	submit := func(o uuid.UUID, key string) (jobstore.Job, bool) {
		t.Helper()
		j, created, err := storetest.CreateJob(ctx, s, jobstore.NewJob{OwnerID: o, Spec: storetest.Spec(t, time.Time{}), IdempotencyKey: key}, time.Now())
		require.NoError(t, err)
		return j, created
	}

	first, created := submit(owner.ID, "k1")
	require.True(t, created)
	require.Equal(t, "k1", *first.IdempotencyKey)
	again, created := submit(owner.ID, "k1")
	require.False(t, created)
	require.Equal(t, first.ID, again.ID)

	// Keys are per owner; no key means no deduplication.
	theirs, created := submit(other.ID, "k1")
	require.True(t, created)
	require.NotEqual(t, first.ID, theirs.ID)
	a, _ := submit(owner.ID, "")
	b, _ := submit(owner.ID, "")
	require.NotEqual(t, a.ID, b.ID)

	var n int64
	require.NoError(t, s.Gorm().WithContext(ctx).Model(&jobstore.Job{}).
		Where("owner_id = ? AND idempotency_key = ?", owner.ID, "k1").Count(&n).Error)
	require.EqualValues(t, 1, n)
	require.Len(t, storetest.Timeline(t, s, first.ID), 1, "a duplicate submit appends no event")
}

func TestCreateJobIdempotentConcurrent(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	owner := storetest.User(t, s)

	const n = 10
	ids := make([]uuid.UUID, n)
	created := make([]bool, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			var j jobstore.Job
			j, created[i], errs[i] = storetest.CreateJob(t.Context(), s,
				jobstore.NewJob{OwnerID: owner.ID, Spec: storetest.Spec(t, time.Time{}), IdempotencyKey: "same"}, time.Now())
			ids[i] = j.ID
		})
	}
	wg.Wait()
	winners := 0
	for i := range n {
		require.NoError(t, errs[i])
		require.Equal(t, ids[0], ids[i])
		if created[i] {
			winners++
		}
	}
	require.Equal(t, 1, winners)
	page, _, err := s.ListJobs(t.Context(), jobstore.ListFilter{OwnerID: &owner.ID})
	require.NoError(t, err)
	require.Len(t, page, 1)
}

func TestGetJobOwnership(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	owner, other := storetest.User(t, s), storetest.User(t, s)
	j := storetest.Job(t, s, owner.ID)

	_, err := s.GetJob(t.Context(), &other.ID, j.ID)
	require.ErrorIs(t, err, pg.ErrNotFound)
	_, err = s.GetJob(t.Context(), &owner.ID, uuid.New())
	require.ErrorIs(t, err, pg.ErrNotFound)
	got, err := s.GetJob(t.Context(), nil, j.ID)
	require.NoError(t, err, "nil owner is an admin's view")
	require.Equal(t, j.ID, got.ID)
}

func TestListJobsPaginates(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	owner, other := storetest.User(t, s), storetest.User(t, s)
	// Many jobs share a created_at, so ties are broken by id.
	base := time.Now()
	var want []uuid.UUID
	for i := range 25 {
		j, _, err := storetest.CreateJob(t.Context(), s, jobstore.NewJob{OwnerID: owner.ID, Spec: storetest.Spec(t, time.Time{})},
			base.Add(time.Duration(i/3)*time.Second))
		require.NoError(t, err)
		want = append([]uuid.UUID{j.ID}, want...) // newest first
	}
	storetest.Job(t, s, other.ID)

	var got []uuid.UUID
	cursor, pages := "", 0
	for {
		page, next, err := s.ListJobs(t.Context(), jobstore.ListFilter{OwnerID: &owner.ID, Limit: 10, Cursor: cursor})
		require.NoError(t, err)
		pages++
		for _, j := range page {
			require.Equal(t, owner.ID, j.OwnerID)
			got = append(got, j.ID)
		}
		if next == "" {
			break
		}
		cursor = next
	}
	require.Equal(t, 3, pages)
	require.Equal(t, want, got, "every job once, newest first")

	all, next, err := s.ListJobs(t.Context(), jobstore.ListFilter{})
	require.NoError(t, err)
	require.Empty(t, next)
	require.Len(t, all, 26, "no owner filter: an admin sees everyone's")
}

func TestListJobsFilters(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	owner := storetest.User(t, s)
	queued := storetest.Job(t, s, owner.ID)
	scheduled := storetest.Scheduled(t, s, owner.ID)
	running := storetest.Running(t, s, owner.ID, "w1")
	sleepSpec := storetest.Spec(t, time.Time{})
	sleepSpec.Kind.Name = jobs.KindSleep
	sleeper, _, err := storetest.CreateJob(t.Context(), s, jobstore.NewJob{OwnerID: owner.ID, Spec: sleepSpec}, time.Now())
	require.NoError(t, err)

	tests := []struct {
		name string
		f    jobstore.ListFilter
		want []uuid.UUID
	}{
		{name: "queued", f: jobstore.ListFilter{States: []jobs.State{jobs.StateQueued}}, want: []uuid.UUID{sleeper.ID, queued.ID}},
		{name: "scheduled or running", f: jobstore.ListFilter{States: []jobs.State{jobs.StateScheduled, jobs.StateRunning}},
			want: []uuid.UUID{running.ID, scheduled.ID}},
		{name: "kind", f: jobstore.ListFilter{Kind: jobs.KindSleep}, want: []uuid.UUID{sleeper.ID}},
		{name: "kind and state", f: jobstore.ListFilter{Kind: jobs.KindNoop, States: []jobs.State{jobs.StateQueued}}, want: []uuid.UUID{queued.ID}},
		{name: "nothing", f: jobstore.ListFilter{States: []jobs.State{jobs.StateFailed}}, want: nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.f.OwnerID = &owner.ID
			page, next, err := s.ListJobs(t.Context(), tc.f)
			require.NoError(t, err)
			require.Empty(t, next)
			var got []uuid.UUID
			for _, j := range page {
				got = append(got, j.ID)
			}
			require.Equal(t, tc.want, got)
		})
	}
}

func TestListJobsBadCursor(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	for _, c := range []string{"!!!", "aGVsbG8", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"} {
		_, _, err := s.ListJobs(t.Context(), jobstore.ListFilter{Cursor: c})
		require.ErrorIs(t, err, jobstore.ErrBadCursor, "cursor %q", c)
	}
}

func TestClaim(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	owner := storetest.User(t, s)
	j := storetest.Job(t, s, owner.ID)

	before := time.Now()
	c, err := s.Claim(t.Context(), j.ID, "w1", storetest.Lease)
	require.NoError(t, err)
	require.Equal(t, jobs.StateRunning, c.State)
	require.Equal(t, 1, c.Attempt)
	require.Equal(t, "w1", c.WorkerID)
	require.JSONEq(t, `{"n": 1}`, string(c.Payload), "the claim returns the payload")
	require.NotNil(t, c.StartedAt)
	require.NotNil(t, c.LeaseExpiresAt)
	require.WithinDuration(t, before.Add(storetest.Lease), *c.LeaseExpiresAt, 5*time.Second)

	_, err = s.Claim(t.Context(), j.ID, "w2", storetest.Lease)
	require.ErrorIs(t, err, jobstore.ErrNotClaimed)
	_, err = s.Claim(t.Context(), uuid.New(), "w2", storetest.Lease)
	require.ErrorIs(t, err, jobstore.ErrNotClaimed)
	_, err = s.Claim(t.Context(), storetest.Scheduled(t, s, owner.ID).ID, "w2", storetest.Lease)
	require.ErrorIs(t, err, jobstore.ErrNotClaimed, "a scheduled job is not claimable")

	require.Equal(t, []string{"created/queued/0", "started/running/1"}, storetest.Timeline(t, s, j.ID))
}

// TestClaimConcurrent: of concurrent claims of one job, regular and
// urgent ones mixed (an urgent one is written beside a running batch),
// exactly one wins.
func TestClaimConcurrent(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	j := storetest.Job(t, s, storetest.User(t, s).ID)

	const n = 20
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		claim := s.Claim
		if i%2 == 1 {
			claim = s.ClaimUrgent
		}
		wg.Go(func() { _, errs[i] = claim(t.Context(), j.ID, "w", storetest.Lease) })
	}
	wg.Wait()
	wins := 0
	for _, err := range errs {
		if err == nil {
			wins++
			continue
		}
		require.ErrorIs(t, err, jobstore.ErrNotClaimed)
	}
	require.Equal(t, 1, wins)
	require.Equal(t, []string{"created/queued/0", "started/running/1"}, storetest.Timeline(t, s, j.ID))
}

func TestHeartbeatAndProgress(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	owner := storetest.User(t, s)
	j := storetest.Running(t, s, owner.ID, "w1")
	ctx := t.Context()

	cancel, err := s.Heartbeat(ctx, j.ID, j.Attempt, "w1", time.Hour)
	require.NoError(t, err)
	require.False(t, cancel)
	got, err := s.GetJob(ctx, nil, j.ID)
	require.NoError(t, err)
	require.True(t, got.LeaseExpiresAt.After(j.LeaseExpiresAt.Add(30*time.Minute)), "lease extended")

	tests := []struct {
		name, msg string
		pct, want int
	}{
		{name: "in range", pct: 42, want: 42, msg: "halfway"},
		{name: "above", pct: 250, want: 100, msg: "over"},
		{name: "below", pct: -5, want: 0, msg: "under"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.Progress(ctx, j.ID, j.Attempt, "w1", tc.pct, tc.msg, storetest.Lease)
			require.NoError(t, err)
			got, err := s.GetJob(ctx, nil, j.ID)
			require.NoError(t, err)
			require.Equal(t, tc.want, got.Progress)
			require.Equal(t, tc.msg, got.StatusMessage)
		})
	}

	// Only the owning attempt of a running job may write.
	stale := []struct {
		name    string
		id      uuid.UUID
		attempt int
		worker  string
	}{
		{name: "wrong worker", id: j.ID, attempt: j.Attempt, worker: "w2"},
		{name: "wrong attempt", id: j.ID, attempt: j.Attempt + 1, worker: "w1"},
		{name: "unknown job", id: uuid.New(), attempt: 1, worker: "w1"},
	}
	for _, tc := range stale {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.Heartbeat(ctx, tc.id, tc.attempt, tc.worker, storetest.Lease)
			require.ErrorIs(t, err, jobstore.ErrLeaseLost)
			_, err = s.Progress(ctx, tc.id, tc.attempt, tc.worker, 1, "x", storetest.Lease)
			require.ErrorIs(t, err, jobstore.ErrLeaseLost)
		})
	}

	_, err = s.Cancel(ctx, &owner.ID, j.ID)
	require.NoError(t, err)
	cancel, err = s.Heartbeat(ctx, j.ID, j.Attempt, "w1", storetest.Lease)
	require.NoError(t, err)
	require.True(t, cancel, "the worker learns of the cancel at its heartbeat")
	cancel, err = s.Progress(ctx, j.ID, j.Attempt, "w1", 50, "", storetest.Lease)
	require.NoError(t, err)
	require.True(t, cancel)

	// Progress writes are not transitions.
	require.Equal(t, []string{"created/queued/0", "started/running/1", "cancel_requested/running/1"}, storetest.Timeline(t, s, j.ID))
}

func TestFinish(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	owner := storetest.User(t, s)
	retryAt := time.Now().Add(time.Hour).UTC().Truncate(time.Microsecond)

	tests := []struct {
		name  string
		out   jobstore.Outcome
		check func(t *testing.T, j jobstore.Job)
		event string
	}{
		{
			name:  "succeeded",
			out:   jobstore.Outcome{State: jobs.StateSucceeded, Result: json.RawMessage(`{"answer": 42}`), Message: "done"},
			event: "succeeded/succeeded/1",
			check: func(t *testing.T, j jobstore.Job) {
				require.JSONEq(t, `{"answer": 42}`, string(j.Result))
				require.Equal(t, 100, j.Progress)
				require.NotNil(t, j.FinishedAt)
				require.Empty(t, j.Error)
			},
		},
		{
			name:  "failed",
			out:   jobstore.Outcome{State: jobs.StateFailed, Error: "permanent: bad input"},
			event: "failed/failed/1",
			check: func(t *testing.T, j jobstore.Job) {
				require.Equal(t, "permanent: bad input", j.Error)
				require.Nil(t, j.Result)
				require.NotNil(t, j.FinishedAt)
			},
		},
		{
			name:  "cancelled",
			out:   jobstore.Outcome{State: jobs.StateCancelled, Message: "stopped"},
			event: "cancelled/cancelled/1",
			check: func(t *testing.T, j jobstore.Job) { require.NotNil(t, j.FinishedAt) },
		},
		{
			name:  "retrying",
			out:   jobstore.Outcome{State: jobs.StateRetrying, Error: "timeout", RetryAt: retryAt},
			event: "retrying/retrying/1",
			check: func(t *testing.T, j jobstore.Job) {
				require.True(t, retryAt.Equal(j.RunAt))
				require.Equal(t, "timeout", j.Error)
				require.Nil(t, j.FinishedAt)
			},
		},
		{
			name:  "released",
			out:   jobstore.Outcome{State: jobs.StateQueued, Message: "worker shutting down"},
			event: "released/queued/0",
			check: func(t *testing.T, j jobstore.Job) {
				require.Zero(t, j.Attempt, "a release charges no attempt")
				require.Empty(t, j.WorkerID)
				require.Nil(t, j.PublishedAt, "back in the outbox")
				require.Nil(t, j.FinishedAt)
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			j := storetest.Running(t, s, owner.ID, "w1")
			require.NoError(t, s.MarkPublished(t.Context(), j.ID))
			o := tc.out
			o.JobID, o.Attempt, o.WorkerID = j.ID, j.Attempt, "w1"

			wrongWorker := o
			wrongWorker.WorkerID = "w2"
			_, err := s.Finish(t.Context(), wrongWorker)
			require.ErrorIs(t, err, jobstore.ErrLeaseLost)

			state, err := s.Finish(t.Context(), o)
			require.NoError(t, err)
			require.Equal(t, tc.out.State, state)
			done, err := s.GetJob(t.Context(), nil, j.ID)
			require.NoError(t, err)
			require.Equal(t, tc.out.State, done.State)
			require.Nil(t, done.LeaseExpiresAt)
			tc.check(t, done)

			_, err = s.Finish(t.Context(), o)
			require.ErrorIs(t, err, jobstore.ErrLeaseLost, "an attempt finishes once")
			require.Equal(t, []string{"created/queued/0", "started/running/1", tc.event}, storetest.Timeline(t, s, j.ID))
		})
	}
}

func TestFinishStaleAttempt(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ctx := t.Context()
	j := storetest.Running(t, s, storetest.User(t, s).ID, "w1")

	// A release does not charge attempt 1, so w2's claim is attempt 1
	// again: the worker id tells the two apart.
	storetest.Finish(t, s, j, jobs.StateQueued)
	again, err := s.Claim(ctx, j.ID, "w2", storetest.Lease)
	require.NoError(t, err)
	require.Equal(t, 1, again.Attempt)
	_, err = s.Finish(ctx, jobstore.Outcome{JobID: j.ID, Attempt: 1, WorkerID: "w1", State: jobs.StateSucceeded})
	require.ErrorIs(t, err, jobstore.ErrLeaseLost)

	// Attempt 2 supersedes attempt 1 of the same worker.
	retried := storetest.Finish(t, s, again, jobs.StateRetrying)
	_, err = s.PromoteDue(ctx, retried.RunAt, 10)
	require.NoError(t, err)
	third, err := s.Claim(ctx, j.ID, "w2", storetest.Lease)
	require.NoError(t, err)
	require.Equal(t, 2, third.Attempt)
	_, err = s.Finish(ctx, jobstore.Outcome{JobID: j.ID, Attempt: retried.Attempt, WorkerID: "w2", State: jobs.StateFailed})
	require.ErrorIs(t, err, jobstore.ErrLeaseLost)

	_, err = s.Finish(ctx, jobstore.Outcome{JobID: j.ID, Attempt: 2, WorkerID: "w2", State: "bogus"})
	require.Error(t, err)
	require.NotErrorIs(t, err, jobstore.ErrLeaseLost)

	require.Equal(t, []string{
		"created/queued/0", "started/running/1", "released/queued/0", "started/running/1",
		"retrying/retrying/1", "queued/queued/1", "started/running/2",
	}, storetest.Timeline(t, s, j.ID))
}

func TestFinishAfterCancelRequested(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	owner := storetest.User(t, s)
	for _, st := range []jobs.State{jobs.StateRetrying, jobs.StateQueued} {
		t.Run(string(st), func(t *testing.T) {
			j := storetest.Running(t, s, owner.ID, "w1")
			_, err := s.Cancel(t.Context(), &owner.ID, j.ID)
			require.NoError(t, err)
			state, err := s.Finish(t.Context(), jobstore.Outcome{JobID: j.ID, Attempt: 1, WorkerID: "w1",
				State: st, Error: "boom", RetryAt: time.Now().Add(time.Hour)})
			require.NoError(t, err)
			require.Equal(t, jobs.StateCancelled, state, "the user's cancel wins over a retry")
			out, err := s.GetJob(t.Context(), nil, j.ID)
			require.NoError(t, err)
			require.Equal(t, jobs.StateCancelled, out.State)
			require.NotNil(t, out.FinishedAt)
			require.Equal(t, []string{"created/queued/0", "started/running/1",
				"cancel_requested/running/1", "cancelled/cancelled/1"}, storetest.Timeline(t, s, j.ID))
		})
	}
}

func TestCancel(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	owner, other := storetest.User(t, s), storetest.User(t, s)

	tests := []struct {
		name     string
		setup    func(t *testing.T) jobstore.Job
		want     jobs.State
		err      error
		timeline []string
	}{
		{
			name:     "queued",
			setup:    func(t *testing.T) jobstore.Job { return storetest.Job(t, s, owner.ID) },
			want:     jobs.StateCancelled,
			timeline: []string{"created/queued/0", "cancelled/cancelled/0"},
		},
		{
			name:     "scheduled",
			setup:    func(t *testing.T) jobstore.Job { return storetest.Scheduled(t, s, owner.ID) },
			want:     jobs.StateCancelled,
			timeline: []string{"created/scheduled/0", "cancelled/cancelled/0"},
		},
		{
			name: "retrying",
			setup: func(t *testing.T) jobstore.Job {
				return storetest.Finish(t, s, storetest.Running(t, s, owner.ID, "w1"), jobs.StateRetrying)
			},
			want: jobs.StateCancelled,
			timeline: []string{"created/queued/0", "started/running/1", "retrying/retrying/1",
				"cancelled/cancelled/1"},
		},
		{
			name:     "running",
			setup:    func(t *testing.T) jobstore.Job { return storetest.Running(t, s, owner.ID, "w1") },
			want:     jobs.StateRunning,
			timeline: []string{"created/queued/0", "started/running/1", "cancel_requested/running/1"},
		},
		{
			name: "succeeded",
			setup: func(t *testing.T) jobstore.Job {
				return storetest.Finish(t, s, storetest.Running(t, s, owner.ID, "w1"), jobs.StateSucceeded)
			},
			err:      pg.ErrConflict,
			timeline: []string{"created/queued/0", "started/running/1", "succeeded/succeeded/1"},
		},
		{
			name:     "other owner's",
			setup:    func(t *testing.T) jobstore.Job { return storetest.Job(t, s, other.ID) },
			err:      pg.ErrNotFound,
			timeline: []string{"created/queued/0"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			j := tc.setup(t)
			got, err := s.Cancel(t.Context(), &owner.ID, j.ID)
			if tc.err != nil {
				require.ErrorIs(t, err, tc.err)
			} else {
				require.NoError(t, err)
				require.Equal(t, tc.want, got.State)
				if tc.want == jobs.StateRunning {
					require.True(t, got.CancelRequested)
					require.Nil(t, got.FinishedAt)
					require.NotNil(t, got.LeaseExpiresAt, "the worker keeps its lease to finish")
				} else {
					require.NotNil(t, got.FinishedAt)
					require.Nil(t, got.LeaseExpiresAt)
				}
				// Cancelling again changes nothing and appends no event.
				again, err := s.Cancel(t.Context(), &owner.ID, j.ID)
				if tc.want == jobs.StateRunning {
					require.NoError(t, err)
					require.True(t, again.CancelRequested)
				} else {
					require.ErrorIs(t, err, pg.ErrConflict)
				}
			}
			require.Equal(t, tc.timeline, storetest.Timeline(t, s, j.ID))
		})
	}

	_, err := s.Cancel(t.Context(), nil, uuid.New())
	require.ErrorIs(t, err, pg.ErrNotFound)
}
