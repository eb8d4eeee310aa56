package providers

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// fakeAPI is a local provider: it counts the attempts at its API path,
// records when each arrived, fails the first `failures` of them with fail
// (every one when failures < 0) and answers the rest with ok.
type fakeAPI struct {
	srv      *httptest.Server
	failures int
	fail     http.HandlerFunc
	ok       http.HandlerFunc

	done chan struct{} // closed when the test ends

	mu       sync.Mutex
	arrivals []time.Time
}

func newFakeAPI(t *testing.T, failures int, fail, ok http.HandlerFunc) *fakeAPI {
	t.Helper()
	f := &fakeAPI{failures: failures, fail: fail, ok: ok, done: make(chan struct{})}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	t.Cleanup(func() { close(f.done) }) // runs first: frees blocked handlers
	return f
}

func (f *fakeAPI) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.arrivals = append(f.arrivals, time.Now())
	n := len(f.arrivals)
	f.mu.Unlock()
	if f.fail != nil && (f.failures < 0 || n <= f.failures) {
		f.fail(w, r.WithContext(f.stopWithTest(r.Context())))
		return
	}
	f.ok(w, r)
}

// stopWithTest is ctx, also ended when the test ends, so a handler that
// waits on its request context cannot outlive a failing test.
func (f *fakeAPI) stopWithTest(ctx context.Context) context.Context {
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		defer cancel()
		select {
		case <-ctx.Done():
		case <-f.done:
		}
	}()
	return ctx
}

func (f *fakeAPI) attempts() []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Time(nil), f.arrivals...)
}

// openAIError answers status with the OpenAI error body.
func openAIError(status int, msg string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = fmt.Fprintf(w, `{"error":{"message":%q,"type":"invalid_request_error","param":null,"code":null}}`, msg)
	}
}

// withHeader sets a header before h answers.
func withHeader(key, value string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(key, value)
		h(w, r)
	}
}

// blockUntilClientGivesUp answers nothing until the client's request
// context ends (its timeout), so the client must time out. It reads the
// request body first: net/http notices a client hanging up only once the
// body is consumed.
func blockUntilClientGivesUp(_ http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	<-r.Context().Done()
}

// writeJSON answers v as JSON.
func writeJSON(t *testing.T, w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	if err := json.NewEncoder(w).Encode(v); err != nil {
		t.Errorf("encode answer: %v", err)
	}
}

// sse writes Server-Sent Events the way OpenAI streams chat completions:
// one `data: <json>` per event, a blank line after each, flushed at once.
type sse struct {
	w http.ResponseWriter
	f http.Flusher
}

func newSSE(t *testing.T, w http.ResponseWriter) *sse {
	f, ok := w.(http.Flusher)
	require.True(t, ok, "the test server cannot flush")
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	return &sse{w: w, f: f}
}

func (s *sse) data(payload string) {
	_, _ = fmt.Fprintf(s.w, "data: %s\n\n", payload)
	s.f.Flush()
}

// chunk is one chat.completion.chunk with a content delta (and a
// finish_reason when finish is not empty); "usage" is null until the last
// chunk, as OpenAI sends it when include_usage is on.
func chunk(content, finish string) string {
	fr := "null"
	if finish != "" {
		fr = fmt.Sprintf("%q", finish)
	}
	return fmt.Sprintf(`{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"fake-model-1",`+
		`"choices":[{"index":0,"delta":{"content":%q},"finish_reason":%s}],"usage":null}`, content, fr)
}

// usageChunk is the final chunk stream_options.include_usage asks for.
func usageChunk(prompt, completion int) string {
	return fmt.Sprintf(`{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"fake-model-1",`+
		`"choices":[],"usage":{"prompt_tokens":%d,"completion_tokens":%d,"total_tokens":%d}}`, prompt, completion, prompt+completion)
}

// pngBytes is the start of a PNG file: enough for content sniffing.
func pngBytes() []byte {
	return []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00")
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// testCtx is a context that ends with the test, bounded so that a bug
// cannot hang the package.
func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// spoken is what fakeTranscriptions hears in a recording.
type spoken struct {
	text     string
	language string  // the language the model detects, as OpenAI names it ("english")
	duration float64 // seconds
}

// fakeTranscriptions answers POST /audio/transcriptions the way OpenAI's
// audio API does for each response_format, and with nothing more: json →
// {"text"}; verbose_json → {"task", "language", "duration", "text",
// "segments"}; text → the bare text; anything else a 400. Models named
// gpt-4o-* refuse verbose_json as OpenAI's do (400, param
// "response_format"). A language hint in the request is the language
// reported; else s.language (what the model detected).
func fakeTranscriptions(t *testing.T, s spoken) http.HandlerFunc {
	names := map[string]string{"en": "english", "es": "spanish", "fr": "french", "de": "german"}
	return func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseMultipartForm(32 << 20); err != nil {
			openAIError(http.StatusBadRequest, "could not parse multipart form")(w, r)
			return
		}
		language := s.language
		if hint := r.FormValue("language"); hint != "" {
			language = hint
			if name, ok := names[hint]; ok {
				language = name
			}
		}
		format := r.FormValue("response_format")
		switch {
		case format == "verbose_json" && strings.HasPrefix(r.FormValue("model"), "gpt-4o"):
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			_, _ = fmt.Fprintf(w, `{"error":{"message":"response_format 'verbose_json' is not compatible with model '%s'. Use 'json' or 'text' instead.","type":"invalid_request_error","param":"response_format","code":"unsupported_value"}}`, r.FormValue("model"))
		case format == "" || format == "json":
			writeJSON(t, w, map[string]any{"text": s.text})
		case format == "verbose_json":
			writeJSON(t, w, map[string]any{
				"task": "transcribe", "language": language, "duration": s.duration, "text": s.text,
				"segments": []map[string]any{{
					"id": 0, "seek": 0, "start": 0.0, "end": s.duration, "text": " " + s.text,
					"tokens": []int{50364, 50414}, "temperature": 0.0, "avg_logprob": -0.25,
					"compression_ratio": 1.1, "no_speech_prob": 0.01,
				}},
			})
		case format == "text":
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			_, _ = io.WriteString(w, s.text+"\n")
		default:
			openAIError(http.StatusBadRequest, fmt.Sprintf("%q is not one of ['json', 'text', 'srt', 'verbose_json', 'vtt'] - 'response_format'", format))(w, r)
		}
	}
}
