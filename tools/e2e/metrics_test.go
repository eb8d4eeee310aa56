package e2e

import (
	"bufio"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hopperq/hopper/pkg/testkit"
)

// TestMetricsCountAKnownWorkload runs a known mix of jobs through the real
// binaries and checks the gateway's and the worker's /metrics.
func TestMetricsCountAKnownWorkload(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e["HOPPER_DISPATCH_INTERVAL"] = "200ms"
	c, key := stackWithGateway(t, e, nil)

	// Before any worker runs, the backlog shows in the gateway's metrics.
	var ids []string
	for i := 0; i < 4; i++ {
		ids = append(ids, c.submit(key, map[string]any{"kind": "system.noop"}))
	}
	testkit.WaitFor(t, testkit.Deadline, func() bool {
		return scrape(t, c.metrics+"/metrics")[`hopper_queue_waiting_jobs{queue="maintenance",service="gateway"}`] == 4
	}, "backlog of 4 in gateway metrics")

	workerAddr := freeAddr(t)
	startWorkerAt(t, e, workerAddr)
	for i := 0; i < 6; i++ {
		ids = append(ids, c.submit(key, map[string]any{"kind": "system.noop", "priority": "high"}))
	}
	for i := 0; i < 3; i++ {
		ids = append(ids, c.submit(key, map[string]any{"kind": "system.sleep", "payload": map[string]any{"ms": 0, "fail": "permanent"}}))
	}
	for i := 0; i < 2; i++ {
		ids = append(ids, c.submit(key, map[string]any{"kind": "system.sleep", "max_attempts": 2,
			"payload": map[string]any{"ms": 0, "fail": "transient"}}))
	}
	for _, id := range ids {
		testkit.WaitFor(t, testkit.Deadline, func() bool {
			_, j := c.do("GET", "/v1/jobs/"+id, key, nil)
			return j["state"] == "succeeded" || j["state"] == "failed"
		}, "job %s finished", id)
	}

	gw := scrape(t, c.metrics+"/metrics")
	assert.Equal(t, 10.0, gw[`hopper_jobs_submitted_total{kind="system.noop",service="gateway"}`])
	assert.Equal(t, 5.0, gw[`hopper_jobs_submitted_total{kind="system.sleep",service="gateway"}`])
	assert.Equal(t, 15.0, gw[`hopper_http_requests_total{code="202",method="POST",route="/v1/jobs",service="gateway"}`])
	assert.GreaterOrEqual(t, gw[`hopper_publish_confirm_seconds_count{outcome="ok",service="gateway"}`], 17.0, "15 submits + 2 retries")
	assert.Zero(t, gw[`hopper_queue_waiting_jobs{queue="maintenance",service="gateway"}`])
	assert.Equal(t, 1.0, gw[`hopper_queue_consumers{queue="maintenance",service="gateway"}`], "one worker consumes maintenance")
	assert.Zero(t, gw[`hopper_queue_consumers{queue="chat",service="gateway"}`])
	assert.Zero(t, gw[`hopper_queue_depth{queue="maintenance",service="gateway"}`])

	w := scrape(t, "http://"+workerAddr+"/metrics")
	svc := `service="maintenance-worker"`
	assert.Equal(t, 10.0, w[`hopper_jobs_finished_total{kind="system.noop",`+svc+`,state="succeeded"}`])
	assert.Equal(t, 5.0, w[`hopper_jobs_finished_total{kind="system.sleep",`+svc+`,state="failed"}`])
	assert.Equal(t, 2.0, w[`hopper_jobs_finished_total{kind="system.sleep",`+svc+`,state="retrying"}`])
	assert.Equal(t, 2.0, w[`hopper_job_retries_total{kind="system.sleep",`+svc+`}`])
	assert.Equal(t, 10.0, w[`hopper_job_run_seconds_count{kind="system.noop",`+svc+`}`])
	assert.Equal(t, 7.0, w[`hopper_job_run_seconds_count{kind="system.sleep",`+svc+`}`])
	assert.Equal(t, 4.0, w[`hopper_job_queue_wait_seconds_count{kind="system.noop",priority="3",`+svc+`}`])
	assert.Equal(t, 6.0, w[`hopper_job_queue_wait_seconds_count{kind="system.noop",priority="5",`+svc+`}`])
	assert.Zero(t, w[`hopper_worker_in_flight{`+svc+`}`])
}

func startWorkerAt(t *testing.T, e env, addr string) *proc {
	t.Helper()
	p := start(t, "maintenance-worker", e, env{"HOPPER_METRICS_ADDR": addr})
	waitReady(t, "http://"+addr+"/readyz", p)
	return p
}

// scrape reads a Prometheus text page into series → value.
func scrape(t *testing.T, url string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err == nil {
			out[line[:i]] = v
		}
	}
	return out
}
