package e2e

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hopperq/hopper/pkg/testkit"
)

// limitedLLM is an OpenAI-compatible streaming chat server that enforces
// its own rate limit the way providers do: at most limit requests in any
// sliding window, 429 with Retry-After beyond it. It counts both.
type limitedLLM struct {
	limit  int
	window time.Duration

	mu       sync.Mutex
	accepted []time.Time // arrival times of the requests it answered
	refused  int         // 429s sent
}

func (f *limitedLLM) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/v1/chat/completions" {
		http.NotFound(w, r)
		return
	}
	now := time.Now()
	f.mu.Lock()
	inWindow := 0
	for i := len(f.accepted) - 1; i >= 0 && f.accepted[i].After(now.Add(-f.window)); i-- {
		inWindow++
	}
	over := inWindow >= f.limit
	if over {
		f.refused++
	} else {
		f.accepted = append(f.accepted, now)
	}
	f.mu.Unlock()
	if over {
		w.Header().Set("Retry-After", "1")
		http.Error(w, `{"error":{"message":"rate limit reached: 60 requests per minute","type":"rate_limit"}}`, http.StatusTooManyRequests)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	for _, chunk := range []string{
		`{"id":"c1","object":"chat.completion.chunk","created":1700000000,"model":"fake-chat","choices":[{"index":0,"delta":{"content":"Yes."},"finish_reason":null}]}`,
		`{"id":"c1","object":"chat.completion.chunk","created":1700000000,"model":"fake-chat","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`,
		`{"id":"c1","object":"chat.completion.chunk","created":1700000000,"model":"fake-chat","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":2,"total_tokens":14}}`,
	} {
		fmt.Fprintf(w, "data: %s\n\n", chunk)
	}
	fmt.Fprint(w, "data: [DONE]\n\n")
}

func (f *limitedLLM) counts() (accepted, refused int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.accepted), f.refused
}

// busiestWindow is the most requests the server answered in any window.
func (f *limitedLLM) busiestWindow() int {
	f.mu.Lock()
	times := append([]time.Time(nil), f.accepted...)
	f.mu.Unlock()
	sort.Slice(times, func(i, j int) bool { return times[i].Before(times[j]) })
	most := 0
	for i, j := 0, 0; i < len(times); i++ {
		for times[i].Sub(times[j]) >= f.window {
			j++
		}
		most = max(most, i-j+1)
	}
	return most
}

// TestProviderRateLimitAcrossWorkers (issue 8): a provider limited to 60
// requests per minute, two chat-worker processes with HOPPER_LLM_RPM=60
// sharing the limit through Postgres, 200 chat.message jobs submitted at
// once: every job succeeds on its first attempt and the provider never
// answers 429 — the burst queues inside Hopper.
func TestProviderRateLimitAcrossWorkers(t *testing.T) {
	if testing.Short() {
		t.Skip("takes about 3.5 minutes")
	}
	t.Parallel()
	const jobsN, rpm = 200, 60
	llm := &limitedLLM{limit: rpm, window: time.Minute}
	srv := httptest.NewServer(llm)
	t.Cleanup(srv.Close)

	e := newEnv(t)
	c, _ := stackWithGateway(t, e, nil)
	// A plan without quotas or fairness caps: this test is about the provider.
	code, u := c.do("POST", "/v1/admin/users", e["HOPPER_ADMIN_TOKEN"],
		map[string]any{"email": testkit.UniqueName("u") + "@example.com", "plan": "unlimited"})
	require.Equal(t, 201, code, u)
	code, k := c.do("POST", "/v1/admin/users/"+u["id"].(string)+"/keys", e["HOPPER_ADMIN_TOKEN"], nil)
	require.Equal(t, 201, code, k)
	key := k["key"].(string)

	var workers []*proc
	for range 2 {
		addr := freeAddr(t)
		p := start(t, "chat-worker", e, env{
			"HOPPER_METRICS_ADDR": addr, "HOPPER_LLM_URL": srv.URL + "/v1", "HOPPER_LLM_MODEL": "fake-chat",
			"HOPPER_LLM_RPM": fmt.Sprint(rpm), "HOPPER_CONCURRENCY": "4",
		})
		waitReady(t, "http://"+addr+"/readyz", p)
		workers = append(workers, p)
	}

	began := time.Now()
	ids := make([]string, jobsN)
	for i := range ids {
		ids[i] = c.submit(key, map[string]any{"kind": "chat.message", "payload": map[string]any{
			"message": fmt.Sprintf("Is %d a number? Answer yes or no.", i), "use_documents": false,
		}})
	}
	submitted := time.Since(began)
	// The minimum: 200 requests one interval (60 s / 60 · 1.01) apart.
	testkit.WaitFor(t, 5*time.Minute, func() bool {
		ok, refused := llm.counts()
		return ok >= jobsN || refused > 0
	}, "the provider to answer %d requests", jobsN)
	served := time.Since(began)

	ok, refused := llm.counts()
	assert.Zero(t, refused, "the provider answered 429")
	assert.Equal(t, jobsN, ok)
	for _, id := range ids {
		job := c.waitState(key, id, "succeeded", testkit.Deadline)
		res := job["result"].(map[string]any)
		require.Equal(t, "Yes.", res["answer"])
		assert.EqualValues(t, 1, job["attempts"], "job %s needed a retry", id)
	}
	elapsed := time.Since(began)
	busiest := llm.busiestWindow()
	assert.LessOrEqual(t, busiest, rpm)
	for _, p := range workers {
		assert.Contains(t, p.output(), `"llm_rpm":60`, "the effective limit is logged")
	}
	t.Logf("%d chat.message jobs over 2 chat-workers, HOPPER_LLM_RPM=%d: submitted in %s, provider answered all in %s, all succeeded after %s; "+
		"provider 429s: %d; busiest minute at the provider: %d requests",
		jobsN, rpm, submitted.Round(time.Millisecond), served.Round(time.Millisecond), elapsed.Round(time.Millisecond), refused, busiest)
}
