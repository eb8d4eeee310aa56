package schedules_test

import (
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hopperq/hopper/pkg/jobs"
	"github.com/hopperq/hopper/pkg/schedule"
	"github.com/hopperq/hopper/pkg/store"
	"github.com/hopperq/hopper/pkg/store/jobstore"
	"github.com/hopperq/hopper/pkg/store/pg"
	"github.com/hopperq/hopper/pkg/store/schedules"
	"github.com/hopperq/hopper/pkg/store/storetest"
	"github.com/hopperq/hopper/pkg/testkit"
)

// clock is an injected "now": a minute boundary far from the real time, so
// the tests do not depend on when they run.
var clock = time.Date(2031, 3, 4, 10, 0, 0, 0, time.UTC)

func defaultRegistry(t *testing.T) *jobs.Registry {
	t.Helper()
	reg, err := jobs.DefaultRegistry()
	require.NoError(t, err)
	return reg
}

// defaultSchedules are what a maintenance service would ensure at start.
func defaultSchedules() []schedule.Default {
	return []schedule.Default{
		{Name: "cleanup", Spec: "0 2 * * *", Timezone: "UTC", Kind: storetest.KindCleanup, Payload: json.RawMessage(`{}`)},
		{Name: "retention", Spec: "@hourly", Timezone: "UTC", Kind: storetest.KindCleanup, Payload: json.RawMessage(`{"scope":"retention"}`)},
	}
}

// withoutCleanup is a registry that does not know maintenance.cleanup, as
// in a deployment built before its handler landed.
func withoutCleanup(t *testing.T) *jobs.Registry {
	t.Helper()
	return defaultRegistry(t)
}

// withCleanup knows maintenance.cleanup, as a deployment whose handler
// landed does.
func withCleanup(t *testing.T) *jobs.Registry {
	t.Helper()
	reg, err := jobs.NewRegistry(append(jobs.DefaultKinds(), jobs.Kind{Name: storetest.KindCleanup, Queue: "maintenance",
		DefaultPriority: jobs.PriorityLow, MaxAttempts: 2, Timeout: time.Minute})...)
	require.NoError(t, err)
	return reg
}

func mustSchedule(t *testing.T, s *store.Store, name, spec string, now time.Time) schedules.Schedule {
	t.Helper()
	sc, err := s.CreateSchedule(t.Context(), schedules.NewSchedule{Name: name, Spec: spec, Kind: jobs.KindNoop,
		Payload: json.RawMessage(`{"from":"cron"}`), Enabled: true}, now)
	require.NoError(t, err)
	return sc
}

func claim(t *testing.T, s *store.Store, now time.Time) []schedules.ScheduleRun {
	t.Helper()
	runs, err := s.ClaimDueSchedules(t.Context(), now, defaultRegistry(t))
	require.NoError(t, err)
	return runs
}

func scheduleJobs(t *testing.T, s *store.Store, name string) []jobstore.Job {
	t.Helper()
	sc, err := s.GetSchedule(t.Context(), name)
	require.NoError(t, err)
	list, err := s.ScheduleJobs(t.Context(), sc)
	require.NoError(t, err)
	return list
}

// TestCronEveryMinute runs the real every-minute spec with an injected
// clock: nothing before the tick, exactly one job at it, nothing more
// within the minute, and next_run_at on the following minute.
func TestCronEveryMinute(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	created := clock.Add(30 * time.Second)
	sc := mustSchedule(t, s, "every-minute", "* * * * *", created)
	require.NotNil(t, sc.NextRunAt)
	assert.Equal(t, clock.Add(time.Minute), sc.NextRunAt.UTC())
	assert.Equal(t, schedules.SystemUserID, sc.OwnerID)
	assert.Equal(t, "UTC", sc.Timezone)

	assert.Empty(t, claim(t, s, clock.Add(59*time.Second)), "not due yet")

	tick := clock.Add(time.Minute)
	runs := claim(t, s, tick.Add(200*time.Millisecond))
	require.Len(t, runs, 1)
	run := runs[0]
	require.NotNil(t, run.Job, run.Skipped)
	assert.Equal(t, tick, run.Tick.UTC())
	assert.Equal(t, tick.Add(time.Minute), run.Schedule.NextRunAt.UTC())
	assert.Equal(t, tick, run.Schedule.LastRunAt.UTC())

	j := run.Job
	assert.Equal(t, jobs.KindNoop, j.Kind)
	assert.Equal(t, jobs.StateQueued, j.State)
	assert.Equal(t, schedules.SystemUserID, j.OwnerID)
	assert.JSONEq(t, `{"from":"cron"}`, string(j.Payload))
	assert.Equal(t, int(jobs.PriorityNormal), j.Priority, "the kind's default priority")
	require.NotNil(t, j.IdempotencyKey)
	assert.Equal(t, "schedule:"+sc.ID.String()+":2031-03-04T10:01:00Z", *j.IdempotencyKey)
	assert.Nil(t, j.PublishedAt, "unpublished: the outbox publishes it if the cron loop does not")
	assert.Equal(t, []string{"created/queued/0"}, storetest.Timeline(t, s, j.ID))

	assert.Empty(t, claim(t, s, tick.Add(59*time.Second)), "one job per tick")
	runs = claim(t, s, tick.Add(time.Minute))
	require.Len(t, runs, 1)
	require.NotNil(t, runs[0].Job)
	assert.Len(t, scheduleJobs(t, s, "every-minute"), 2)
}

// TestCronSkipsMissedTicks: after a gap of several ticks, one catch-up job
// (for the first missed tick), then the next tick after now.
func TestCronSkipsMissedTicks(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	mustSchedule(t, s, "gap", "*/5 * * * *", clock)

	now := clock.Add(37 * time.Minute) // ticks 10:05 … 10:35 all missed
	runs := claim(t, s, now)
	require.Len(t, runs, 1)
	require.NotNil(t, runs[0].Job)
	assert.Equal(t, clock.Add(5*time.Minute), runs[0].Tick.UTC())
	assert.Equal(t, clock.Add(40*time.Minute), runs[0].Schedule.NextRunAt.UTC())
	assert.Empty(t, claim(t, s, now))
	assert.Len(t, scheduleJobs(t, s, "gap"), 1)
}

// TestCronDisabledDoesNothing: disabled schedules create no jobs; enabling
// one starts from the next tick after now, with no catch-up.
func TestCronDisabledDoesNothing(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ctx := t.Context()
	off, err := s.CreateSchedule(ctx, schedules.NewSchedule{Name: "off", Spec: "@every 1m", Kind: jobs.KindNoop}, clock)
	require.NoError(t, err)
	assert.False(t, off.Enabled)
	assert.Nil(t, off.NextRunAt)
	assert.Equal(t, schedules.DisabledByAdmin, off.DisabledReason)
	mustSchedule(t, s, "paused", "* * * * *", clock)
	_, err = s.DisableSchedule(ctx, "paused", clock)
	require.NoError(t, err)

	assert.Empty(t, claim(t, s, clock.Add(24*time.Hour)))
	assert.Empty(t, scheduleJobs(t, s, "off"))
	assert.Empty(t, scheduleJobs(t, s, "paused"))

	later := clock.Add(3 * time.Hour).Add(10 * time.Second)
	on, err := s.EnableSchedule(ctx, "paused", later)
	require.NoError(t, err)
	assert.True(t, on.Enabled)
	assert.Empty(t, on.DisabledReason)
	assert.Equal(t, clock.Add(3*time.Hour+time.Minute), on.NextRunAt.UTC())
	again, err := s.EnableSchedule(ctx, "paused", later.Add(time.Hour))
	require.NoError(t, err)
	assert.Equal(t, on.NextRunAt.UTC(), again.NextRunAt.UTC(), "enabling twice changes nothing")
	runs := claim(t, s, clock.Add(3*time.Hour+time.Minute))
	require.Len(t, runs, 1)
	assert.Equal(t, "paused", runs[0].Schedule.Name)
}

// TestCronConcurrentClaims: two claimers on their own connections, racing
// at every tick, create exactly one job per schedule and tick.
func TestCronConcurrentClaims(t *testing.T) {
	t.Parallel()
	dsn := testkit.DatabaseURL(t)
	a := storetest.Open(t, dsn)
	require.NoError(t, a.Migrate(t.Context()))
	b := storetest.Open(t, dsn)
	reg := defaultRegistry(t)

	const schedules, ticks = 20, 5
	for i := range schedules {
		mustSchedule(t, a, "race-"+string(rune('a'+i)), "* * * * *", clock)
	}
	created := 0
	for tick := 1; tick <= ticks; tick++ {
		now := clock.Add(time.Duration(tick) * time.Minute)
		var wg sync.WaitGroup
		start := make(chan struct{})
		counts := make([]int, 2)
		for i, st := range []*store.Store{a, b} {
			wg.Go(func() {
				<-start
				runs, err := st.ClaimDueSchedules(t.Context(), now, reg)
				assert.NoError(t, err)
				for _, r := range runs {
					if r.Job != nil {
						counts[i]++
					}
				}
			})
		}
		close(start)
		wg.Wait()
		assert.Equal(t, schedules, counts[0]+counts[1], "tick %d: one job per schedule (a %d, b %d)", tick, counts[0], counts[1])
		created += counts[0] + counts[1]
	}
	assert.Equal(t, schedules*ticks, created)

	var keys []string
	require.NoError(t, a.Gorm().Raw(`SELECT idempotency_key FROM jobs WHERE idempotency_key LIKE 'schedule:%'`).Scan(&keys).Error)
	assert.Len(t, keys, schedules*ticks)
	seen := map[string]bool{}
	for _, k := range keys {
		assert.False(t, seen[k], "duplicate %s", k)
		seen[k] = true
	}
}

// TestCronTickKeyBackstop: even if a tick is served twice (next_run_at put
// back by hand), the idempotency key lets only one job exist.
func TestCronTickKeyBackstop(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	sc := mustSchedule(t, s, "twice", "* * * * *", clock)
	tick := clock.Add(time.Minute)
	require.Len(t, claim(t, s, tick), 1)
	require.NoError(t, s.Gorm().Exec(`UPDATE schedules SET next_run_at = ? WHERE id = ?`, tick, sc.ID).Error)

	runs := claim(t, s, tick.Add(time.Second))
	require.Len(t, runs, 1)
	assert.Nil(t, runs[0].Job)
	assert.Equal(t, "a job for this tick exists", runs[0].Skipped)
	assert.Equal(t, tick.Add(time.Minute), runs[0].Schedule.NextRunAt.UTC())
	assert.Len(t, scheduleJobs(t, s, "twice"), 1)
}

// TestCronUnknownKindSkipped: a schedule whose kind this registry does not
// know advances without a job.
func TestCronUnknownKindSkipped(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	_, err := s.CreateSchedule(t.Context(), schedules.NewSchedule{Name: "future-kind", Spec: "@hourly",
		Kind: "test.not-registered", Enabled: true}, clock)
	require.NoError(t, err)
	runs := claim(t, s, clock.Add(time.Hour))
	require.Len(t, runs, 1)
	assert.Nil(t, runs[0].Job)
	assert.Contains(t, runs[0].Skipped, "not registered")
	assert.Equal(t, clock.Add(2*time.Hour), runs[0].Schedule.NextRunAt.UTC())

	_, err = s.TriggerSchedule(t.Context(), "future-kind", defaultRegistry(t), clock)
	require.ErrorIs(t, err, schedules.ErrUnknownKind)
}

func TestCronTrigger(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	sc := mustSchedule(t, s, "manual", "@daily", clock)
	j1, err := s.TriggerSchedule(t.Context(), "manual", defaultRegistry(t), clock.Add(time.Second))
	require.NoError(t, err)
	j2, err := s.TriggerSchedule(t.Context(), "manual", defaultRegistry(t), clock.Add(2*time.Second))
	require.NoError(t, err)
	assert.NotEqual(t, j1.ID, j2.ID, "each trigger creates a job")
	assert.Equal(t, jobs.StateQueued, j1.State)
	assert.Contains(t, *j1.IdempotencyKey, ":manual:")
	after, err := s.GetSchedule(t.Context(), "manual")
	require.NoError(t, err)
	assert.Equal(t, sc.NextRunAt.UTC(), after.NextRunAt.UTC(), "a trigger leaves the ticks alone")
	assert.Len(t, scheduleJobs(t, s, "manual"), 2)

	_, err = s.TriggerSchedule(t.Context(), "nope", defaultRegistry(t), clock)
	require.ErrorIs(t, err, pg.ErrNotFound)
}

func TestScheduleCRUD(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ctx := t.Context()
	owner := storetest.User(t, s)
	prio := jobs.PriorityHigh
	sc, err := s.CreateSchedule(ctx, schedules.NewSchedule{Name: "paris", Spec: "0 2 * * *", Timezone: "Europe/Paris",
		Kind: jobs.KindNoop, Priority: &prio, OwnerID: owner.ID, Enabled: true}, clock)
	require.NoError(t, err)
	assert.Equal(t, "Europe/Paris", sc.Timezone)
	assert.Equal(t, time.Date(2031, 3, 5, 1, 0, 0, 0, time.UTC), sc.NextRunAt.UTC(), "02:00 in Paris is 01:00 UTC in winter")
	assert.JSONEq(t, `{}`, string(sc.Payload))

	_, err = s.CreateSchedule(ctx, schedules.NewSchedule{Name: "paris", Spec: "@daily", Kind: jobs.KindNoop}, clock)
	require.ErrorIs(t, err, pg.ErrConflict)
	_, err = s.CreateSchedule(ctx, schedules.NewSchedule{Name: "bad", Spec: "61 * * * *", Kind: jobs.KindNoop}, clock)
	var se *schedule.Error
	require.ErrorAs(t, err, &se)
	assert.Equal(t, "spec", se.Field)
	_, err = s.CreateSchedule(ctx, schedules.NewSchedule{Name: "Bad Name", Spec: "@daily", Kind: jobs.KindNoop}, clock)
	require.ErrorAs(t, err, &se)
	assert.Equal(t, "name", se.Field)
	_, err = s.CreateSchedule(ctx, schedules.NewSchedule{Name: "ghost", Spec: "@daily", Kind: jobs.KindNoop, OwnerID: uuid.New()}, clock)
	require.ErrorIs(t, err, pg.ErrNotFound)

	runs := claim(t, s, time.Date(2031, 3, 5, 1, 0, 0, 0, time.UTC))
	require.Len(t, runs, 1)
	require.NotNil(t, runs[0].Job)
	assert.Equal(t, owner.ID, runs[0].Job.OwnerID)
	assert.Equal(t, int(jobs.PriorityHigh), runs[0].Job.Priority)

	list, err := s.ListSchedules(ctx)
	require.NoError(t, err)
	require.Len(t, list, 1)
	require.NoError(t, s.DeleteSchedule(ctx, "paris"))
	require.ErrorIs(t, s.DeleteSchedule(ctx, "paris"), pg.ErrNotFound)
	_, err = s.GetSchedule(ctx, "paris")
	require.ErrorIs(t, err, pg.ErrNotFound)
	_, err = s.DisableSchedule(ctx, "paris", clock)
	require.ErrorIs(t, err, pg.ErrNotFound)
	_, err = s.EnableSchedule(ctx, "paris", clock)
	require.ErrorIs(t, err, pg.ErrNotFound)
	_, err = s.GetJob(ctx, nil, runs[0].Job.ID)
	require.NoError(t, err, "deleting a schedule keeps its jobs")
}

// TestEnsureDefaultSchedules: defaults whose kind is not registered are
// created disabled; a later start that knows the kind enables them, but
// not one an admin disabled.
func TestEnsureDefaultSchedules(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ctx := t.Context()
	defs := defaultSchedules()
	require.NoError(t, s.EnsureSchedules(ctx, defs, withoutCleanup(t), clock))
	require.NoError(t, s.EnsureSchedules(ctx, defs, withoutCleanup(t), clock), "idempotent")
	list, err := s.ListSchedules(ctx)
	require.NoError(t, err)
	require.Len(t, list, 2)
	for _, sc := range list {
		assert.False(t, sc.Enabled, sc.Name)
		assert.Equal(t, schedules.DisabledKindUnknown, sc.DisabledReason)
		assert.Equal(t, storetest.KindCleanup, sc.Kind)
	}
	assert.Equal(t, "cleanup", list[0].Name)
	assert.Equal(t, "retention", list[1].Name)
	assert.JSONEq(t, `{"scope":"retention"}`, string(list[1].Payload))
	runs, err := s.ClaimDueSchedules(ctx, clock.Add(48*time.Hour), withCleanup(t))
	require.NoError(t, err)
	assert.Empty(t, runs, "disabled defaults create no jobs")

	// An admin turns retention off; then the cleanup handler lands.
	_, err = s.DisableSchedule(ctx, "retention", clock)
	require.NoError(t, err)
	require.NoError(t, s.EnsureSchedules(ctx, defs, withCleanup(t), clock))
	cleanup, err := s.GetSchedule(ctx, "cleanup")
	require.NoError(t, err)
	assert.True(t, cleanup.Enabled)
	assert.Equal(t, time.Date(2031, 3, 5, 2, 0, 0, 0, time.UTC), cleanup.NextRunAt.UTC(), "daily at 02:00 UTC")
	retention, err := s.GetSchedule(ctx, "retention")
	require.NoError(t, err)
	assert.False(t, retention.Enabled, "an admin's disable stands")

	// A deleted default comes back at the next start.
	require.NoError(t, s.DeleteSchedule(ctx, "cleanup"))
	require.NoError(t, s.EnsureSchedules(ctx, defs, withCleanup(t), clock))
	_, err = s.GetSchedule(ctx, "cleanup")
	require.NoError(t, err)
}

func TestSystemUserCannotAuthenticate(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	u, err := s.GetUser(t.Context(), schedules.SystemUserID)
	require.NoError(t, err)
	assert.False(t, u.Active)
	_, key, err := s.CreateAPIKey(t.Context(), schedules.SystemUserID)
	require.NoError(t, err)
	_, _, err = s.Authenticate(t.Context(), key)
	require.ErrorIs(t, err, pg.ErrNotFound)
}

// TestEnsureDefaultSchedulesWithDefaultRegistry: with the registry this
// build ships, each default is enabled exactly when its kind is known, and
// its payload passes the kind's check.
func TestEnsureDefaultSchedulesWithDefaultRegistry(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	reg := defaultRegistry(t)
	require.NoError(t, s.EnsureSchedules(t.Context(), defaultSchedules(), reg, clock))
	for _, d := range defaultSchedules() {
		sc, err := s.GetSchedule(t.Context(), d.Name)
		require.NoError(t, err)
		_, known := reg.Lookup(d.Kind)
		assert.Equal(t, known, sc.Enabled, d.Name)
	}
}
