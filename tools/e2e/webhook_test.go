package e2e

import (
	"encoding/json"
	"fmt"
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

// delivery is one request a receiver got, as sent.
type delivery struct {
	signature, id, event string
	body                 []byte
}

// receiver is a webhook endpoint that keeps every request, accepts those
// that verify with secret (401 otherwise) and fails the first failFirst
// verified ones with a 500.
type receiver struct {
	t         *testing.T
	secret    []byte
	failFirst int

	mu       sync.Mutex
	all      []delivery
	attempts int
	verified []map[string]any
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	require.NoError(r.t, err)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.all = append(r.all, delivery{signature: req.Header.Get(webhook.SignatureHeader), id: req.Header.Get(webhook.DeliveryHeader),
		event: req.Header.Get(webhook.EventHeader), body: body})
	if err := webhook.Verify(r.secret, req.Header.Get(webhook.SignatureHeader), body, time.Now(), 5*time.Minute); err != nil {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
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

func (r *receiver) requests() []delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]delivery(nil), r.all...)
}

// newWebhookSecret creates a webhook secret for the user holding key,
// rotating out their older ones over overlap, and returns it.
func newWebhookSecret(t *testing.T, c *client, key string, overlap time.Duration) []byte {
	t.Helper()
	code, out := c.do("POST", "/v1/users/me/webhook-secrets", key, map[string]any{"overlap_seconds": int(overlap.Seconds())})
	require.Equal(t, 201, code, out)
	return []byte(out["secret"].(string))
}

// TestWebhooks: a finished job with webhook_url is POSTed to a receiver,
// signed with its owner's own secret, the event read from the job's real
// state; a failing receiver sees retries, each with the same delivery id,
// until it answers; each attempt shows in the job's timeline; a receiver
// holding another tenant's secret cannot verify it; during a rotation
// the old and the new secret both verify; and no user can submit a
// delivery of their own.
func TestWebhooks(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e["HOPPER_DISPATCH_INTERVAL"] = "200ms"
	e["HOPPER_WEBHOOK_ALLOW_PRIVATE"] = "true" // the receivers listen on 127.0.0.1
	c, alice := stackWithGateway(t, e, nil)
	bob := newUserKey(t, c, e)
	startWorker(t, e, nil)

	hook := func(url string) map[string]any {
		return map[string]any{"kind": "system.noop", "webhook_url": url}
	}
	code, out := c.do("POST", "/v1/jobs", alice, hook("http://127.0.0.1:1/hook"))
	require.Equal(t, 422, code, "no webhook without a secret of one's own: %v", out)
	aliceSecret := newWebhookSecret(t, c, alice, 0)
	bobSecret := newWebhookSecret(t, c, bob, 0)

	// A user cannot have Hopper sign what they like: no delivery of their
	// own making, whatever its event.
	for _, key := range []string{alice, bob} {
		code, out := c.do("POST", "/v1/jobs", key, map[string]any{"kind": "maintenance.webhook",
			"payload": map[string]any{"job_id": "0193b8a0-0000-7000-8000-000000000001", "event": "job.succeeded"}})
		require.Equal(t, 403, code, out)
	}

	good := &receiver{t: t, secret: aliceSecret}
	flaky := &receiver{t: t, secret: aliceSecret, failFirst: 2}
	bobs := &receiver{t: t, secret: bobSecret} // bob's endpoint, given alice's webhooks
	goodSrv, flakySrv, bobSrv := httptest.NewServer(good), httptest.NewServer(flaky), httptest.NewServer(bobs)
	t.Cleanup(goodSrv.Close)
	t.Cleanup(flakySrv.Close)
	t.Cleanup(bobSrv.Close)

	ok := c.submit(alice, hook(goodSrv.URL+"/hook"))
	retried := c.submit(alice, hook(flakySrv.URL+"/hook"))
	failed := c.submit(alice, map[string]any{"kind": "system.sleep", "payload": map[string]any{"ms": 0, "fail": "permanent"},
		"webhook_url": goodSrv.URL + "/hook"})
	forBob := c.submit(alice, hook(bobSrv.URL+"/hook"))

	var got []map[string]any
	testkit.WaitFor(t, testkit.Deadline, func() bool {
		_, got = good.snapshot()
		return len(got) == 2
	}, "the webhooks of %s and %s to arrive", ok, failed)
	events := map[string]string{}
	for _, ev := range got {
		job := ev["job"].(map[string]any)
		events[job["id"].(string)] = ev["event"].(string)
		assert.Equal(t, "job."+job["state"].(string), ev["event"], "the event is the job's state")
	}
	assert.Equal(t, map[string]string{ok: "job.succeeded", failed: "job.failed"}, events)

	// The flaky receiver: two 500s, then delivered, every attempt under
	// one delivery id, derived from the job's id, attempt and state.
	testkit.WaitFor(t, testkit.Deadline, func() bool {
		_, got = flaky.snapshot()
		return len(got) == 1
	}, "the flaky receiver to accept a delivery")
	attempts, _ := flaky.snapshot()
	assert.Equal(t, 3, attempts, "two 500s, then delivered")
	var ids []string
	for _, d := range flaky.requests() {
		ids = append(ids, d.id)
	}
	want := webhook.DeliveryID(fmt.Sprintf("%s:1:succeeded", retried))
	assert.Equal(t, []string{want, want, want}, ids, "the same Hopper-Delivery on every retry")

	// Bob's receiver gets alice's delivery and cannot verify it: alice's
	// webhooks are signed with her secret only.
	testkit.WaitFor(t, testkit.Deadline, func() bool { return len(bobs.requests()) > 0 }, "alice's webhook at bob's receiver")
	d := bobs.requests()[0]
	require.ErrorIs(t, webhook.Verify(bobSecret, d.signature, d.body, time.Now(), 5*time.Minute), webhook.ErrSignatureMismatch)
	require.NoError(t, webhook.Verify(aliceSecret, d.signature, d.body, time.Now(), 5*time.Minute))
	assert.Contains(t, string(d.body), forBob)
	_, verified := bobs.snapshot()
	assert.Empty(t, verified)

	var types []string
	testkit.WaitFor(t, 5*time.Second, func() bool {
		_, j := c.do("GET", "/v1/jobs/"+retried, alice, nil)
		types = nil
		for _, ev := range j["events"].([]any) {
			types = append(types, ev.(map[string]any)["type"].(string))
		}
		return len(types) >= 6
	}, "the deliveries in the timeline")
	assert.Equal(t, []string{"created", "started", "succeeded", "webhook_failed", "webhook_failed", "webhook_delivered"}, types)

	// A rotation: for the overlap, deliveries carry a signature by the
	// new secret and one by the old, so receivers holding either verify.
	newer := newWebhookSecret(t, c, alice, time.Hour)
	rotated := &receiver{t: t, secret: newer}
	rotatedSrv := httptest.NewServer(rotated)
	t.Cleanup(rotatedSrv.Close)
	id := c.submit(alice, hook(rotatedSrv.URL+"/hook"))
	testkit.WaitFor(t, testkit.Deadline, func() bool {
		_, got = rotated.snapshot()
		return len(got) == 1
	}, "the webhook of %s after the rotation", id)
	d = rotated.requests()[0]
	require.NoError(t, webhook.Verify(aliceSecret, d.signature, d.body, time.Now(), 5*time.Minute), "the old secret verifies")
	require.NoError(t, webhook.Verify(newer, d.signature, d.body, time.Now(), 5*time.Minute), "the new secret verifies")
	require.ErrorIs(t, webhook.Verify(bobSecret, d.signature, d.body, time.Now(), 5*time.Minute), webhook.ErrSignatureMismatch)

	// Exactly one delivery per finished job, however many dispatcher passes ran.
	attempts, _ = good.snapshot()
	assert.Equal(t, 2, attempts)
}
