package e2e

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hopperq/hopper/pkg/store"
	"github.com/hopperq/hopper/pkg/store/jobstore"
	"github.com/hopperq/hopper/pkg/store/schedules"
	"github.com/hopperq/hopper/pkg/testkit"
)

// TestSchedulesTwoGateways runs a cron schedule on two gateway binaries
// sharing one schema and AMQP prefix, managed with hopperctl: one job per
// tick (never two, whichever gateway leads, and across a leader's
// shutdown), every job run by the maintenance worker. "@every 1s" stands
// in for "* * * * *" to keep the test short; the every-minute spec runs
// with an injected clock in pkg/store's tests.
func TestSchedulesTwoGateways(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e["HOPPER_DISPATCH_INTERVAL"] = "200ms"
	gateway := func() (*client, *proc) {
		addr := freeAddr(t)
		p := start(t, "gateway", e, env{"HOPPER_HTTP_ADDR": addr})
		waitReady(t, "http://"+addr+"/readyz", p)
		return &client{t: t, base: "http://" + addr, http: &http.Client{Timeout: 30 * time.Second}}, p
	}
	a, gwA := gateway()
	b, _ := gateway()
	startWorker(t, e, nil)
	admin := e["HOPPER_ADMIN_TOKEN"]

	st, err := store.Open(t.Context(), e["HOPPER_DATABASE_URL"], store.Options{MaxOpenConns: 2})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })

	// The maintenance worker created its schedules when it started,
	// enabled: it runs their kind.
	out, err := hopperctl(t, a.base, admin, "-o", "json", "schedules", "list")
	require.NoError(t, err, out)
	var defaults struct{ Schedules []map[string]any }
	require.NoError(t, json.Unmarshal([]byte(out), &defaults), out)
	enabled := map[string]any{}
	for _, sc := range defaults.Schedules {
		enabled[sc["name"].(string)] = sc["enabled"]
	}
	assert.Equal(t, map[string]any{"cleanup": true, "retention": true}, enabled)

	out, err = hopperctl(t, a.base, admin, "-o", "json", "schedules", "create", "beat",
		"-spec", "@every 1s", "-kind", "system.noop", "-payload", `{"beat":true}`, "-priority", "low")
	require.NoError(t, err, out)
	var created map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &created))
	assert.Equal(t, true, created["enabled"])
	assert.Equal(t, float64(1), created["priority"])
	sc, err := st.GetSchedule(t.Context(), "beat")
	require.NoError(t, err)
	jobsOf := func() []jobstore.Job {
		list, err := st.ScheduleJobs(t.Context(), sc)
		require.NoError(t, err)
		return list
	}

	// Two ticks with both gateways up, then the first gateway stops
	// (SIGTERM: if it led, the other takes over) and two more ticks.
	testkit.WaitFor(t, testkit.Deadline, func() bool { return len(jobsOf()) >= 2 }, "two ticks")
	gwA.stop(t)
	n := len(jobsOf())
	testkit.WaitFor(t, testkit.Deadline, func() bool { return len(jobsOf()) >= n+2 }, "two more ticks after a gateway stopped")

	out, err = hopperctl(t, b.base, admin, "schedules", "disable", "beat")
	require.NoError(t, err, out)
	assert.Contains(t, out, "disabled")
	final := jobsOf()
	require.GreaterOrEqual(t, len(final), 4)

	// Exactly one job per tick: every system.noop job in the schema is a
	// tick of "beat", no tick has two, and there are no more jobs than
	// ticks elapsed.
	var noops int64
	require.NoError(t, st.Gorm().Raw(`SELECT count(*) FROM jobs WHERE kind = 'system.noop'`).Scan(&noops).Error)
	assert.Equal(t, int64(len(final)), noops, "no job outside the ticks")
	ticks := map[time.Time]bool{}
	var first, last time.Time
	for i, j := range final {
		key := *j.IdempotencyKey
		prefix := "schedule:" + sc.ID.String() + ":"
		require.True(t, strings.HasPrefix(key, prefix), key)
		tick, err := time.Parse(time.RFC3339, strings.TrimPrefix(key, prefix))
		require.NoError(t, err, key)
		assert.False(t, ticks[tick], "tick %s has two jobs", tick)
		ticks[tick] = true
		assert.False(t, j.CreatedAt.Before(tick), "job %s created before its tick", j.ID)
		if i == 0 || tick.Before(first) {
			first = tick
		}
		if tick.After(last) {
			last = tick
		}
		assert.Equal(t, schedules.SystemUserID, j.OwnerID)
		assert.Equal(t, 1, j.Priority)
	}
	assert.LessOrEqual(t, len(final), int(last.Sub(first)/time.Second)+1, "more jobs than ticks between %s and %s", first, last)
	t.Logf("%d jobs over %d ticks (%s … %s)", len(final), int(last.Sub(first)/time.Second)+1, first, last)

	for _, j := range final {
		job := b.waitState(admin, j.ID.String(), "succeeded", testkit.Deadline)
		assert.Equal(t, map[string]any{"beat": true}, job["payload"])
	}
	assert.Len(t, jobsOf(), len(final), "a disabled schedule creates no jobs")

	// trigger runs one job now, even while disabled.
	out, err = hopperctl(t, b.base, admin, "-o", "json", "schedules", "trigger", "beat")
	require.NoError(t, err, out)
	var triggered map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &triggered))
	assert.Equal(t, "beat", triggered["schedule"])
	b.waitState(admin, triggered["id"].(string), "succeeded", testkit.Deadline)

	out, err = hopperctl(t, b.base, admin, "schedules", "enable", "beat")
	require.NoError(t, err, out)
	assert.Contains(t, out, "enabled, next run")
	out, err = hopperctl(t, b.base, admin, "-o", "json", "schedules", "list")
	require.NoError(t, err, out)
	var listed struct {
		Schedules []map[string]any `json:"schedules"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &listed))
	require.Len(t, listed.Schedules, 3)
	assert.Equal(t, "beat", listed.Schedules[0]["name"])
	assert.NotNil(t, listed.Schedules[0]["last_run_at"])

	out, err = hopperctl(t, b.base, admin, "schedules", "delete", "beat")
	require.NoError(t, err, out)
	assert.Contains(t, out, "deleted beat")

	// Errors: the API's message and a non-zero exit.
	out, err = hopperctl(t, b.base, admin, "schedules", "trigger", "beat")
	require.Error(t, err)
	assert.Contains(t, out, "HTTP 404")
	out, err = hopperctl(t, b.base, admin, "schedules", "create", "bad", "-spec", "every minute", "-kind", "system.noop")
	require.Error(t, err)
	assert.Contains(t, out, "HTTP 400")
	out, err = hopperctl(t, b.base, admin, "schedules", "create", "bad", "-spec", "@daily", "-kind", "chat.nope")
	require.Error(t, err)
	assert.Contains(t, out, "HTTP 422")
	assert.Contains(t, out, "valid kinds")
	_, err = st.CreateSchedule(t.Context(), schedules.NewSchedule{Name: "orphan", Spec: "@daily", Kind: "maintenance.gone"}, time.Now())
	require.NoError(t, err)
	out, err = hopperctl(t, b.base, admin, "schedules", "enable", "orphan")
	require.Error(t, err)
	assert.Contains(t, out, "not registered")
	out, err = hopperctl(t, b.base, admin, "schedules", "create", "bad")
	require.Error(t, err, out)
	assert.Contains(t, out, "-spec S -kind K")
}

// TestScheduleEveryMinuteTwoGateways is the proof as stated: two
// gateways, a "* * * * *" schedule, exactly one job per minute. It waits
// for two real minute ticks (up to about two minutes; it runs in parallel
// with the rest of the suite).
func TestScheduleEveryMinuteTwoGateways(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e["HOPPER_DISPATCH_INTERVAL"] = "200ms"
	var clients []*client
	for range 2 {
		addr := freeAddr(t)
		p := start(t, "gateway", e, env{"HOPPER_HTTP_ADDR": addr})
		waitReady(t, "http://"+addr+"/readyz", p)
		clients = append(clients, &client{t: t, base: "http://" + addr, http: &http.Client{Timeout: 30 * time.Second}})
	}
	startWorker(t, e, nil)
	admin := e["HOPPER_ADMIN_TOKEN"]
	out, err := hopperctl(t, clients[1].base, admin, "schedules", "create", "minutely", "-spec", "* * * * *", "-kind", "system.noop")
	require.NoError(t, err, out)

	st, err := store.Open(t.Context(), e["HOPPER_DATABASE_URL"], store.Options{MaxOpenConns: 2})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	sc, err := st.GetSchedule(t.Context(), "minutely")
	require.NoError(t, err)
	var list []jobstore.Job
	testkit.WaitFor(t, 150*time.Second, func() bool {
		list, err = st.ScheduleJobs(t.Context(), sc)
		require.NoError(t, err)
		return len(list) >= 2
	}, "two minute ticks")

	ticks := map[time.Time]int{}
	for _, j := range list {
		tick, err := time.Parse(time.RFC3339, strings.TrimPrefix(*j.IdempotencyKey, "schedule:"+sc.ID.String()+":"))
		require.NoError(t, err)
		assert.Zero(t, tick.Second(), "ticks fall on the minute")
		ticks[tick]++
		clients[0].waitState(admin, j.ID.String(), "succeeded", testkit.Deadline)
	}
	for tick, n := range ticks {
		assert.Equal(t, 1, n, "tick %s", tick)
	}
	var noops int64
	require.NoError(t, st.Gorm().Raw(`SELECT count(*) FROM jobs WHERE kind = 'system.noop'`).Scan(&noops).Error)
	assert.Equal(t, int64(len(list)), noops, "one job per tick, across both gateways")
	t.Logf("%d jobs for %d minute ticks", len(list), len(ticks))
}
