package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/hopperq/hopper/pkg/config"
	"github.com/hopperq/hopper/pkg/hopper"
	"github.com/hopperq/hopper/pkg/product"
	"github.com/hopperq/hopper/pkg/testkit"
	"github.com/hopperq/hopper/pkg/worker"
	"github.com/hopperq/hopper/services/gateway/app"
)

// stack is a gateway (and optionally a maintenance worker) running in this
// test process against the real Postgres and RabbitMQ, isolated by schema
// and AMQP prefix.
type stack struct {
	t    *testing.T
	base string
	// metrics is the gateway's metrics server (http://host:port).
	metrics string
	admin   string
	cfg     config.Config
	getenv  config.Getenv
	ctx     context.Context
	done    chan error
	// running counts services to wait for at cleanup.
	running int
}

type stackOptions struct {
	withWorker bool
	amqpURL    string
	// env adds or overrides HOPPER_* variables.
	env map[string]string
}

func startStack(t *testing.T, o stackOptions) *stack {
	t.Helper()
	env := map[string]string{
		"HOPPER_DATABASE_URL":      testkit.DatabaseURL(t),
		"HOPPER_AMQP_PREFIX":       testkit.Prefix(t),
		"HOPPER_AMQP_URL":          testkit.AMQPURL(),
		"HOPPER_HTTP_ADDR":         "127.0.0.1:0",
		"HOPPER_METRICS_ADDR":      "127.0.0.1:0",
		"HOPPER_ADMIN_TOKEN":       testkit.UniqueName("admin-token-"),
		"HOPPER_MAX_BODY_BYTES":    "65536",
		"HOPPER_SHUTDOWN_GRACE":    "5s",
		"HOPPER_DISPATCH_INTERVAL": "200ms",
	}
	if o.amqpURL != "" {
		env["HOPPER_AMQP_URL"] = o.amqpURL
	}
	for k, v := range o.env {
		env[k] = v
	}
	getenv := func(k string) string { return env[k] }
	cfg, err := config.Load(config.Gateway, getenv)
	require.NoError(t, err)
	settings, err := product.LoadSettings(getenv)
	require.NoError(t, err)

	ctx, cancel := context.WithCancel(context.Background())
	addrCh := make(chan string, 1)
	metricsCh := make(chan string, 1)
	done := make(chan error, 8)
	go func() {
		done <- app.Run(ctx, cfg, zaptest.NewLogger(t).Named("gateway"), app.Options{
			OnListen: func(a string) { addrCh <- a }, OnMetricsListen: func(a string) { metricsCh <- a }, Settings: &settings,
		})
	}()
	var addr string
	select {
	case addr = <-addrCh:
	case err := <-done:
		t.Fatalf("gateway exited at start: %v", err)
	case <-time.After(testkit.Deadline):
		t.Fatal("gateway did not listen")
	}
	publishProductKinds(t, cfg.DatabaseURL) // the gateway has migrated
	s := &stack{t: t, base: "http://" + addr, metrics: "http://" + <-metricsCh, admin: env["HOPPER_ADMIN_TOKEN"], cfg: cfg,
		getenv: getenv, ctx: ctx, done: done, running: 1}
	t.Cleanup(func() {
		cancel()
		for i := 0; i < s.running; i++ {
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("service stopped with error: %v", err)
				}
			case <-time.After(testkit.Deadline):
				t.Error("service did not stop")
			}
		}
	})
	if o.withWorker {
		s.startWorker(4, 100*time.Millisecond)
	}
	testkit.WaitFor(t, testkit.Deadline, func() bool {
		code, _ := s.do("GET", "/v1/kinds/document.embed", s.admin, nil, nil)
		return code == 200
	}, "the gateway's catalogue to hold the product's kinds")
	if o.amqpURL == "" {
		testkit.WaitFor(t, testkit.Deadline, func() bool {
			code, body := s.do("GET", "/readyz", "", nil, nil)
			return code == 200 && body["status"] == "ready"
		}, "gateway ready")
	}
	return s
}

// publishProductKinds records the built-in services' kinds in the
// catalogue, as those services do when they start, so tests can submit
// them without running the services.
func publishProductKinds(t *testing.T, databaseURL string) {
	t.Helper()
	for _, svc := range []string{product.ChatWorker, product.DocumentWorker, product.MaintenanceWorker} {
		kinds, err := product.Kinds(svc)
		require.NoError(t, err)
		require.NoError(t, hopper.PublishKinds(t.Context(), databaseURL, svc, kinds...))
	}
}

// startWorker runs a maintenance worker with the given concurrency and
// heartbeat interval (0: the default, lease/3) in this process until the
// test ends.
func (s *stack) startWorker(concurrency int, heartbeat time.Duration) {
	s.t.Helper()
	cfg, err := config.Load(config.MaintenanceWorker, s.getenv)
	require.NoError(s.t, err)
	cfg.Concurrency = concurrency
	s.running++
	go func() {
		s.done <- worker.RunService(s.ctx, worker.Service{
			Config: cfg, Logger: zaptest.NewLogger(s.t).Named("worker"),
			HeartbeatEvery: heartbeat,
		})
	}()
}

// do sends a request; body may be a string (sent as is) or a value
// (JSON-encoded). It returns the status and the decoded JSON object.
func (s *stack) do(method, path, key string, body any, header map[string]string) (int, map[string]any) {
	s.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		require.NoError(s.t, err)
		r = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, s.base+path, r)
	require.NoError(s.t, err)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(s.t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(s.t, err)
	out := map[string]any{}
	if len(raw) > 0 {
		require.NoError(s.t, json.Unmarshal(raw, &out), "body: %s", raw)
	}
	return resp.StatusCode, out
}

// newUser creates a user through the admin API and returns its id and
// key. The user is on the unlimited plan, so quotas, priority bounds and
// the fairness cap stay out of tests that are not about them; those pick
// a plan with newUserOnPlan.
func (s *stack) newUser(role string) (id, key string) {
	s.t.Helper()
	return s.newUserOnPlan(role, "unlimited")
}

// newUserOnPlan is newUser on plan ("" = the default, free).
func (s *stack) newUserOnPlan(role, plan string) (id, key string) {
	s.t.Helper()
	code, u := s.do("POST", "/v1/admin/users", s.admin, map[string]any{"email": testkit.UniqueName("u") + "@example.com", "role": role, "plan": plan}, nil)
	require.Equal(s.t, 201, code, u)
	id = u["id"].(string)
	code, k := s.do("POST", "/v1/admin/users/"+id+"/keys", s.admin, nil, nil)
	require.Equal(s.t, 201, code, k)
	return id, k["key"].(string)
}

func (s *stack) submit(key string, body any) string {
	s.t.Helper()
	code, out := s.do("POST", "/v1/jobs", key, body, nil)
	require.Equal(s.t, 202, code, out)
	return out["id"].(string)
}

// waitState polls the job until it reaches state and returns it.
func (s *stack) waitState(key, id, state string) map[string]any {
	s.t.Helper()
	var job map[string]any
	testkit.WaitFor(s.t, testkit.Deadline, func() bool {
		_, job = s.do("GET", "/v1/jobs/"+id, key, nil, nil)
		return job["state"] == state
	}, "job %s to reach %s (last: %v)", id, state, job["state"])
	return job
}

func eventTypes(job map[string]any) []string {
	var out []string
	for _, e := range job["events"].([]any) {
		out = append(out, e.(map[string]any)["type"].(string))
	}
	return out
}
