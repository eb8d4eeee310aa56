package e2e

import (
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hopperq/hopper/pkg/store"
	"github.com/hopperq/hopper/pkg/testkit"
)

// Fairness (issues 8 and 18) with the real stack: user A floods the
// maintenance queue with 5,000 system.sleep jobs of 2 ms, then user B
// submits 50 of the same priority; one maintenance worker runs 4 at a
// time. With the plan capping each user at 4 jobs in flight per queue,
// B's jobs wait behind at most a few of A's, and each of B's slots comes
// back as soon as the leader releases its next job; with no cap they wait
// behind the whole flood (5,000 jobs). Both runs go side by side, each on
// its own stack; the flood's throughput beside B is logged too.
func TestFairnessFloodDoesNotStarveOthers(t *testing.T) {
	t.Parallel()
	var capped, uncapped time.Duration
	t.Run("capped", func(t *testing.T) {
		t.Parallel()
		capped = fairnessRun(t, 4)
		t.Logf("B's queue wait p99 with a fairness cap of 4: %s", capped)
		// B's own cap lets 4 of its 50 jobs be in flight at a time, so
		// they pass in 13 rounds, each costing a release's latency
		// (docs/ARCHITECTURE.md, fairness): 0.3-0.6 s beside the uncapped
		// run on 2 cores (docs/PERFORMANCE.md); 1-2 s in a third of the
		// runs while a published mark could deadlock with batched claims.
		// A starved B waits behind the whole flood: 5-20 s. The goal is
		// under 1 s on every run; the bound is 3 s so a loaded CI box (the
		// whole suite beside it on 2 cores) tells fair from starved
		// without failing on load.
		assert.Less(t, capped, 3*time.Second, "B's p99 queue wait with the cap")
	})
	t.Run("uncapped", func(t *testing.T) {
		t.Parallel()
		uncapped = fairnessRun(t, 0)
		t.Logf("B's queue wait p99 without a fairness cap: %s", uncapped)
	})
}

const (
	floodJobs = 5000
	floodMS   = 2
	otherJobs = 50
)

// fairnessRun floods as user A and returns user B's p99 queue wait
// (started_at - created_at), both users on a plan whose max_concurrent
// is limit (0: no cap).
func fairnessRun(t *testing.T, limit int) time.Duration {
	e := newEnv(t)
	api := freeAddr(t)
	gw := start(t, "gateway", e, env{"HOPPER_HTTP_ADDR": api})
	waitReady(t, "http://"+api+"/readyz", gw)
	addr := freeAddr(t)
	w := start(t, "maintenance-worker", e, env{"HOPPER_METRICS_ADDR": addr, "HOPPER_QUEUES": "maintenance", "HOPPER_CONCURRENCY": "4"})
	waitReady(t, "http://"+addr+"/readyz", w)

	c := &client{t: t, base: "http://" + api, metrics: gw.metrics, http: &http.Client{Timeout: 60 * time.Second}}
	st, err := store.Open(t.Context(), e["HOPPER_DATABASE_URL"], store.Options{MaxOpenConns: 2})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	// No hourly quota (the flood is 5,000 jobs), the cap under test.
	plan := testkit.UniqueName("fair")
	require.NoError(t, st.Gorm().Exec(`INSERT INTO plans (name, jobs_per_hour, max_concurrent) VALUES (?, 0, ?)`, plan, limit).Error)
	keys := map[string]string{}
	ids := map[string]string{}
	for _, name := range []string{"a", "b"} {
		code, u := c.do("POST", "/v1/admin/users", e["HOPPER_ADMIN_TOKEN"], map[string]any{"email": name + "@example.com"})
		require.Equal(t, 201, code, u)
		require.NoError(t, st.Gorm().Exec(`UPDATE users SET plan = ? WHERE id = ?`, plan, u["id"]).Error)
		code, k := c.do("POST", "/v1/admin/users/"+u["id"].(string)+"/keys", e["HOPPER_ADMIN_TOKEN"], nil)
		require.Equal(t, 201, code, k)
		keys[name] = k["key"].(string)
		ids[name] = u["id"].(string)
	}

	sleep := map[string]any{"kind": "system.sleep", "payload": map[string]any{"ms": floodMS}}
	batch := func(n int) map[string]any {
		list := make([]any, n)
		for i := range list {
			list[i] = sleep
		}
		return map[string]any{"jobs": list}
	}
	started := time.Now()
	var wg sync.WaitGroup
	for range floodJobs / 1000 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, out := c.do("POST", "/v1/jobs/batch", keys["a"], batch(1000))
			assert.Equal(t, 202, code, out)
		}()
	}
	wg.Wait()
	t.Logf("A's %d jobs submitted in %s", floodJobs, time.Since(started).Round(time.Millisecond))
	// The cap holds A's flood back in Postgres, and the gateway says so:
	// the jobs count as held, not as waiting for a worker.
	held := scrape(t, c.metrics+"/metrics")[`hopper_queue_held_jobs{queue="maintenance",service="gateway"}`]
	t.Logf("held after the flood (limit %d): %.0f", limit, held)
	if limit > 0 {
		assert.Greater(t, held, float64(floodJobs/2), "most of the flood is held")
	} else {
		assert.Zero(t, held, "nothing is held without a cap")
	}

	floodDone := func() (n int64) {
		require.NoError(t, st.Gorm().Raw(`SELECT count(*) FROM jobs WHERE owner_id = ? AND state = 'succeeded'`, ids["a"]).Scan(&n).Error)
		return n
	}
	doneBefore, bStart := floodDone(), time.Now()
	code, out := c.do("POST", "/v1/jobs/batch", keys["b"], batch(otherJobs))
	require.Equal(t, 202, code, out)
	var bIDs []string
	for _, j := range out["jobs"].([]any) {
		bIDs = append(bIDs, j.(map[string]any)["id"].(string))
	}

	var waits []time.Duration
	pending := slices.Clone(bIDs)
	testkit.WaitFor(t, 75*time.Second, func() bool {
		rest := pending[:0]
		for _, id := range pending {
			code, j := c.do("GET", "/v1/jobs/"+id, keys["b"], nil)
			require.Equal(t, 200, code, j)
			if j["state"] != "succeeded" {
				rest = append(rest, id)
				continue
			}
			created, err := time.Parse(time.RFC3339Nano, j["created_at"].(string))
			require.NoError(t, err)
			began, err := time.Parse(time.RFC3339Nano, j["started_at"].(string))
			require.NoError(t, err)
			waits = append(waits, began.Sub(created))
		}
		pending = rest
		return len(pending) == 0
	}, "B's %d jobs to finish", otherJobs)
	// The flood keeps running beside B: its throughput over B's window.
	window, ran := time.Since(bStart), floodDone()-doneBefore
	t.Logf("A's flood (limit %d) beside B: %d jobs in %s = %.0f jobs/s", limit, ran,
		window.Round(time.Millisecond), float64(ran)/window.Seconds())
	slices.Sort(waits)
	p99 := waits[(len(waits)*99+99)/100-1]
	t.Logf("B's waits (limit %d): min %s, median %s, p99 %s", limit, waits[0], waits[len(waits)/2], p99)
	return p99
}
