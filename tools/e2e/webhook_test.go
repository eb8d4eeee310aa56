package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hopperq/hopper/pkg/testkit"
	"github.com/hopperq/hopper/pkg/webhook"
)

// receiver is a webhook endpoint that verifies every signature and fails
// the first failFirst deliveries with a 500.
type receiver struct {
	t         *testing.T
	secret    []byte
	failFirst int

	mu       sync.Mutex
	attempts int
	verified []map[string]any
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	require.NoError(r.t, err)
	if err := webhook.Verify(r.secret, req.Header.Get("Hopper-Signature"), body, time.Now(), 5*time.Minute); err != nil {
		r.t.Errorf("bad signature: %v", err)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.attempts++
	if r.attempts <= r.failFirst {
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	var ev map[string]any
	require.NoError(r.t, json.Unmarshal(body, &ev))
	r.verified = append(r.verified, ev)
	w.WriteHeader(http.StatusNoContent)
}

func (r *receiver) snapshot() (attempts int, verified []map[string]any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.attempts, append([]map[string]any(nil), r.verified...)
}

// TestWebhooks: a finished job with webhook_url is POSTed, signed, to a
// receiver that verifies the signature; a failing receiver sees retries
// until it answers; each attempt shows in the job's timeline.
func TestWebhooks(t *testing.T) {
	t.Parallel()
	secret := testkit.UniqueName("whsec-")
	e := newEnv(t)
	e["HOPPER_DISPATCH_INTERVAL"] = "200ms"
	e["HOPPER_WEBHOOK_SECRET"] = secret
	e["HOPPER_WEBHOOK_ALLOW_PRIVATE"] = "true" // the receivers listen on 127.0.0.1
	c, key := stackWithGateway(t, e, nil)
	startWorker(t, e, nil)

	good := &receiver{t: t, secret: []byte(secret)}
	flaky := &receiver{t: t, secret: []byte(secret), failFirst: 2}
	goodSrv, flakySrv := httptest.NewServer(good), httptest.NewServer(flaky)
	t.Cleanup(goodSrv.Close)
	t.Cleanup(flakySrv.Close)

	ok := c.submit(key, map[string]any{"kind": "system.noop", "webhook_url": goodSrv.URL + "/hook"})
	retried := c.submit(key, map[string]any{"kind": "system.noop", "webhook_url": flakySrv.URL + "/hook"})

	var got []map[string]any
	testkit.WaitFor(t, testkit.Deadline, func() bool {
		_, got = good.snapshot()
		return len(got) == 1
	}, "the webhook of %s to arrive", ok)
	assert.Equal(t, "job.succeeded", got[0]["event"])
	job := got[0]["job"].(map[string]any)
	assert.Equal(t, ok, job["id"])
	assert.Equal(t, "succeeded", job["state"])
	assert.Equal(t, "system.noop", job["kind"])

	testkit.WaitFor(t, testkit.Deadline, func() bool {
		_, got = flaky.snapshot()
		return len(got) == 1
	}, "the flaky receiver to accept a delivery")
	attempts, _ := flaky.snapshot()
	assert.Equal(t, 3, attempts, "two 500s, then delivered")

	var types []string
	testkit.WaitFor(t, 5*time.Second, func() bool {
		_, j := c.do("GET", "/v1/jobs/"+retried, key, nil)
		types = nil
		for _, ev := range j["events"].([]any) {
			types = append(types, ev.(map[string]any)["type"].(string))
		}
		return len(types) >= 6
	}, "the deliveries in the timeline")
	assert.Equal(t, []string{"created", "started", "succeeded", "webhook_failed", "webhook_failed", "webhook_delivered"}, types)

	// Exactly one delivery per finished job, however many dispatcher passes ran.
	attempts, _ = good.snapshot()
	assert.Equal(t, 1, attempts)
}
