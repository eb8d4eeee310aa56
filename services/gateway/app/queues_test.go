package app_test

import (
	"context"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/hopperq/hopper/pkg/config"
	"github.com/hopperq/hopper/pkg/testkit"
	"github.com/hopperq/hopper/pkg/worker"
)

// ownWorker is a maintenance worker the test stops on its own, unlike the
// stack's, which live until the test ends.
type ownWorker struct {
	id     string
	health string
	stop   func()
}

// startOwnWorker runs a maintenance worker with id, renewing its registry
// row every 100 ms, and waits until it consumes (its /readyz).
func (s *stack) startOwnWorker(id string, concurrency int) *ownWorker {
	s.t.Helper()
	cfg, err := config.Load(config.MaintenanceWorker, s.getenv)
	require.NoError(s.t, err)
	cfg.Concurrency, cfg.WorkerID = concurrency, id
	ctx, cancel := context.WithCancel(s.ctx)
	addr := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- worker.RunService(ctx, worker.Service{
			Config: cfg, Logger: zaptest.NewLogger(s.t).Named(id), RegistryEvery: 100 * time.Millisecond,
			OnListen: func(a string) { addr <- a },
		})
	}()
	w := &ownWorker{id: id}
	var once sync.Once
	w.stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				assert.NoError(s.t, err, "worker %s stopped with an error", id)
			case <-time.After(testkit.Deadline):
				s.t.Errorf("worker %s did not stop", id)
			}
		})
	}
	s.t.Cleanup(w.stop)
	select {
	case w.health = <-addr:
	case err := <-done:
		s.t.Fatalf("worker %s exited at start: %v", id, err)
	case <-time.After(testkit.Deadline):
		s.t.Fatalf("worker %s did not listen", id)
	}
	testkit.WaitFor(s.t, testkit.Deadline, func() bool {
		resp, err := http.Get("http://" + w.health + "/readyz")
		if err != nil {
			return false
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, "worker %s ready", id)
	return w
}

// queue returns one queue of GET /v1/queues and the answer's source.
func (s *stack) queue(key, name string) (map[string]any, string) {
	s.t.Helper()
	code, body := s.do("GET", "/v1/queues", key, nil, nil)
	require.Equal(s.t, 200, code, body)
	for _, q := range body["queues"].([]any) {
		if q := q.(map[string]any); q["name"] == name {
			return q, q["source"].(string)
		}
	}
	s.t.Fatalf("queue %s not in %v", name, body)
	return nil, ""
}

// workers returns GET /v1/workers as the admin.
func (s *stack) workers() []map[string]any {
	s.t.Helper()
	code, body := s.do("GET", "/v1/workers", s.admin, nil, nil)
	require.Equal(s.t, 200, code, body)
	var out []map[string]any
	for _, w := range body["workers"].([]any) {
		out = append(out, w.(map[string]any))
	}
	return out
}

func workerIDs(ws []map[string]any) []string {
	var ids []string
	for _, w := range ws {
		ids = append(ids, w["id"].(string))
	}
	return ids
}

func TestWorkersView(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOptions{})
	_, userKey := s.newUser("user")
	assert.Empty(t, s.workers(), "no worker yet")

	first := s.startOwnWorker(testkit.UniqueName("w1-"), 2)
	testkit.WaitFor(t, testkit.Deadline, func() bool { return len(s.workers()) == 1 }, "first worker listed")
	second := s.startOwnWorker(testkit.UniqueName("w2-"), 3)
	var ws []map[string]any
	testkit.WaitFor(t, testkit.Deadline, func() bool { ws = s.workers(); return len(ws) == 2 }, "both workers listed")
	assert.Equal(t, []string{second.id, first.id}, workerIDs(ws), "newest first")

	host, err := os.Hostname()
	require.NoError(t, err)
	for i, want := range []struct {
		id          string
		concurrency float64
	}{{second.id, 3}, {first.id, 2}} {
		w := ws[i]
		assert.Equal(t, want.id, w["id"])
		assert.Equal(t, "maintenance-worker", w["service"])
		assert.Equal(t, host, w["host"])
		assert.Equal(t, float64(os.Getpid()), w["pid"])
		assert.Equal(t, []any{"maintenance"}, w["queues"])
		assert.Equal(t, want.concurrency, w["concurrency"])
		assert.Equal(t, float64(0), w["in_flight"])
		for _, f := range []string{"started_at", "last_seen_at"} {
			at, err := time.Parse(time.RFC3339Nano, w[f].(string))
			require.NoError(t, err, f)
			assert.WithinDuration(t, time.Now(), at, time.Minute, f)
		}
	}

	// A running job shows as in flight on the worker that runs it.
	id := s.submit(userKey, map[string]any{"kind": "system.sleep", "payload": map[string]any{"ms": 1500}})
	testkit.WaitFor(t, testkit.Deadline, func() bool {
		total := 0.0
		for _, w := range s.workers() {
			total += w["in_flight"].(float64)
		}
		return total == 1
	}, "one job in flight")
	s.waitState(userKey, id, "succeeded")

	// A worker that stops cleanly leaves the list at once.
	first.stop()
	assert.Equal(t, []string{second.id}, workerIDs(s.workers()))

	code, body := s.do("GET", "/v1/workers", userKey, nil, nil)
	assert.Equal(t, 403, code, body)
}

// submitNoops submits n system.noop jobs due now and returns their ids.
func (s *stack) submitNoops(key string, n int) []string {
	s.t.Helper()
	var ids []string
	for range n {
		ids = append(ids, s.submit(key, map[string]any{"kind": "system.noop",
			"run_at": time.Now().UTC().Format(time.RFC3339Nano)}))
	}
	return ids
}

// TestQueuesViewAMQP: without a management URL the figures come from
// passive declarations: ready and consumers, unacked and rates null.
func TestQueuesViewAMQP(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOptions{})
	_, userKey := s.newUser("user")
	s.submitNoops(userKey, 3)

	var q map[string]any
	testkit.WaitFor(t, testkit.Deadline, func() bool {
		q, _ = s.queue(userKey, "maintenance")
		return q["ready"] == float64(3)
	}, "3 ready in maintenance (last: %v)", q)
	_, source := s.queue(userKey, "maintenance")
	assert.Equal(t, "amqp", source)
	assert.Equal(t, float64(0), q["consumers"])
	assert.Equal(t, testkit.QueueName(s.cfg.AMQPPrefix, "maintenance"), q["amqp_name"])
	for _, f := range []string{"unacked", "publish_rate", "deliver_rate"} {
		v, present := q[f]
		assert.True(t, present, f)
		assert.Nil(t, v, "%s is null over AMQP", f)
	}
	assert.NotContains(t, q, "management_url")
	assert.Equal(t, false, q["paused"])
	first := q["oldest_waiting_seconds"].(float64)
	assert.Greater(t, first, 0.0)
	testkit.WaitFor(t, testkit.Deadline, func() bool {
		q, _ = s.queue(userKey, "maintenance")
		return q["oldest_waiting_seconds"].(float64) > first
	}, "the oldest job's wait grows")

	code, body := s.do("GET", "/v1/queues", userKey, nil, nil)
	require.Equal(t, 200, code)
	var names []string
	for _, q := range body["queues"].([]any) {
		q := q.(map[string]any)
		names = append(names, q["name"].(string))
		assert.NotContains(t, q, "error", "every queue read")
	}
	assert.Equal(t, []string{"chat", "document", "maintenance", "dead"}, names)
	chat, _ := s.queue(userKey, "chat")
	assert.Equal(t, float64(0), chat["oldest_waiting_seconds"])

	code, body = s.do("GET", "/v1/queues", "", nil, nil)
	assert.Equal(t, 401, code, body)
}

// TestQueuesViewManagement reads the real management API, which must be
// running: a missing one fails the test rather than skipping it.
func TestQueuesViewManagement(t *testing.T) {
	t.Parallel()
	mgmt := os.Getenv("HOPPER_TEST_RABBITMQ_MANAGEMENT_URL")
	if mgmt == "" {
		mgmt = "http://guest:guest@127.0.0.1:15672"
	}
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(mgmt + "/api/overview")
	if err != nil {
		t.Fatalf("the RabbitMQ management API is unreachable (enable rabbitmq_management on 127.0.0.1:15672, or set HOPPER_TEST_RABBITMQ_MANAGEMENT_URL): %v", err)
	}
	_ = resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "the RabbitMQ management API refused GET /api/overview (credentials?)")

	s := startStack(t, stackOptions{env: map[string]string{"HOPPER_RABBITMQ_MANAGEMENT_URL": mgmt}})
	_, userKey := s.newUser("user")
	s.submitNoops(userKey, 3)

	var q map[string]any
	var source string
	// The management API refreshes its figures every few seconds.
	testkit.WaitFor(t, testkit.Deadline, func() bool {
		q, source = s.queue(userKey, "maintenance")
		return q["ready"] == float64(3)
	}, "management API to report 3 ready in maintenance (last: %v)", q)
	assert.Equal(t, "management", source)
	assert.Equal(t, float64(0), q["unacked"])
	assert.Equal(t, float64(0), q["consumers"])
	assert.IsType(t, float64(0), q["publish_rate"])
	assert.IsType(t, float64(0), q["deliver_rate"])
	assert.Greater(t, q["oldest_waiting_seconds"].(float64), 0.0)
	link := q["management_url"].(string)
	wantBase := strings.Replace(mgmt, "guest:guest@", "", 1)
	assert.Equal(t, wantBase+"/#/queues/%2F/"+testkit.QueueName(s.cfg.AMQPPrefix, "maintenance"), link)
	assert.NotContains(t, link, "guest", "no credentials in the link")
}

// TestPauseResumeQueue: pausing maintenance stops every worker from taking
// its jobs (a worker started during the pause too); resuming runs them.
func TestPauseResumeQueue(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOptions{})
	_, userKey := s.newUser("user")
	s.startOwnWorker(testkit.UniqueName("w1-"), 2)
	q, _ := s.queue(userKey, "maintenance")
	require.Equal(t, float64(1), q["consumers"])

	tests := []struct {
		name, method, path, key string
		code                    int
	}{
		{"user may not pause", "POST", "/v1/admin/queues/maintenance/pause", userKey, 403},
		{"user may not resume", "POST", "/v1/admin/queues/maintenance/resume", userKey, 403},
		{"unknown queue", "POST", "/v1/admin/queues/nope/pause", s.admin, 404},
		{"the dead queue is not consumed", "POST", "/v1/admin/queues/dead/pause", s.admin, 404},
		{"GET is not allowed", "GET", "/v1/admin/queues/maintenance/pause", s.admin, 405},
	}
	for _, tc := range tests {
		code, body := s.do(tc.method, tc.path, tc.key, nil, nil)
		assert.Equal(t, tc.code, code, "%s: %v", tc.name, body)
	}

	code, body := s.do("POST", "/v1/admin/queues/maintenance/pause", s.admin, nil, nil)
	require.Equal(t, 202, code, body)
	assert.Equal(t, map[string]any{"queue": "maintenance", "paused": true}, body)
	testkit.WaitFor(t, testkit.Deadline, func() bool {
		q, _ = s.queue(userKey, "maintenance")
		return q["consumers"] == float64(0) && q["paused"] == true
	}, "maintenance paused with no consumer (last: %v)", q)

	// A worker starting during the pause honours it.
	late := s.startOwnWorker(testkit.UniqueName("w2-"), 2)
	ids := s.submitNoops(userKey, 3)
	testkit.WaitFor(t, testkit.Deadline, func() bool {
		q, _ = s.queue(userKey, "maintenance")
		return q["ready"] == float64(3)
	}, "jobs wait in the paused queue (last: %v)", q)
	assert.Equal(t, float64(0), q["consumers"])
	for _, id := range ids {
		_, job := s.do("GET", "/v1/jobs/"+id, userKey, nil, nil)
		assert.Equal(t, "queued", job["state"], "job %s", id)
	}
	testkit.WaitFor(t, testkit.Deadline, func() bool {
		for _, w := range s.workers() {
			if w["id"] == late.id {
				return len(w["paused_queues"].([]any)) == 1
			}
		}
		return false
	}, "the late worker reports maintenance paused")

	code, body = s.do("POST", "/v1/admin/queues/maintenance/resume", s.admin, nil, nil)
	require.Equal(t, 202, code, body)
	assert.Equal(t, map[string]any{"queue": "maintenance", "paused": false}, body)
	for _, id := range ids {
		s.waitState(userKey, id, "succeeded")
	}
	testkit.WaitFor(t, testkit.Deadline, func() bool {
		q, _ = s.queue(userKey, "maintenance")
		return q["consumers"] == float64(2) && q["paused"] == false && q["ready"] == float64(0)
	}, "both workers consume maintenance again (last: %v)", q)
}

// TestQueuesWithoutBroker: with RabbitMQ unreachable the queues view still
// answers, with the broker figures null and a reason, and a pause is
// stored for the workers to read when they come.
func TestQueuesWithoutBroker(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOptions{amqpURL: "amqp://guest:guest@127.0.0.1:1/"})
	_, userKey := s.newUser("user")

	code, body := s.do("GET", "/v1/queues", userKey, nil, nil)
	require.Equal(t, 200, code, body)
	queues := body["queues"].([]any)
	require.Len(t, queues, 4)
	for _, q := range queues {
		q := q.(map[string]any)
		assert.Nil(t, q["ready"], q["name"])
		assert.Nil(t, q["consumers"], q["name"])
		assert.Equal(t, "RabbitMQ could not be read; retry shortly", q["error"], "no internals: %v", q)
	}

	code, body = s.do("POST", "/v1/admin/queues/chat/pause", s.admin, nil, nil)
	require.Equal(t, 202, code, body)
	q, _ := s.queue(userKey, "chat")
	assert.Equal(t, true, q["paused"])
}

// TestQueuesViewShowsHeldJobs: jobs a fairness cap holds back are counted
// apart from those queued for a worker. With a cap of 1 and no worker, of
// 3 jobs one is published (ready in RabbitMQ) and 2 are held in Postgres.
func TestQueuesViewShowsHeldJobs(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOptions{})
	plan := testkit.UniqueName("one")
	code, out := s.do("POST", "/v1/admin/plans", s.admin, map[string]any{"name": plan, "jobs_per_hour": 0, "max_concurrent": 1}, nil)
	require.Equal(t, 201, code, out)
	_, key := s.newUserOnPlan("user", plan)
	s.submitNoops(key, 3)

	var q map[string]any
	testkit.WaitFor(t, testkit.Deadline, func() bool {
		q, _ = s.queue(key, "maintenance")
		return q["ready"] == float64(1) && q["held"] == float64(2)
	}, "1 ready and 2 held in maintenance (last: %v)", q)
	assert.Greater(t, q["oldest_waiting_seconds"].(float64), 0.0, "the admitted job waits for a worker")
	chat, _ := s.queue(key, "chat")
	assert.Equal(t, float64(0), chat["held"])
}
