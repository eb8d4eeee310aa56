package e2e

import (
	"encoding/json"
	"hash/fnv"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"unicode"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hopperq/hopper/pkg/testkit"
)

// fakeEmbeddings is an OpenAI-compatible embeddings API (POST
// {base}/embeddings) whose vectors are a bag of words hashed into 64
// dimensions. synonyms maps a word to the word whose dimension it
// shares, so a question can match a passage without sharing a word.
type fakeEmbeddings struct {
	srv      *httptest.Server
	inputs   atomic.Int64
	synonyms map[string]string
}

func newFakeEmbeddings(t *testing.T, synonyms map[string]string) *fakeEmbeddings {
	t.Helper()
	f := &fakeEmbeddings{synonyms: synonyms}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v1/embeddings" {
			http.Error(w, `{"error":{"message":"not found"}}`, http.StatusNotFound)
			return
		}
		var req struct {
			Model          string   `json:"model"`
			Input          []string `json:"input"`
			EncodingFormat string   `json:"encoding_format"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Model == "" || len(req.Input) == 0 {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"error":{"message":"want model and input strings","type":"invalid_request_error"}}`))
			return
		}
		f.inputs.Add(int64(len(req.Input)))
		type item struct {
			Object    string    `json:"object"`
			Index     int       `json:"index"`
			Embedding []float32 `json:"embedding"`
		}
		data := make([]item, len(req.Input))
		// Answer in reverse order: the client must sort by index.
		for i, in := range req.Input {
			data[len(data)-1-i] = item{Object: "embedding", Index: i, Embedding: f.vector(in)}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"object": "list", "data": data, "model": req.Model,
			"usage": map[string]int{"prompt_tokens": 1, "total_tokens": 1},
		})
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeEmbeddings) url() string { return f.srv.URL + "/v1" }

var fakeStopWords = map[string]bool{
	"the": true, "a": true, "an": true, "is": true, "are": true, "in": true, "of": true, "at": true,
	"where": true, "should": true, "i": true, "my": true, "do": true, "what": true, "to": true,
}

func (f *fakeEmbeddings) vector(text string) []float32 {
	v := make([]float32, 64)
	for _, w := range strings.FieldsFunc(strings.ToLower(text), func(r rune) bool { return !unicode.IsLetter(r) }) {
		if fakeStopWords[w] {
			continue
		}
		if s, ok := f.synonyms[w]; ok {
			w = s
		}
		h := fnv.New32a()
		_, _ = h.Write([]byte(w))
		v[h.Sum32()%64]++
	}
	return v
}

// TestHybridRetrieval: with HOPPER_EMBEDDINGS_URL set, the real
// document-worker embeds chunks at ingest, and the real chat-worker finds
// a passage that shares no word with the question through its vector
// (retrieval "hybrid"); document.embed re-embeds the owner's chunks.
func TestHybridRetrieval(t *testing.T) {
	t.Parallel()
	fake := newFakeEmbeddings(t, map[string]string{
		"automobile": "car", "cars": "car", "leave": "park", "parked": "park",
	})
	e := newEnv(t)
	c, alice := stackWithGateway(t, e, nil)
	bob := newUserKey(t, c, e)
	for _, svc := range []string{"document-worker", "chat-worker"} {
		addr := freeAddr(t)
		p := start(t, svc, e, env{"HOPPER_METRICS_ADDR": addr, "HOPPER_EMBEDDINGS_URL": fake.url()})
		waitReady(t, "http://"+addr+"/readyz", p)
	}

	garage, garageJob := c.uploadOK(alice, "parking.txt", []byte("Cars are parked in the north garage behind the bakery."))
	_, canteenJob := c.uploadOK(alice, "canteen.txt", []byte("Soup of the day is lentil. The canteen closes at two."))
	for _, j := range []string{garageJob, canteenJob} {
		job := c.waitState(alice, j, "succeeded", testkit.Deadline)
		res := job["result"].(map[string]any)
		assert.Equal(t, res["chunks"], res["embedded"], "every chunk embedded at ingest: %v", res)
		assert.Positive(t, res["embedded"], res)
	}
	assert.Positive(t, fake.inputs.Load())

	// No word of the question occurs in the passage: full text finds
	// nothing, the vectors (automobile ~ cars, leave ~ parked) do.
	question := "Where should I leave my automobile?"
	code, out := c.do("POST", "/v1/qa/ask", alice, map[string]any{"question": question})
	require.Equal(t, 202, code, out)
	job := c.waitState(alice, out["id"].(string), "succeeded", testkit.Deadline)
	res := job["result"].(map[string]any)
	assert.Equal(t, "hybrid", res["retrieval"], res)
	cites := res["citations"].([]any)
	require.NotEmpty(t, cites, res)
	first := cites[0].(map[string]any)
	assert.Equal(t, garage, first["document_id"], res)
	assert.Equal(t, "parking.txt", first["filename"])
	assert.Contains(t, res["answer"], "north garage", res)
	assert.Contains(t, res["answer"], "[1]", res)

	// Bob's hybrid search never sees Alice's chunks.
	code, out = c.do("POST", "/v1/qa/ask", bob, map[string]any{"question": question})
	require.Equal(t, 202, code, out)
	job = c.waitState(bob, out["id"].(string), "succeeded", testkit.Deadline)
	assert.Equal(t, "hybrid", job["result"].(map[string]any)["retrieval"])
	assert.Empty(t, job["result"].(map[string]any)["citations"])

	// document.embed re-embeds all of Alice's chunks, or one document's.
	before := fake.inputs.Load()
	id := c.submit(alice, map[string]any{"kind": "document.embed", "payload": map[string]any{}})
	job = c.waitState(alice, id, "succeeded", testkit.Deadline)
	res = job["result"].(map[string]any)
	assert.Equal(t, float64(2), res["documents"], res)
	assert.Equal(t, float64(2), res["chunks"], res)
	assert.Equal(t, float64(2), res["updated"], res)
	assert.Equal(t, float64(1), job["priority"], "document.embed defaults to low priority")
	assert.Equal(t, before+2, fake.inputs.Load())
	id = c.submit(alice, map[string]any{"kind": "document.embed", "payload": map[string]any{"document_id": garage}})
	job = c.waitState(alice, id, "succeeded", testkit.Deadline)
	assert.Equal(t, float64(1), job["result"].(map[string]any)["chunks"])
	// Another user's document does not exist for bob.
	id = c.submit(bob, map[string]any{"kind": "document.embed", "payload": map[string]any{"document_id": garage}})
	job = c.waitState(bob, id, "failed", testkit.Deadline)
	assert.Equal(t, float64(1), job["attempts"])

	code, out = c.do("POST", "/v1/jobs", alice, map[string]any{"kind": "document.embed", "payload": map[string]any{"document_id": "nope"}})
	assert.Equal(t, 422, code, out)
}

// TestEmbeddingsNotConfigured: without HOPPER_EMBEDDINGS_URL ingest stays
// full-text only, qa.ask retrieves by full text, and document.embed fails
// at once naming the setting.
func TestEmbeddingsNotConfigured(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c, alice := stackWithGateway(t, e, nil)
	for _, svc := range []string{"document-worker", "chat-worker"} {
		addr := freeAddr(t)
		p := start(t, svc, e, env{"HOPPER_METRICS_ADDR": addr, "HOPPER_EMBEDDINGS_URL": ""})
		waitReady(t, "http://"+addr+"/readyz", p)
	}

	_, ingest := c.uploadOK(alice, "parking.txt", []byte("Cars are parked in the north garage."))
	job := c.waitState(alice, ingest, "succeeded", testkit.Deadline)
	assert.Equal(t, float64(0), job["result"].(map[string]any)["embedded"])

	code, out := c.do("POST", "/v1/qa/ask", alice, map[string]any{"question": "Where are cars parked?"})
	require.Equal(t, 202, code, out)
	job = c.waitState(alice, out["id"].(string), "succeeded", testkit.Deadline)
	res := job["result"].(map[string]any)
	assert.Equal(t, "fulltext", res["retrieval"], res)
	assert.NotEmpty(t, res["citations"], res)

	id := c.submit(alice, map[string]any{"kind": "document.embed", "payload": map[string]any{}})
	job = c.waitState(alice, id, "failed", testkit.Deadline)
	assert.Equal(t, float64(1), job["attempts"], "not configured is permanent: no retries")
	assert.Contains(t, job["error"], "HOPPER_EMBEDDINGS_URL")
}
