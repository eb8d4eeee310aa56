//go:build fault

// The fault suite stops and starts the shared RabbitMQ and PostgreSQL
// servers, so it runs alone, after the rest of `make test`:
//
//	go test -tags fault -run '^TestFault' ./tools/e2e
//
// Tests that disturb a shared server are sequential; the others are
// parallel and run together once those are done. Stopping the servers
// takes root or sudo without a password prompt (servers_test.go); a test
// that cannot fails at once saying why.
package e2e

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hopperq/hopper/pkg/store"
	"github.com/hopperq/hopper/pkg/testkit"
)

// sideEffects is the handler's own record of its runs: system.sleep posts
// to it when a run completes or is interrupted.
type sideEffects struct {
	mu        sync.Mutex
	completed map[string]map[int]int // job id → attempt → completions
	srv       *httptest.Server
}

func newSideEffects(t *testing.T) *sideEffects {
	s := &sideEffects{completed: map[string]map[int]int{}}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var cb struct {
			JobID   string `json:"job_id"`
			Attempt int    `json:"attempt"`
			Event   string `json:"event"`
		}
		if err := json.NewDecoder(r.Body).Decode(&cb); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		if cb.Event == "completed" {
			s.mu.Lock()
			if s.completed[cb.JobID] == nil {
				s.completed[cb.JobID] = map[int]int{}
			}
			s.completed[cb.JobID][cb.Attempt]++
			s.mu.Unlock()
		}
		w.WriteHeader(204)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

// kill sends SIGKILL and waits for the process to be gone.
// TestFaultCrashRecovery: 2,000 jobs across 3 worker processes while a
// random worker is SIGKILLed every 2 s and replaced, 10 times. Nothing is
// lost, nothing stays unfinished, every job succeeds exactly once, and no
// attempt completes twice.
func TestFaultCrashRecovery(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e["HOPPER_DISPATCH_INTERVAL"] = "250ms"
	e["HOPPER_LEASE"] = "3s"
	c, key := stackWithGateway(t, e, nil)
	fx := newSideEffects(t)
	workerEnv := env{"HOPPER_CONCURRENCY": "4"}
	workers := []*proc{startWorker(t, e, workerEnv), startWorker(t, e, workerEnv), startWorker(t, e, workerEnv)}

	const total = 2000
	ids := submitMany(t, c, key, total, func(i int) map[string]any {
		return map[string]any{"kind": "system.sleep", "max_attempts": 10,
			"payload": map[string]any{"ms": 10 + rand.IntN(191), "callback_url": fx.srv.URL}}
	})

	const kills = 10
	for k := 0; k < kills; k++ {
		time.Sleep(2 * time.Second) // the kill schedule itself, not a wait for a condition
		i := rand.IntN(len(workers))
		workers[i].kill(t)
		workers[i] = startWorker(t, e, workerEnv)
	}

	done := time.Now()
	states := waitAllTerminal(t, c, key, ids, 3*testkit.Deadline)
	t.Logf("all jobs terminal %s after the last kill", time.Since(done).Round(time.Millisecond))

	succeeded, retriedJobs := 0, 0
	for _, id := range ids {
		if states[id].state == "succeeded" {
			succeeded++
		}
		if states[id].attempts > 1 {
			retriedJobs++
		}
	}
	fx.mu.Lock()
	defer fx.mu.Unlock()
	dupAttempts, extraRuns := 0, 0
	for _, id := range ids {
		runs := fx.completed[id]
		for _, n := range runs {
			if n > 1 {
				dupAttempts++
			}
		}
		if len(runs) > 1 {
			extraRuns += len(runs) - 1
		}
		assert.Equal(t, 1, runs[states[id].attempts], "job %s: exactly one completion of its succeeding attempt", id)
	}
	t.Logf("jobs=%d kills=%d succeeded=%d lost=%d retried_jobs=%d duplicate_completions_per_attempt=%d completed_runs_of_abandoned_attempts=%d",
		total, kills, succeeded, total-len(states), retriedJobs, dupAttempts, extraRuns)
	assert.Equal(t, total, succeeded)
	assert.Zero(t, dupAttempts, "no attempt completed twice")
}

// TestFaultLeaderLoss: two gateways; SIGKILL the one whose dispatcher
// leads; scheduled jobs keep coming due within 10 s.
func TestFaultLeaderLoss(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	apis := []string{freeAddr(t), freeAddr(t)}
	gws := make([]*proc, 2)
	for i, a := range apis {
		gws[i] = start(t, "gateway", e, env{"HOPPER_HTTP_ADDR": a})
		waitReady(t, "http://"+a+"/readyz", gws[i])
	}
	startWorker(t, e, nil)
	leader := -1
	testkit.WaitFor(t, testkit.Deadline, func() bool {
		for i, a := range apis {
			if readyField(t, a, "dispatcher_leader") == true {
				leader = i
				return true
			}
		}
		return false
	}, "a dispatcher leader")
	standby := 1 - leader
	c := &client{t: t, base: "http://" + apis[standby], http: &http.Client{Timeout: 30 * time.Second}}
	key := newUserKey(t, c, e)

	// Jobs due 1 s after submit, submitted every 100 ms for 12 s; the
	// leader dies 3 s in.
	var ids []string
	var killedAt time.Time
	for i := 0; i < 120; i++ {
		if i == 30 {
			gws[leader].kill(t)
			killedAt = time.Now()
		}
		ids = append(ids, c.submit(key, map[string]any{"kind": "system.noop", "run_at": time.Now().Add(time.Second)}))
		time.Sleep(100 * time.Millisecond) // the submit rate, not a wait for a condition
	}
	states := waitAllTerminal(t, c, key, ids, 2*testkit.Deadline)
	var worst time.Duration
	for _, id := range ids {
		s := states[id]
		require.Equal(t, "succeeded", s.state, id)
		if s.runAt.After(killedAt) {
			if lag := s.startedAt.Sub(s.runAt); lag > worst {
				worst = lag
			}
		}
	}
	testkit.WaitFor(t, testkit.Deadline, func() bool { return readyField(t, apis[standby], "dispatcher_leader") == true }, "standby leads")
	t.Logf("leader killed; worst due→started lag of jobs due after the kill: %s", worst.Round(time.Millisecond))
	assert.Less(t, worst, 10*time.Second)
}

// TestFaultBrokerRestart: under a steady submit load RabbitMQ is stopped
// and started twice; every job answered 202 succeeds, no service restarted.
func TestFaultBrokerRestart(t *testing.T) {
	requireServers(t)
	e := newEnv(t)
	e["HOPPER_DISPATCH_INTERVAL"] = "250ms"
	c, key := stackWithGateway(t, e, nil)
	startWorker(t, e, env{"HOPPER_CONCURRENCY": "8"})
	t.Cleanup(func() { _, _ = rabbitctl("start_app") })

	load := startLoad(t, c, key)
	var recoveries []time.Duration
	for round := 0; round < 2; round++ {
		time.Sleep(2 * time.Second) // let load run before the outage
		_, err := rabbitctl("stop_app")
		require.NoError(t, err)
		time.Sleep(3 * time.Second) // the outage itself
		_, err = rabbitctl("start_app")
		require.NoError(t, err)
		back := time.Now()
		before := load.accepted()
		testkit.WaitFor(t, 2*testkit.Deadline, func() bool {
			return countState(t, c, key, "succeeded") >= before
		}, "jobs accepted before restart %d to succeed", round+1)
		recoveries = append(recoveries, time.Since(back))
	}
	ids := load.stop()
	states := waitAllTerminal(t, c, key, ids, 2*testkit.Deadline)
	succeeded := 0
	for _, id := range ids {
		if states[id].state == "succeeded" {
			succeeded++
		}
	}
	t.Logf("broker restarts=2 accepted=%d succeeded=%d lost=%d refused_during_outage=%d time_to_drain_after_start=%v",
		len(ids), succeeded, len(ids)-succeeded, load.refused.Load(), recoveries)
	assert.Equal(t, len(ids), succeeded)
}

// TestFaultQueuePurge: under a steady submit load, with no worker yet, the
// queue is purged with rabbitmqctl once jobs are marked published (so the
// outbox no longer covers them); the dispatcher leader republishes what
// stays unclaimed for HOPPER_REPUBLISH_AFTER, and every job answered 202
// succeeds once a worker starts. Only this test's queue is touched.
func TestFaultQueuePurge(t *testing.T) {
	t.Parallel()
	requireServers(t)
	e := newEnv(t)
	e["HOPPER_DISPATCH_INTERVAL"] = "250ms"
	c, key := stackWithGateway(t, e, env{"HOPPER_REPUBLISH_AFTER": "2s"})
	st, err := store.Open(t.Context(), e["HOPPER_DATABASE_URL"], store.Options{MaxOpenConns: 2})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	marked := func() (n int64) {
		require.NoError(t, st.Gorm().Raw(`SELECT count(*) FROM jobs WHERE state = 'queued' AND published_at IS NOT NULL`).Scan(&n).Error)
		return n
	}

	load := startLoad(t, c, key)
	testkit.WaitFor(t, testkit.Deadline, func() bool { return marked() >= 50 }, "50 jobs published and marked")
	out, err := rabbitctl("purge_queue", e["HOPPER_AMQP_PREFIX"]+".maintenance")
	require.NoError(t, err)
	t.Logf("purge: %s", strings.TrimSpace(out))
	lost := marked()
	before := load.accepted()
	testkit.WaitFor(t, testkit.Deadline, func() bool { return load.accepted() >= before+50 }, "load to go on after the purge")
	startWorker(t, e, env{"HOPPER_CONCURRENCY": "8"})
	ids := load.stop()
	states := waitAllTerminal(t, c, key, ids, 2*testkit.Deadline)
	succeeded := 0
	for _, id := range ids {
		if states[id].state == "succeeded" {
			succeeded++
		}
	}
	republished := scrape(t, c.metrics+"/metrics")[`hopper_jobs_republished_total{queue="maintenance",service="gateway"}`]
	t.Logf("queue purge: accepted=%d marked_when_purged=%d succeeded=%d republished=%.0f", len(ids), lost, succeeded, republished)
	assert.Equal(t, len(ids), succeeded)
	assert.GreaterOrEqual(t, republished, float64(lost), "the purged jobs were republished")
}

// TestFaultPostgresRestart: Postgres restarts under load; the services
// recover by themselves and every job answered 202 succeeds.
func TestFaultPostgresRestart(t *testing.T) {
	requireServers(t)
	e := newEnv(t)
	e["HOPPER_DISPATCH_INTERVAL"] = "250ms"
	e["HOPPER_LEASE"] = "3s"
	c, key := stackWithGateway(t, e, nil)
	startWorker(t, e, env{"HOPPER_CONCURRENCY": "8"})

	load := startLoad(t, c, key)
	time.Sleep(2 * time.Second) // let load run before the outage
	require.NoError(t, pgctl("restart"))
	back := time.Now()
	time.Sleep(2 * time.Second) // load continues after the restart
	ids := load.stop()
	states := waitAllTerminal(t, c, key, ids, 2*testkit.Deadline)
	succeeded := 0
	for _, id := range ids {
		if states[id].state == "succeeded" {
			succeeded++
		}
	}
	t.Logf("postgres restarts=1 accepted=%d succeeded=%d lost=%d refused_during_restart=%d drained %s after restart",
		len(ids), succeeded, len(ids)-succeeded, load.refused.Load(), time.Since(back).Round(time.Millisecond))
	assert.Equal(t, len(ids), succeeded)
}

// TestFaultCancelRunning: a running 30 s job is cancelled through the real
// binaries and ends cancelled within 2 s; its handler saw the context end.
func TestFaultCancelRunning(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c, key := stackWithGateway(t, e, nil)
	startWorker(t, e, nil)
	id := c.submit(key, map[string]any{"kind": "system.sleep", "payload": map[string]any{"ms": 30000}})
	c.waitState(key, id, "running", testkit.Deadline)
	asked := time.Now()
	code, _ := c.do("DELETE", "/v1/jobs/"+id, key, nil)
	require.Equal(t, 202, code)
	job := c.waitState(key, id, "cancelled", 5*time.Second)
	took := time.Since(asked)
	t.Logf("cancel of a running 30s job took %s", took.Round(time.Millisecond))
	assert.Less(t, took, 2*time.Second)
	evs := job["events"].([]any)
	assert.Contains(t, evs[len(evs)-1].(map[string]any)["message"], "sleep interrupted")
}

// TestFaultLongJob: a 3-minute job under a 1-minute RabbitMQ consumer
// timeout succeeds once: the delivery is acked at claim, the lease in
// Postgres owns the job.
func TestFaultLongJob(t *testing.T) {
	t.Parallel()
	requireServers(t)
	restore := setConsumerTimeout(t, 60000)
	defer restore()
	e := newEnv(t)
	c, key := stackWithGateway(t, e, nil)
	startWorker(t, e, nil)
	id := c.submit(key, map[string]any{"kind": "system.sleep", "payload": map[string]any{"ms": 180000}})
	job := c.waitState(key, id, "succeeded", 5*time.Minute)
	assert.Equal(t, float64(1), job["attempts"])
	assert.Equal(t, []string{"created", "started", "succeeded"}, types(job))
}

// --- helpers ---

type jobState struct {
	state            string
	attempts         int
	runAt, startedAt time.Time
}

// submitMany submits n jobs with 16 concurrent clients and returns their ids.
func submitMany(t *testing.T, c *client, key string, n int, body func(i int) map[string]any) []string {
	ids := make([]string, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i := 0; i < n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			ids[i] = c.submit(key, body(i))
		}()
	}
	wg.Wait()
	return ids
}

// waitAllTerminal waits until every job is terminal and returns their
// final states, read through the list API.
func waitAllTerminal(t *testing.T, c *client, key string, ids []string, timeout time.Duration) map[string]jobState {
	t.Helper()
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	var states map[string]jobState
	testkit.WaitFor(t, timeout, func() bool {
		states = listStates(t, c, key, "state=succeeded,failed,cancelled")
		n := 0
		for id := range want {
			if _, ok := states[id]; ok {
				n++
			}
		}
		return n == len(want)
	}, "%d jobs to finish (finished: %d)", len(ids), len(states))
	return states
}

func listStates(t *testing.T, c *client, key, query string) map[string]jobState {
	out := map[string]jobState{}
	cursor := ""
	for {
		path := "/v1/jobs?limit=500&" + query
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		code, page := c.do("GET", path, key, nil)
		require.Equal(t, 200, code, page)
		for _, raw := range page["jobs"].([]any) {
			j := raw.(map[string]any)
			s := jobState{state: j["state"].(string), attempts: int(j["attempts"].(float64))}
			s.runAt, _ = time.Parse(time.RFC3339Nano, j["run_at"].(string))
			if v, ok := j["started_at"].(string); ok {
				s.startedAt, _ = time.Parse(time.RFC3339Nano, v)
			}
			out[j["id"].(string)] = s
		}
		next, _ := page["next_cursor"].(string)
		if next == "" {
			return out
		}
		cursor = next
	}
}

func countState(t *testing.T, c *client, key, state string) int {
	return len(listStates(t, c, key, "state="+state))
}

func readyField(t *testing.T, addr, field string) any {
	resp, err := http.Get("http://" + addr + "/readyz")
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	var body map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return body[field]
}

// load submits a job every 20 ms until stopped, keeping the ids answered
// 202 and counting refusals (503 while a server is down).
type load struct {
	mu      sync.Mutex
	ids     []string
	refused atomic.Int64
	stopCh  chan struct{}
	done    chan struct{}
}

func startLoad(t *testing.T, c *client, key string) *load {
	l := &load{stopCh: make(chan struct{}), done: make(chan struct{})}
	quiet := &client{t: t, base: c.base, http: &http.Client{Timeout: 10 * time.Second}}
	go func() {
		defer close(l.done)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-l.stopCh:
				return
			case <-tick.C:
			}
			id, ok := quiet.trySubmit(key, map[string]any{"kind": "system.sleep", "max_attempts": 10,
				"payload": map[string]any{"ms": i % 20}})
			if !ok {
				l.refused.Add(1)
				continue
			}
			l.mu.Lock()
			l.ids = append(l.ids, id)
			l.mu.Unlock()
		}
	}()
	return l
}

func (l *load) accepted() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.ids)
}

func (l *load) stop() []string {
	close(l.stopCh)
	<-l.done
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.ids...)
}

// trySubmit is submit without failing the test on refusal.
func (c *client) trySubmit(key string, body map[string]any) (string, bool) {
	raw, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", c.base+"/v1/jobs", strings.NewReader(string(raw)))
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := c.http.Do(req)
	if err != nil {
		return "", false
	}
	defer resp.Body.Close()
	var out map[string]any
	if resp.StatusCode != 202 || json.NewDecoder(resp.Body).Decode(&out) != nil {
		return "", false
	}
	id, ok := out["id"].(string)
	return id, ok
}

// setConsumerTimeout sets RabbitMQ's consumer_timeout (ms) for channels
// opened from now on and returns a function restoring the old value.
func setConsumerTimeout(t *testing.T, ms int) func() {
	out, err := rabbitctl("eval", "application:get_env(rabbit, consumer_timeout).")
	require.NoError(t, err)
	old := strings.TrimSpace(out)
	_, err = rabbitctl("eval", fmt.Sprintf("application:set_env(rabbit, consumer_timeout, %d).", ms))
	require.NoError(t, err)
	return func() {
		if strings.HasPrefix(old, "{ok,") {
			_, _ = rabbitctl("eval", fmt.Sprintf("application:set_env(rabbit, consumer_timeout, %s).", strings.TrimSuffix(strings.TrimPrefix(old, "{ok,"), "}")))
			return
		}
		_, _ = rabbitctl("eval", "application:unset_env(rabbit, consumer_timeout).")
	}
}

// requireServers fails the test at once, with the one message saying why,
// when this machine's RabbitMQ and PostgreSQL cannot be stopped and started
// from here.
func requireServers(t *testing.T) {
	t.Helper()
	if _, err := localServers(); err != nil {
		t.Fatal(err)
	}
}

// TestFaultWorkflowCrash: diamonds and 100-wide fan-outs with a fan-in run
// across 3 worker processes while workers are SIGKILLed and replaced and
// the only gateway (the dispatcher leader) is SIGKILLed and restarted
// mid-workflow. Every workflow succeeds; every step ran its jobs once
// each (one job per element, none released twice), every job's
// succeeding attempt completed exactly once, and no job is left behind.
func TestFaultWorkflowCrash(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e["HOPPER_DISPATCH_INTERVAL"] = "100ms"
	e["HOPPER_LEASE"] = "1s"
	api := freeAddr(t)
	gw := start(t, "gateway", e, env{"HOPPER_HTTP_ADDR": api})
	waitReady(t, "http://"+api+"/readyz", gw)
	c := &client{t: t, base: "http://" + api, http: &http.Client{Timeout: 30 * time.Second}}
	key := newUserKey(t, c, e)
	fx := newSideEffects(t)
	workerEnv := env{"HOPPER_CONCURRENCY": "4"}
	workers := []*proc{startWorker(t, e, workerEnv), startWorker(t, e, workerEnv), startWorker(t, e, workerEnv)}

	sleep := func(name string, ms int, deps ...string) map[string]any {
		return map[string]any{"name": name, "kind": "system.sleep", "depends_on": deps,
			"options": map[string]any{"max_attempts": 20},
			"payload": map[string]any{"ms": ms, "callback_url": fx.srv.URL}}
	}
	const width = 100
	want := map[string]map[string]int{} // workflow → step → jobs
	submit := func(steps ...map[string]any) {
		code, out := c.do("POST", "/v1/workflows", key, map[string]any{"steps": steps})
		require.Equal(t, 202, code, out)
		jobsOf := map[string]int{}
		for _, s := range steps {
			jobsOf[s["name"].(string)] = 1
			if fe, ok := s["for_each"].([]int); ok {
				jobsOf[s["name"].(string)] = len(fe)
			}
		}
		want[out["id"].(string)] = jobsOf
	}
	for i := 0; i < 4; i++ {
		submit(sleep("A", 300), sleep("B", 600, "A"), sleep("C", 400, "A"), sleep("D", 300, "B", "C"))
	}
	for i := 0; i < 2; i++ {
		items := make([]int, width)
		for k := range items {
			items[k] = k
		}
		fan := sleep("fan", 150, "split")
		fan["for_each"] = items
		submit(sleep("split", 300), fan, sleep("join", 200, "fan"), sleep("tail", 100, "join", "split"))
	}

	// The kill schedule: a worker every 700 ms, the gateway once between.
	inFlight := 0
	for k := 0; k < 6; k++ {
		time.Sleep(700 * time.Millisecond) // the kill schedule itself, not a wait for a condition
		i := rand.IntN(len(workers))
		workers[i].kill(t)
		workers[i] = startWorker(t, e, workerEnv)
		if k == 2 {
			code, out := c.do("GET", "/v1/workflows?state=running", key, nil)
			require.Equal(t, 200, code, out)
			inFlight = len(out["workflows"].([]any))
			require.NotZero(t, inFlight, "workflows in flight when the gateway dies")
			gw.kill(t)
			gw = start(t, "gateway", e, env{"HOPPER_HTTP_ADDR": api})
			waitReady(t, "http://"+api+"/readyz", gw)
		}
	}
	done := time.Now()

	var ids []string
	for id := range want {
		ids = append(ids, id)
	}
	final := map[string]map[string]any{}
	testkit.WaitFor(t, 2*testkit.Deadline, func() bool {
		for _, id := range ids {
			if final[id] != nil {
				continue
			}
			code, w := c.do("GET", "/v1/workflows/"+id, key, nil)
			require.Equal(t, 200, code, w)
			if w["state"] != "running" {
				final[id] = w
			}
		}
		return len(final) == len(ids)
	}, "%d workflows to end", len(ids))
	t.Logf("all workflows ended %s after the last kill", time.Since(done).Round(time.Millisecond))

	fx.mu.Lock()
	defer fx.mu.Unlock()
	jobsSeen, retried := 0, 0
	for id, w := range final {
		require.Equal(t, "succeeded", w["state"], "workflow %s", id)
		steps := w["steps"].([]any)
		require.Len(t, steps, len(want[id]))
		for _, raw := range steps {
			s := raw.(map[string]any)
			name := s["name"].(string)
			assert.Equal(t, "succeeded", s["state"], "%s/%s", id, name)
			js := s["jobs"].([]any)
			require.Len(t, js, want[id][name], "%s/%s: one job per element, none released twice", id, name)
			elements := map[int]bool{}
			for _, rj := range js {
				j := rj.(map[string]any)
				jobsSeen++
				assert.Equal(t, "succeeded", j["state"])
				attempts := int(j["attempts"].(float64))
				if attempts > 1 {
					retried++
				}
				assert.Equal(t, 1, fx.completed[j["id"].(string)][attempts],
					"%s/%s job %s: its succeeding attempt completed exactly once", id, name, j["id"])
				if el, ok := j["element"].(float64); ok {
					elements[int(el)] = true
				}
			}
			if want[id][name] > 1 {
				assert.Len(t, elements, want[id][name], "%s/%s: every element once", id, name)
			}
		}
	}
	for _, st := range []string{"scheduled", "queued", "running", "retrying"} {
		assert.Zero(t, countState(t, c, key, st), "no job left %s", st)
	}
	t.Logf("workflows=%d running_at_gateway_kill=%d jobs=%d worker_kills=6 gateway_kills=1 jobs_retried=%d",
		len(ids), inFlight, jobsSeen, retried)
}
