package jobstore_test

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hopperq/hopper/pkg/jobs"
	"github.com/hopperq/hopper/pkg/store"
	"github.com/hopperq/hopper/pkg/store/accounts"
	"github.com/hopperq/hopper/pkg/store/jobstore"
	"github.com/hopperq/hopper/pkg/store/pg"
	"github.com/hopperq/hopper/pkg/store/storetest"
	"github.com/hopperq/hopper/pkg/testkit"
)

// The window slides: jobs created 59 minutes before "now" hold their
// slots for one more minute, and free them then. The clock is injected.
func TestJobsPerHourSlidingWindow(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ctx := t.Context()
	u := storetest.User(t, s)
	t0 := time.Now().Add(-59 * time.Minute)

	for range 3 {
		_, created, err := storetest.CreateJob(ctx, s, storetest.LimitedJob(t, u.ID, 5), t0)
		require.NoError(t, err)
		require.True(t, created)
	}
	now := t0.Add(59 * time.Minute)
	for range 2 {
		_, _, err := storetest.CreateJob(ctx, s, storetest.LimitedJob(t, u.ID, 5), now)
		require.NoError(t, err)
	}
	// Cron ticks (the operator's schedules) do not count, nor do other
	// owners' jobs. (Follow-ups, webhook: and notify:, do: issue 18.)
	sys := storetest.LimitedJob(t, u.ID, 0)
	sys.IdempotencyKey = "schedule:x:2026-01-01T00:00:00Z"
	_, _, err := storetest.CreateJob(ctx, s, sys, now)
	require.NoError(t, err)
	storetest.Job(t, s, storetest.User(t, s).ID)

	_, _, err = storetest.CreateJob(ctx, s, storetest.LimitedJob(t, u.ID, 5), now)
	qe := storetest.QuotaErr(t, err)
	assert.Equal(t, pg.LimitJobsPerHour, qe.Limit)
	assert.Equal(t, 5, qe.Max)
	assert.Equal(t, 5, qe.Used)
	assert.InDelta(t, time.Minute.Seconds(), qe.RetryAfter.Seconds(), 1)

	// A batch of 3 needs the three oldest gone: the same minute.
	_, err = storetest.CreateJobs(ctx, s, []jobstore.NewJob{storetest.LimitedJob(t, u.ID, 5), storetest.LimitedJob(t, u.ID, 5), storetest.LimitedJob(t, u.ID, 5)}, now)
	qe = storetest.QuotaErr(t, err)
	assert.Equal(t, 3, qe.Requested)
	assert.InDelta(t, time.Minute.Seconds(), qe.RetryAfter.Seconds(), 1)
	// With the two newest in the way, a batch of 4 waits an hour.
	_, err = storetest.CreateJobs(ctx, s, []jobstore.NewJob{storetest.LimitedJob(t, u.ID, 5), storetest.LimitedJob(t, u.ID, 5), storetest.LimitedJob(t, u.ID, 5), storetest.LimitedJob(t, u.ID, 5)}, now)
	qe = storetest.QuotaErr(t, err)
	assert.InDelta(t, time.Hour.Seconds(), qe.RetryAfter.Seconds(), 1)

	usage, err := s.QuotaUsage(ctx, u.ID, 5, now)
	require.NoError(t, err)
	assert.Equal(t, 5, usage.JobsInWindow)
	require.NotNil(t, usage.NextSlotAt)
	assert.WithinDuration(t, t0.Add(time.Hour), *usage.NextSlotAt, time.Millisecond)
	assert.InDelta(t, time.Minute.Seconds(), usage.RetryAfter.Seconds(), 1)

	// A minute later the three oldest left the window.
	later := now.Add(time.Minute + time.Second)
	created, err := storetest.CreateJobs(ctx, s, []jobstore.NewJob{storetest.LimitedJob(t, u.ID, 5), storetest.LimitedJob(t, u.ID, 5), storetest.LimitedJob(t, u.ID, 5)}, later)
	require.NoError(t, err)
	require.Len(t, created, 3)
	_, _, err = storetest.CreateJob(ctx, s, storetest.LimitedJob(t, u.ID, 5), later)
	storetest.QuotaErr(t, err)

	// An idempotent replay answers its job even with the quota full.
	keyed := storetest.LimitedJob(t, u.ID, 0)
	keyed.IdempotencyKey = "k1"
	first, _, err := storetest.CreateJob(ctx, s, keyed, now.Add(-2*time.Hour))
	require.NoError(t, err)
	keyed.JobsPerHour = 5
	replay, createdAgain, err := storetest.CreateJob(ctx, s, keyed, later)
	require.NoError(t, err)
	assert.False(t, createdAgain)
	assert.Equal(t, first.ID, replay.ID)
}

// Parallel submits through every path never overshoot the limit.
func TestJobsPerHourConcurrent(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ctx := t.Context()
	u := storetest.User(t, s)
	const limit = 100
	var admitted, refused atomic.Int64
	var wg sync.WaitGroup
	for g := range 24 {
		wg.Go(func() {
			for range 6 {
				var n int
				var err error
				if g%3 == 0 {
					var rows []jobstore.Job
					rows, err = storetest.CreateJobs(ctx, s, []jobstore.NewJob{storetest.LimitedJob(t, u.ID, limit), storetest.LimitedJob(t, u.ID, limit)}, time.Now())
					n = len(rows)
				} else {
					_, _, err = storetest.CreateJob(ctx, s, storetest.LimitedJob(t, u.ID, limit), time.Now())
					n = 1
				}
				switch {
				case err == nil:
					admitted.Add(int64(n))
				case errors.Is(err, pg.ErrQuotaExceeded):
					refused.Add(1)
				default:
					t.Errorf("submit: %v", err)
				}
			}
		})
	}
	wg.Wait()
	assert.EqualValues(t, limit, admitted.Load())
	assert.Positive(t, refused.Load())
	var n int64
	require.NoError(t, s.Gorm().WithContext(ctx).Raw(`SELECT count(*) FROM jobs WHERE owner_id = ?`, u.ID).Scan(&n).Error)
	assert.EqualValues(t, limit, n)
}

// BenchmarkCreateJobQuota measures a submit's cost of the jobs-per-hour
// check: unlimited (one statement) against limited with an empty window
// and with 5,000 jobs already in the window (a busy premium user).
func BenchmarkCreateJobQuota(b *testing.B) {
	for _, bc := range []struct {
		name     string
		perHour  int
		inWindow int
	}{
		{"unlimited", 0, 0},
		{"limited_window_0", 1 << 30, 0},
		{"limited_window_5000", 1 << 30, 5000},
	} {
		b.Run(bc.name, func(b *testing.B) {
			s, err := store.Open(b.Context(), testkit.DatabaseURL(b), store.Options{})
			require.NoError(b, err)
			defer s.Close()
			require.NoError(b, s.Migrate(b.Context()))
			u, err := s.CreateUser(b.Context(), testkit.UniqueName("b")+"@example.com", accounts.RoleUser, "")
			require.NoError(b, err)
			reg, err := jobs.DefaultRegistry()
			require.NoError(b, err)
			k, _ := reg.Lookup(jobs.KindNoop)
			spec := jobs.Spec{Kind: k, Payload: []byte(`{}`), Priority: 3, MaxAttempts: 1, Timeout: time.Second}
			for done := 0; done < bc.inWindow; done += jobstore.MaxBatch {
				batch := make([]jobstore.NewJob, min(jobstore.MaxBatch, bc.inWindow-done))
				for i := range batch {
					batch[i] = jobstore.NewJob{OwnerID: u.ID, Spec: spec}
				}
				_, err := storetest.CreateJobs(b.Context(), s, batch, time.Now())
				require.NoError(b, err)
			}
			require.NoError(b, s.Gorm().Exec("ANALYZE jobs").Error)
			b.ResetTimer()
			for b.Loop() {
				_, _, err := storetest.CreateJob(b.Context(), s, jobstore.NewJob{OwnerID: u.ID, Spec: spec, JobsPerHour: bc.perHour}, time.Now())
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
