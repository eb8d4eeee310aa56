package e2e

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"io"
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

// fakeOpenAI speaks the parts of the OpenAI API that chat.image and
// chat.transcribe use: POST /v1/images/generations (b64_json) and
// POST /v1/audio/transcriptions (multipart).
type fakeOpenAI struct {
	t   *testing.T
	srv *httptest.Server
	png []byte

	mu            sync.Mutex
	imageFailures int // answer 500 this many more times
	imageCalls    int
	sttCalls      int
	sttLanguage   string // the language hint of the last transcription request
	audio         []byte // the recording the transcription endpoint expects
}

func newFakeOpenAI(t *testing.T, png []byte) *fakeOpenAI {
	f := &fakeOpenAI{t: t, png: png}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/images/generations", f.images)
	mux.HandleFunc("POST /v1/audio/transcriptions", f.transcriptions)
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeOpenAI) url() string { return f.srv.URL + "/v1" }

func (f *fakeOpenAI) failImagesOnce() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.imageFailures = 1
}

func (f *fakeOpenAI) expectAudio(b []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.audio = b
}

func (f *fakeOpenAI) lastLanguageHint() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.sttLanguage
}

func (f *fakeOpenAI) calls() (images, stt int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.imageCalls, f.sttCalls
}

func (f *fakeOpenAI) images(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.imageCalls++
	fail := f.imageFailures > 0
	if fail {
		f.imageFailures--
	}
	f.mu.Unlock()
	assert.Equal(f.t, "Bearer images-key", r.Header.Get("Authorization"))
	var req struct {
		Prompt         string `json:"prompt"`
		Model          string `json:"model"`
		N              int    `json:"n"`
		Size           string `json:"size"`
		ResponseFormat string `json:"response_format"`
	}
	if !assert.NoError(f.t, json.NewDecoder(r.Body).Decode(&req)) {
		http.Error(w, "bad json", http.StatusBadRequest)
		return
	}
	assert.Equal(f.t, "fake-image-1", req.Model)
	assert.Equal(f.t, "a lighthouse at dusk", req.Prompt)
	assert.Equal(f.t, "256x256", req.Size)
	assert.Equal(f.t, 1, req.N)
	assert.Equal(f.t, "b64_json", req.ResponseFormat)
	w.Header().Set("Content-Type", "application/json")
	if fail {
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = io.WriteString(w, `{"error":{"message":"the model is overloaded","type":"server_error"}}`)
		return
	}
	_ = json.NewEncoder(w).Encode(map[string]any{
		"created": 1700000000,
		"data":    []any{map[string]any{"b64_json": base64.StdEncoding.EncodeToString(f.png), "revised_prompt": "a lighthouse at dusk, oil painting"}},
	})
}

// transcriptions answers as OpenAI's audio API does for each
// response_format, and with nothing more: json → {"text"}; verbose_json →
// {"task", "language", "duration", "text", "segments"}, the duration read
// from the WAV header and the language OpenAI's name of the hint, or the
// one it "detects" (english) without one.
func (f *fakeOpenAI) transcriptions(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.sttCalls++
	want := f.audio
	f.mu.Unlock()
	if !assert.NoError(f.t, r.ParseMultipartForm(8<<20)) {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	assert.Equal(f.t, "whisper-1", r.FormValue("model"))
	f.mu.Lock()
	f.sttLanguage = r.FormValue("language")
	f.mu.Unlock()
	file, hdr, err := r.FormFile("file")
	if !assert.NoError(f.t, err) {
		http.Error(w, "no file", http.StatusBadRequest)
		return
	}
	defer file.Close()
	got, _ := io.ReadAll(file)
	assert.Equal(f.t, "input.wav", hdr.Filename)
	assert.Equal(f.t, want, got, "the recording reaches the provider unchanged")
	const text = "Remind me to water the ferns."
	w.Header().Set("Content-Type", "application/json")
	switch format := r.FormValue("response_format"); format {
	case "", "json":
		_ = json.NewEncoder(w).Encode(map[string]any{"text": text})
	case "verbose_json":
		language := map[string]string{"": "english", "en": "english", "fr": "french"}[r.FormValue("language")]
		duration := wavSeconds(f.t, got)
		_ = json.NewEncoder(w).Encode(map[string]any{
			"task": "transcribe", "language": language, "duration": duration, "text": text,
			"segments": []any{map[string]any{
				"id": 0, "seek": 0, "start": 0.0, "end": duration, "text": " " + text,
				"tokens": []int{50364, 50414}, "temperature": 0.0, "avg_logprob": -0.25,
				"compression_ratio": 1.1, "no_speech_prob": 0.01,
			}},
		})
	default:
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, `{"error":{"message":"unsupported response_format `+format+`","type":"invalid_request_error","param":"response_format"}}`)
	}
}

// wavSeconds is the length of the PCM WAV silentWAV makes: data bytes over
// byte rate.
func wavSeconds(t *testing.T, wav []byte) float64 {
	if !assert.GreaterOrEqual(t, len(wav), 44, "a WAV header") {
		return 0
	}
	byteRate := binary.LittleEndian.Uint32(wav[28:32])
	data := binary.LittleEndian.Uint32(wav[40:44])
	return float64(data) / float64(byteRate)
}

// silentWAV is a valid PCM WAV file (16 kHz, 16-bit, mono) of n samples
// of silence.
func silentWAV(n int) []byte {
	var b bytes.Buffer
	le := binary.LittleEndian
	b.WriteString("RIFF")
	_ = binary.Write(&b, le, uint32(36+2*n))
	b.WriteString("WAVEfmt ")
	_ = binary.Write(&b, le, uint32(16))    // fmt chunk size
	_ = binary.Write(&b, le, uint16(1))     // PCM
	_ = binary.Write(&b, le, uint16(1))     // mono
	_ = binary.Write(&b, le, uint32(16000)) // sample rate
	_ = binary.Write(&b, le, uint32(32000)) // byte rate
	_ = binary.Write(&b, le, uint16(2))     // block align
	_ = binary.Write(&b, le, uint16(16))    // bits per sample
	b.WriteString("data")
	_ = binary.Write(&b, le, uint32(2*n))
	b.Write(make([]byte, 2*n))
	return b.Bytes()
}

// uploadAudio posts data to /v1/chat/transcribe as the multipart field
// "file", with extra form fields.
func (c *client) uploadAudio(key, filename string, data []byte, fields map[string]string) (int, map[string]any) {
	c.t.Helper()
	return c.postFile("/v1/chat/transcribe", key, filename, data, fields)
}

// get fetches path raw, for artifacts.
func (c *client) get(path, key string) (*http.Response, []byte) {
	c.t.Helper()
	req, err := http.NewRequest(http.MethodGet, c.base+path, nil)
	require.NoError(c.t, err)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := c.http.Do(req)
	require.NoError(c.t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(c.t, err)
	return resp, raw
}

// TestChatMediaImageAndTranscribe: the real chat-worker generates an
// image through a fake OpenAI-compatible server (which fails once: the
// provider client retries within the attempt) and serves it as the job's
// artifact to its owner only; an uploaded WAV is stored with its job,
// never sent through AMQP, and transcribed; wrong types and sizes are
// refused at the gateway.
func TestChatMediaImageAndTranscribe(t *testing.T) {
	t.Parallel()
	png := extracttest.PNG(t)
	fake := newFakeOpenAI(t, png)
	e := newEnv(t)
	c, alice := stackWithGateway(t, e, env{"HOPPER_MAX_AUDIO_BYTES": "65536"})
	bob := newUserKey(t, c, e)
	addr := freeAddr(t)
	w := start(t, "chat-worker", e, env{
		"HOPPER_METRICS_ADDR":   addr,
		"HOPPER_IMAGES_URL":     fake.url(),
		"HOPPER_IMAGES_API_KEY": "images-key",
		"HOPPER_IMAGES_MODEL":   "fake-image-1",
		"HOPPER_STT_URL":        fake.url(),
	})
	waitReady(t, "http://"+addr+"/readyz", w)

	// chat.image: the first provider answer is a 500, retried in the call.
	fake.failImagesOnce()
	id := c.submit(alice, map[string]any{"kind": "chat.image", "payload": map[string]any{"prompt": "a lighthouse at dusk", "size": "256x256"}})
	job := c.waitState(alice, id, "succeeded", testkit.Deadline)
	assert.Equal(t, float64(1), job["attempts"], "the provider client retried the 500 within the attempt")
	assert.Equal(t, float64(5), job["priority"], "chat.image defaults to high")
	images, _ := fake.calls()
	assert.Equal(t, 2, images)
	res := job["result"].(map[string]any)
	url := "/v1/jobs/" + id + "/artifacts/image.png"
	assert.Equal(t, "image.png", res["artifact"], res)
	assert.Equal(t, url, res["url"])
	assert.Equal(t, "image/png", res["content_type"])
	assert.Equal(t, float64(len(png)), res["bytes"])
	assert.Equal(t, "fake-image-1", res["model"])
	require.Len(t, job["artifacts"], 1, job)
	art := job["artifacts"].([]any)[0].(map[string]any)
	assert.Equal(t, map[string]any{"name": "image.png", "content_type": "image/png", "size_bytes": float64(len(png)), "url": url}, art)

	resp, body := c.get(url, alice)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	assert.Equal(t, png, body)
	assert.Equal(t, "image/png", resp.Header.Get("Content-Type"))
	assert.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"))
	assert.Equal(t, `inline; filename=image.png`, resp.Header.Get("Content-Disposition"))
	assert.Equal(t, int64(len(png)), resp.ContentLength)

	// Bob sees neither the job nor its image; a missing name is a 404 too.
	resp, body = c.get(url, bob)
	assert.Equal(t, http.StatusNotFound, resp.StatusCode, string(body))
	assert.NotContains(t, string(body), "PNG")
	code, _ := c.do("GET", "/v1/jobs/"+id, bob, nil)
	assert.Equal(t, http.StatusNotFound, code)
	resp, _ = c.get("/v1/jobs/"+id+"/artifacts/nope.png", alice)
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)

	// Bad payloads are refused at submit.
	code, out := c.do("POST", "/v1/jobs", alice, map[string]any{"kind": "chat.image", "payload": map[string]any{"prompt": "x", "size": "huge"}})
	assert.Equal(t, http.StatusUnprocessableEntity, code, out)
	code, out = c.do("POST", "/v1/jobs", alice, map[string]any{"kind": "chat.image", "payload": map[string]any{"prompt": strings.Repeat("x", 4001)}})
	assert.Equal(t, http.StatusUnprocessableEntity, code, out)

	// chat.transcribe: upload a WAV; the worker reads it from Postgres.
	wav := silentWAV(4000)
	fake.expectAudio(wav)
	code, out = c.uploadAudio(alice, "memo.wav", wav, map[string]string{"language": "en"})
	require.Equal(t, http.StatusAccepted, code, out)
	tid := out["id"].(string)
	job = c.waitState(alice, tid, "succeeded", testkit.Deadline)
	res = job["result"].(map[string]any)
	// language and duration_seconds are the provider's verbose answer
	// (OpenAI's name of the language, the recording's length), not the
	// hint: the fake answers plain json with the text alone.
	assert.Equal(t, "Remind me to water the ferns.", res["text"], res)
	assert.Equal(t, "english", res["language"])
	assert.Equal(t, 0.25, res["duration_seconds"])
	assert.Equal(t, "whisper-1", res["model"])
	assert.Equal(t, "en", fake.lastLanguageHint())
	assert.Equal(t, float64(5), job["priority"], "chat.transcribe defaults to high")
	assert.Equal(t, "input.wav", job["payload"].(map[string]any)["artifact"])
	_, stt := fake.calls()
	assert.Equal(t, 1, stt)
	resp, body = c.get("/v1/jobs/"+tid+"/artifacts/input.wav", alice)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "audio/wav", resp.Header.Get("Content-Type"))
	assert.Equal(t, wav, body)

	// No hint: the language is the one the provider detected, and the
	// duration this recording's.
	wav2 := silentWAV(8000)
	fake.expectAudio(wav2)
	code, out = c.uploadAudio(alice, "memo.wav", wav2, nil)
	require.Equal(t, http.StatusAccepted, code, out)
	job = c.waitState(alice, out["id"].(string), "succeeded", testkit.Deadline)
	res = job["result"].(map[string]any)
	assert.Equal(t, "english", res["language"], res)
	assert.Equal(t, 0.5, res["duration_seconds"])
	assert.Empty(t, fake.lastLanguageHint())

	// Refused uploads: not audio (415), too large (413, both below and
	// above the body limit), bad language hint (422), no file (400).
	code, out = c.uploadAudio(alice, "photo.mp3", png, nil)
	assert.Equal(t, http.StatusUnsupportedMediaType, code, out)
	assert.Contains(t, out["error"].(map[string]any)["message"], "image/png")
	code, out = c.uploadAudio(alice, "long.wav", silentWAV(40000), nil)
	assert.Equal(t, http.StatusRequestEntityTooLarge, code, out)
	assert.Contains(t, out["error"].(map[string]any)["message"], "HOPPER_MAX_AUDIO_BYTES")
	code, out = c.uploadAudio(alice, "longer.wav", silentWAV(200000), nil)
	assert.Equal(t, http.StatusRequestEntityTooLarge, code, out)
	code, out = c.uploadAudio(alice, "memo.wav", wav, map[string]string{"language": "English"})
	assert.Equal(t, http.StatusUnprocessableEntity, code, out)
	code, out = c.do("POST", "/v1/chat/transcribe", alice, map[string]any{"file": "no"})
	assert.Equal(t, http.StatusBadRequest, code, out)
	_, stt = fake.calls()
	assert.Equal(t, 2, stt, "refused uploads never reach the provider")
}

// TestChatMediaNotConfigured: a chat-worker without HOPPER_IMAGES_URL or
// HOPPER_STT_URL fails those jobs at once, permanently, naming the
// setting — never a fake result.
func TestChatMediaNotConfigured(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c, alice := stackWithGateway(t, e, nil)
	addr := freeAddr(t)
	w := start(t, "chat-worker", e, env{"HOPPER_METRICS_ADDR": addr, "HOPPER_IMAGES_URL": "", "HOPPER_STT_URL": ""})
	waitReady(t, "http://"+addr+"/readyz", w)

	id := c.submit(alice, map[string]any{"kind": "chat.image", "payload": map[string]any{"prompt": "a lighthouse at dusk"}})
	job := c.waitState(alice, id, "failed", testkit.Deadline)
	assert.Equal(t, float64(1), job["attempts"], "permanent: no retries")
	assert.Contains(t, job["error"], "HOPPER_IMAGES_URL")
	assert.Nil(t, job["result"])
	assert.Empty(t, job["artifacts"])

	code, out := c.uploadAudio(alice, "memo.wav", silentWAV(100), nil)
	require.Equal(t, http.StatusAccepted, code, out)
	job = c.waitState(alice, out["id"].(string), "failed", testkit.Deadline)
	assert.Equal(t, float64(1), job["attempts"])
	assert.Contains(t, job["error"], "HOPPER_STT_URL")
}
