package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hopperq/hopper/pkg/extract/extracttest"
	"github.com/hopperq/hopper/pkg/testkit"
)

// fakeLLM speaks OpenAI's streaming chat completions API. The first
// request is refused with a 429 (the client must retry). Each answer
// streams its first half, waits for the test to release it, then ends:
// so the test can see the partial answer on the job while it runs.
type fakeLLM struct {
	t       *testing.T
	answer  string
	release chan struct{}

	mu       sync.Mutex
	requests int
	systems  []string
}

func (f *fakeLLM) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/v1/chat/completions" {
		http.NotFound(w, r)
		return
	}
	var req struct {
		Model    string `json:"model"`
		Stream   bool   `json:"stream"`
		Messages []struct {
			Role    string `json:"role"`
			Content string `json:"content"`
		} `json:"messages"`
	}
	require.NoError(f.t, json.NewDecoder(r.Body).Decode(&req))
	f.mu.Lock()
	f.requests++
	first := f.requests == 1
	for _, m := range req.Messages {
		if m.Role == "system" {
			f.systems = append(f.systems, m.Content)
		}
	}
	f.mu.Unlock()
	if first {
		w.Header().Set("Retry-After", "0")
		http.Error(w, `{"error":{"message":"rate limited","type":"rate_limit"}}`, http.StatusTooManyRequests)
		return
	}
	assert.Equal(f.t, "fake-chat", req.Model)
	assert.True(f.t, req.Stream)

	w.Header().Set("Content-Type", "text/event-stream")
	fl := w.(http.Flusher)
	send := func(content, finish string) {
		fr := "null"
		if finish != "" {
			fr = fmt.Sprintf("%q", finish)
		}
		fmt.Fprintf(w, "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"fake-chat\","+
			"\"choices\":[{\"index\":0,\"delta\":{\"content\":%q},\"finish_reason\":%s}]}\n\n", content, fr)
		fl.Flush()
	}
	words := strings.SplitAfter(f.answer, " ")
	half := len(words) / 2
	for _, wd := range words[:half] {
		send(wd, "")
	}
	select {
	case <-f.release:
	case <-r.Context().Done():
		return
	}
	for _, wd := range words[half:] {
		send(wd, "")
	}
	send("", "stop")
	fmt.Fprint(w, "data: [DONE]\n\n")
	fl.Flush()
}

// fakeSearxNG speaks SearxNG's JSON search API.
func fakeSearxNG(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/search" || r.URL.Query().Get("format") != "json" {
			http.NotFound(w, r)
			return
		}
		q := r.URL.Query().Get("q")
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"query": q, "results": []map[string]any{
			{"title": "Result one for " + q, "url": "https://example.com/1", "content": "first snippet", "engine": "fake"},
			{"title": "Result two", "url": "https://example.com/2", "content": "second snippet", "engine": "fake"},
			{"title": "Result three", "url": "https://example.com/3", "content": "third snippet", "engine": "fake"},
		}})
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestChatWithProviders: chat.message streams an LLM answer grounded on
// the user's documents (the partial answer is readable while it runs, a
// 429 is retried), and chat.search returns SearxNG's results.
func TestChatWithProviders(t *testing.T) {
	t.Parallel()
	llm := &fakeLLM{t: t, answer: "The loading dock door is painted turquoise [1], so drivers find it.", release: make(chan struct{})}
	llmSrv := httptest.NewServer(llm)
	t.Cleanup(llmSrv.Close)
	searx := fakeSearxNG(t)

	e := newEnv(t)
	c, key := stackWithGateway(t, e, nil)
	for svc, extra := range map[string]env{
		"document-worker": {},
		"chat-worker":     {"HOPPER_LLM_URL": llmSrv.URL + "/v1", "HOPPER_LLM_API_KEY": "sk-fake", "HOPPER_LLM_MODEL": "fake-chat", "HOPPER_SEARXNG_URL": searx.URL},
	} {
		addr := freeAddr(t)
		extra["HOPPER_METRICS_ADDR"] = addr
		p := start(t, svc, e, extra)
		waitReady(t, "http://"+addr+"/readyz", p)
	}
	docID, ingest := c.uploadOK(key, "operations.docx", extracttest.DOCX(t,
		"The loading dock door is painted turquoise so drivers can find it from the road."))
	c.waitState(key, ingest, "succeeded", testkit.Deadline)

	id := c.submit(key, map[string]any{"kind": "chat.message", "payload": map[string]any{"message": "What colour is the loading dock door?"}})
	var job map[string]any
	var code int
	testkit.WaitFor(t, testkit.Deadline, func() bool {
		code, job = c.do("GET", "/v1/jobs/"+id, key, nil)
		msg, _ := job["status_message"].(string)
		return code == 200 && job["state"] == "running" && strings.Contains(msg, "loading dock door")
	}, "the partial answer on the running job")
	assert.NotContains(t, job["status_message"], "drivers find it", "only the first half has streamed")
	testkit.WaitFor(t, testkit.Deadline, func() bool {
		_, out := c.do("GET", "/v1/jobs/"+id+"/output?format=text", key, nil)
		text, _ := out["text"].(string)
		return strings.Contains(text, "loading dock door") && out["state"] == "running"
	}, "the tokens streamed so far in the job's output")
	close(llm.release)

	job = c.waitState(key, id, "succeeded", testkit.Deadline)
	res := job["result"].(map[string]any)
	assert.Equal(t, llm.answer, res["answer"])
	code, out := c.do("GET", "/v1/jobs/"+id+"/output?format=text", key, nil)
	require.Equal(t, 200, code, out)
	assert.Equal(t, llm.answer, out["text"], "every token, in order, in the output")
	assert.Equal(t, "llm", res["mode"])
	assert.Equal(t, "fake-chat", res["model"])
	cites := res["citations"].([]any)
	require.NotEmpty(t, cites)
	assert.Equal(t, docID, cites[0].(map[string]any)["document_id"])
	llm.mu.Lock()
	assert.Equal(t, 2, llm.requests, "one 429, one answer")
	require.NotEmpty(t, llm.systems)
	assert.Contains(t, llm.systems[len(llm.systems)-1], "painted turquoise", "the prompt carries the user's passage")
	llm.mu.Unlock()

	id = c.submit(key, map[string]any{"kind": "chat.search", "payload": map[string]any{"query": "hopper job queue", "limit": 2}})
	job = c.waitState(key, id, "succeeded", testkit.Deadline)
	results := job["result"].(map[string]any)["results"].([]any)
	require.Len(t, results, 2)
	first := results[0].(map[string]any)
	assert.Equal(t, "Result one for hopper job queue", first["title"])
	assert.Equal(t, "https://example.com/1", first["url"])
	assert.Equal(t, "first snippet", first["snippet"])
}

// TestChatWithoutProviders: with no LLM configured chat.message answers
// extractively and says so; chat.search fails at once naming its setting.
func TestChatWithoutProviders(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c, key := stackWithGateway(t, e, nil)
	for _, svc := range []string{"document-worker", "chat-worker"} {
		addr := freeAddr(t)
		p := start(t, svc, e, env{"HOPPER_METRICS_ADDR": addr})
		waitReady(t, "http://"+addr+"/readyz", p)
	}
	_, ingest := c.uploadOK(key, "notes.txt", []byte("Supplies arrive by boat every second Tuesday."))
	c.waitState(key, ingest, "succeeded", testkit.Deadline)

	id := c.submit(key, map[string]any{"kind": "chat.message", "payload": map[string]any{"message": "When do supplies arrive?"}})
	job := c.waitState(key, id, "succeeded", testkit.Deadline)
	res := job["result"].(map[string]any)
	assert.Equal(t, "extractive", res["mode"])
	assert.Contains(t, res["note"], "HOPPER_LLM_URL")
	assert.Contains(t, res["answer"], "every second Tuesday")

	id = c.submit(key, map[string]any{"kind": "chat.search", "payload": map[string]any{"query": "anything"}})
	job = c.waitState(key, id, "failed", testkit.Deadline)
	assert.Equal(t, float64(1), job["attempts"], "not configured: no retries")
	assert.Contains(t, job["error"], "HOPPER_SEARXNG_URL")

	code, out := c.do("POST", "/v1/jobs", key, map[string]any{"kind": "chat.message", "payload": map[string]any{"message": ""}})
	assert.Equal(t, 422, code, out)
}
