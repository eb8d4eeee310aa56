package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hopperq/hopper/pkg/product"
	"github.com/hopperq/hopper/pkg/testkit"
)

// startGateway starts one more gateway binary on e and returns its client.
func startGateway(t *testing.T, e env) *client {
	t.Helper()
	api := freeAddr(t)
	gw := start(t, "gateway", e, env{"HOPPER_HTTP_ADDR": api})
	waitReady(t, "http://"+api+"/readyz", gw)
	return &client{t: t, base: "http://" + api, http: &http.Client{Timeout: 30 * time.Second}}
}

// post sends a JSON POST and returns the status, the Retry-After header
// and the body. Safe from several goroutines (no require).
func post(c *client, path, key string, body any) (int, string, map[string]any, error) {
	raw, err := json.Marshal(body)
	if err != nil {
		return 0, "", nil, err
	}
	req, err := http.NewRequest("POST", c.base+path, bytes.NewReader(raw))
	if err != nil {
		return 0, "", nil, err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, "", nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, "", nil, err
	}
	out := map[string]any{}
	_ = json.Unmarshal(b, &out)
	return resp.StatusCode, resp.Header.Get("Retry-After"), out, nil
}

// TestQuotaAcrossTwoGateways: two gateway binaries on one schema and
// prefix; a user on a 100-jobs-per-hour plan submits 50 jobs through each
// at once, all accepted; the 101st is refused on either gateway with 429,
// Retry-After and a body naming the limit. The plan is managed with
// hopperctl.
func TestQuotaAcrossTwoGateways(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a, _ := stackWithGateway(t, e, nil)
	b := startGateway(t, e)
	admin := e["HOPPER_ADMIN_TOKEN"]

	out, err := hopperctl(t, a.base, admin, "plans", "create", "hundred", "-jobs-per-hour", "100", "-documents", "5", "-max-priority", "5", "-max-attempts", "4")
	require.NoError(t, err, out)
	assert.Contains(t, out, "hundred")
	out, err = hopperctl(t, b.base, admin, "plans", "list")
	require.NoError(t, err, out)
	assert.Regexp(t, `hundred\s+100\s+5\s+unlimited\s+5\s+0\s+4`, out)
	assert.Regexp(t, `free\s+100\s+20\s+4\s+3\s+0\s+5`, out)

	// The user starts on free and is moved with hopperctl.
	code, u := a.do("POST", "/v1/admin/users", admin, map[string]any{"email": testkit.UniqueName("q") + "@example.com"})
	require.Equal(t, 201, code, u)
	assert.Equal(t, "free", u["plan"])
	out, err = hopperctl(t, a.base, admin, "users", "plan", u["id"].(string), "hundred")
	require.NoError(t, err, out)
	assert.Contains(t, out, "hundred")
	out, err = hopperctl(t, a.base, admin, "plans", "delete", "hundred")
	require.Error(t, err, "a plan in use cannot be deleted")
	assert.Contains(t, out, "1 users are on the hundred plan")
	code, k := a.do("POST", "/v1/admin/users/"+u["id"].(string)+"/keys", admin, nil)
	require.Equal(t, 201, code, k)
	key := k["key"].(string)

	// 50 through each gateway, 8 at a time per gateway.
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[int]int{}
	for _, c := range []*client{a, b} {
		sem := make(chan struct{}, 8)
		for range 50 {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				code, _, body, err := post(c, "/v1/jobs", key, map[string]any{"kind": "system.noop"})
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					t.Errorf("submit: %v", err)
					return
				}
				if code != 202 {
					t.Errorf("submit: %d %v", code, body)
				}
				codes[code]++
			}()
		}
	}
	wg.Wait()
	require.Equal(t, map[int]int{202: 100}, codes)

	for _, c := range []*client{a, b} {
		code, retryAfter, body, err := post(c, "/v1/jobs", key, map[string]any{"kind": "system.noop"})
		require.NoError(t, err)
		require.Equal(t, 429, code, body)
		secs, err := strconv.Atoi(retryAfter)
		require.NoError(t, err, "Retry-After %q", retryAfter)
		assert.InDelta(t, 3600, secs, 60)
		e := body["error"].(map[string]any)
		assert.Equal(t, "rate_limited", e["code"])
		d := e["details"].(map[string]any)
		assert.Equal(t, "jobs_per_hour", d["limit"])
		assert.Equal(t, float64(100), d["max"])
		assert.Equal(t, float64(100), d["used"])
		assert.Equal(t, float64(secs), d["retry_after_seconds"])
	}

	out, err = hopperctl(t, b.base, key, "limits")
	require.NoError(t, err, out)
	assert.Contains(t, out, "hundred")
	assert.Contains(t, out, "100 used, 0 of 100 left")

	// Raising the limit through one gateway applies on the other within
	// the plan cache's TTL (5 s).
	out, err = hopperctl(t, a.base, admin, "plans", "update", "hundred", "-jobs-per-hour", "101")
	require.NoError(t, err, out)
	testkit.WaitFor(t, 10*time.Second, func() bool {
		code, _, _, err := post(b, "/v1/jobs", key, map[string]any{"kind": "system.noop"})
		return err == nil && code == 202
	}, "the raised limit on the other gateway")
}

// TestPremiumStartsBeforeFreeBacklog: with a backlog of free users'
// qa.ask jobs in the chat queue and no chat-worker, a premium user's
// qa.ask submitted after them (normal + the premium boost) starts first
// once one chat-worker of concurrency 1 comes up.
func TestPremiumStartsBeforeFreeBacklog(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c, _ := stackWithGateway(t, e, nil)
	// The chat-worker's kinds are in the catalogue (it ran before, or a
	// deploy step published them): accepted, waiting for a worker.
	publishProductKinds(t, e, product.ChatWorker)

	ask := map[string]any{"question": "When does the warehouse open?"}
	type sub struct{ key, id string }
	var free []sub
	for range 6 {
		key := newUserKeyOnPlan(t, c, e, "free")
		for range 3 {
			code, out := c.do("POST", "/v1/qa/ask", key, ask)
			require.Equal(t, 202, code, out)
			free = append(free, sub{key, out["id"].(string)})
		}
	}
	premiumKey := newUserKeyOnPlan(t, c, e, "premium")
	code, out := c.do("POST", "/v1/qa/ask", premiumKey, ask)
	require.Equal(t, 202, code, out)
	premium := sub{premiumKey, out["id"].(string)}

	addr := freeAddr(t)
	w := start(t, "chat-worker", e, env{"HOPPER_METRICS_ADDR": addr, "HOPPER_CONCURRENCY": "1"})
	waitReady(t, "http://"+addr+"/readyz", w)

	startedAt := func(s sub) time.Time {
		job := c.waitState(s.key, s.id, "succeeded", testkit.Deadline)
		ts, err := time.Parse(time.RFC3339Nano, job["started_at"].(string))
		require.NoError(t, err)
		return ts
	}
	p := startedAt(premium)
	_, job := c.do("GET", "/v1/jobs/"+premium.id, premium.key, nil)
	assert.Equal(t, float64(4), job["priority"], "normal + premium boost")
	var freeStarts []time.Time
	for _, s := range free {
		freeStarts = append(freeStarts, startedAt(s))
	}
	sort.Slice(freeStarts, func(i, j int) bool { return freeStarts[i].Before(freeStarts[j]) })
	_, job = c.do("GET", "/v1/jobs/"+free[0].id, free[0].key, nil)
	assert.Equal(t, float64(3), job["priority"])
	assert.True(t, p.Before(freeStarts[0]), "premium started %s, first free %s (of %d)", p.Format(time.RFC3339Nano),
		freeStarts[0].Format(time.RFC3339Nano), len(freeStarts))
	if t.Failed() {
		t.Logf("worker log: %s", strings.TrimSpace(w.tail(2048)))
	}
}
