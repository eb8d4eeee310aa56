package store_test

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hopperq/hopper/pkg/jobs"
	"github.com/hopperq/hopper/pkg/store"
	"github.com/hopperq/hopper/pkg/store/accounts"
	"github.com/hopperq/hopper/pkg/store/pg"
	"github.com/hopperq/hopper/pkg/testkit"
)

func limitedJob(t *testing.T, owner uuid.UUID, perHour int) store.NewJob {
	return store.NewJob{OwnerID: owner, Spec: testSpec(t, time.Time{}), JobsPerHour: perHour}
}

func quotaErr(t *testing.T, err error) *pg.QuotaError {
	t.Helper()
	var qe *pg.QuotaError
	require.ErrorAs(t, err, &qe)
	require.ErrorIs(t, err, pg.ErrQuotaExceeded)
	return qe
}

// The window slides: jobs created 59 minutes before "now" hold their
// slots for one more minute, and free them then. The clock is injected.
func TestJobsPerHourSlidingWindow(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := t.Context()
	u := mustUser(t, s)
	t0 := time.Now().Add(-59 * time.Minute)

	for range 3 {
		_, created, err := createJob(ctx, s, limitedJob(t, u.ID, 5), t0)
		require.NoError(t, err)
		require.True(t, created)
	}
	now := t0.Add(59 * time.Minute)
	for range 2 {
		_, _, err := createJob(ctx, s, limitedJob(t, u.ID, 5), now)
		require.NoError(t, err)
	}
	// Jobs Hopper creates itself do not count, nor do other owners'.
	sys := limitedJob(t, u.ID, 0)
	sys.IdempotencyKey = "webhook:x:1:succeeded"
	_, _, err := createJob(ctx, s, sys, now)
	require.NoError(t, err)
	mustJob(t, s, mustUser(t, s).ID)

	_, _, err = createJob(ctx, s, limitedJob(t, u.ID, 5), now)
	qe := quotaErr(t, err)
	assert.Equal(t, pg.LimitJobsPerHour, qe.Limit)
	assert.Equal(t, 5, qe.Max)
	assert.Equal(t, 5, qe.Used)
	assert.InDelta(t, time.Minute.Seconds(), qe.RetryAfter.Seconds(), 1)

	// A batch of 3 needs the three oldest gone: the same minute.
	_, err = createJobs(ctx, s, []store.NewJob{limitedJob(t, u.ID, 5), limitedJob(t, u.ID, 5), limitedJob(t, u.ID, 5)}, now)
	qe = quotaErr(t, err)
	assert.Equal(t, 3, qe.Requested)
	assert.InDelta(t, time.Minute.Seconds(), qe.RetryAfter.Seconds(), 1)
	// With the two newest in the way, a batch of 4 waits an hour.
	_, err = createJobs(ctx, s, []store.NewJob{limitedJob(t, u.ID, 5), limitedJob(t, u.ID, 5), limitedJob(t, u.ID, 5), limitedJob(t, u.ID, 5)}, now)
	qe = quotaErr(t, err)
	assert.InDelta(t, time.Hour.Seconds(), qe.RetryAfter.Seconds(), 1)

	usage, err := s.PlanUsage(ctx, u.ID, accounts.Plan{JobsPerHour: 5}, now)
	require.NoError(t, err)
	assert.Equal(t, 5, usage.JobsInWindow)
	require.NotNil(t, usage.NextSlotAt)
	assert.WithinDuration(t, t0.Add(time.Hour), *usage.NextSlotAt, time.Millisecond)
	assert.InDelta(t, time.Minute.Seconds(), usage.RetryAfter.Seconds(), 1)

	// A minute later the three oldest left the window.
	later := now.Add(time.Minute + time.Second)
	created, err := createJobs(ctx, s, []store.NewJob{limitedJob(t, u.ID, 5), limitedJob(t, u.ID, 5), limitedJob(t, u.ID, 5)}, later)
	require.NoError(t, err)
	require.Len(t, created, 3)
	_, _, err = createJob(ctx, s, limitedJob(t, u.ID, 5), later)
	quotaErr(t, err)

	// An idempotent replay answers its job even with the quota full.
	keyed := limitedJob(t, u.ID, 0)
	keyed.IdempotencyKey = "k1"
	first, _, err := createJob(ctx, s, keyed, now.Add(-2*time.Hour))
	require.NoError(t, err)
	keyed.JobsPerHour = 5
	replay, createdAgain, err := createJob(ctx, s, keyed, later)
	require.NoError(t, err)
	assert.False(t, createdAgain)
	assert.Equal(t, first.ID, replay.ID)
}

// Parallel submits through every path never overshoot the limit.
func TestJobsPerHourConcurrent(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := t.Context()
	u := mustUser(t, s)
	const limit = 100
	var admitted, refused atomic.Int64
	var wg sync.WaitGroup
	for g := range 24 {
		wg.Go(func() {
			for range 6 {
				var n int
				var err error
				if g%3 == 0 {
					var rows []store.Job
					rows, err = createJobs(ctx, s, []store.NewJob{limitedJob(t, u.ID, limit), limitedJob(t, u.ID, limit)}, time.Now())
					n = len(rows)
				} else {
					_, _, err = createJob(ctx, s, limitedJob(t, u.ID, limit), time.Now())
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

func TestDocumentAndArtifactQuotas(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := t.Context()
	u := mustUser(t, s)
	upload := func(maxDocs, perHour int) error {
		_, _, err := s.CreateDocument(ctx, store.NewDocument{
			OwnerID: u.ID, Filename: "a.txt", ContentType: "text/plain", Format: "txt",
			Data: []byte("hello"), MaxPerUser: maxDocs, Ingest: func(id uuid.UUID) (store.NewJob, error) {
				nj, err := ingestFor(t, u.ID)(id)
				nj.JobsPerHour = perHour
				return nj, err
			},
		}, time.Now())
		return err
	}
	require.NoError(t, upload(2, 3))
	require.NoError(t, upload(2, 3))
	qe := quotaErr(t, upload(2, 3))
	assert.Equal(t, pg.LimitDocumentsPerUser, qe.Limit)
	assert.Equal(t, 2, qe.Used)
	assert.Zero(t, qe.RetryAfter)
	// The ingest jobs count against jobs per hour.
	qe = quotaErr(t, upload(10, 2))
	assert.Equal(t, pg.LimitJobsPerHour, qe.Limit)

	_, _, err := s.CreateJobWithArtifact(ctx, limitedJob(t, u.ID, 2),
		store.NewArtifact{Name: "input.wav", ContentType: "audio/wav", Data: []byte("RIFF")}, time.Now())
	qe = quotaErr(t, err)
	assert.Equal(t, 2, qe.Used)
	_, _, err = s.CreateJobWithArtifact(ctx, limitedJob(t, u.ID, 3),
		store.NewArtifact{Name: "input.wav", ContentType: "audio/wav", Data: []byte("RIFF")}, time.Now())
	require.NoError(t, err)

	usage, err := s.PlanUsage(ctx, u.ID, accounts.Plan{JobsPerHour: 3}, time.Now())
	require.NoError(t, err)
	assert.Equal(t, 3, usage.JobsInWindow)
	assert.Equal(t, 2, usage.Documents)
	assert.Empty(t, usage.Running)
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
			for done := 0; done < bc.inWindow; done += store.MaxBatch {
				batch := make([]store.NewJob, min(store.MaxBatch, bc.inWindow-done))
				for i := range batch {
					batch[i] = store.NewJob{OwnerID: u.ID, Spec: spec}
				}
				_, err := createJobs(b.Context(), s, batch, time.Now())
				require.NoError(b, err)
			}
			require.NoError(b, s.Gorm().Exec("ANALYZE jobs").Error)
			b.ResetTimer()
			for b.Loop() {
				_, _, err := createJob(b.Context(), s, store.NewJob{OwnerID: u.ID, Spec: spec, JobsPerHour: bc.perHour}, time.Now())
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
