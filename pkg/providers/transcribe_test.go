package providers

import (
	"encoding/json"
	"io"
	"maps"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestTranscribe: the recording goes out as the multipart "file" with its
// name and type, the client asks for verbose_json, and the transcript's
// text, language and duration are the ones in the provider's verbose
// answer (the fake sends a plain json answer only the text, as OpenAI
// does, so a client asking for json would get no language or duration).
func TestTranscribe(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name            string
		filename        string
		wantFilename    string
		wantContentType string
		spoken          spoken
		want            Transcript
	}{
		{
			name:            "mp3 upload",
			filename:        "voice note.mp3",
			wantFilename:    "voice note.mp3",
			wantContentType: "audio/mpeg",
			spoken:          spoken{text: "Remind me to call Ana at five.", language: "english", duration: 2.34},
			want:            Transcript{Text: "Remind me to call Ana at five.", Language: "english", Duration: 2.34},
		},
		{
			name:            "path and unknown extension",
			filename:        "/tmp/uploads/clip.zzz",
			wantFilename:    "clip.zzz",
			wantContentType: "application/octet-stream",
			spoken:          spoken{text: "Hola", language: "spanish", duration: 1.5},
			want:            Transcript{Text: "Hola", Language: "spanish", Duration: 1.5},
		},
		{
			name:            "no filename",
			wantFilename:    "audio",
			wantContentType: "application/octet-stream",
			spoken:          spoken{text: "x", language: "german", duration: 0.5},
			want:            Transcript{Text: "x", Language: "german", Duration: 0.5},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			audio := "ID3\x04\x00fake-audio-bytes"
			answer := fakeTranscriptions(t, tt.spoken)
			f := newFakeAPI(t, 0, nil, func(w http.ResponseWriter, r *http.Request) {
				assert.Equal(t, "/v1/audio/transcriptions", r.URL.Path)
				assert.True(t, strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data; boundary="))
				if !assert.NoError(t, r.ParseMultipartForm(1<<20)) {
					return
				}
				assert.Equal(t, "whisper-1", r.FormValue("model"))
				assert.Equal(t, "verbose_json", r.FormValue("response_format"))
				file, hdr, err := r.FormFile("file")
				if !assert.NoError(t, err) {
					return
				}
				defer func() { _ = file.Close() }()
				assert.Equal(t, tt.wantFilename, hdr.Filename)
				assert.Equal(t, tt.wantContentType, hdr.Header.Get("Content-Type"))
				body, _ := io.ReadAll(file)
				assert.Equal(t, audio, string(body))
				answer(w, r)
			})
			c, err := NewTranscriptionClient(Config{URL: f.srv.URL + "/v1", Model: "whisper-1"})
			require.NoError(t, err)

			got, err := c.Transcribe(testCtx(t), tt.filename, strings.NewReader(audio))
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

// TestTranscribeModelWithoutVerboseJSON: a model that refuses verbose_json
// (OpenAI's gpt-4o-transcribe family) still transcribes: the client asks
// again for plain json, with the whole recording, and asks for json
// straight away from then on. Such a transcript has only the text.
func TestTranscribeModelWithoutVerboseJSON(t *testing.T) {
	t.Parallel()
	audio := strings.Repeat("a", 4<<10)
	answer := fakeTranscriptions(t, spoken{text: "hi", language: "english", duration: 1})
	var formats []string
	var sizes []int
	f := newFakeAPI(t, 0, nil, func(w http.ResponseWriter, r *http.Request) {
		if !assert.NoError(t, r.ParseMultipartForm(1<<20)) {
			return
		}
		formats = append(formats, r.FormValue("response_format"))
		file, _, err := r.FormFile("file")
		if !assert.NoError(t, err) {
			return
		}
		body, _ := io.ReadAll(file)
		_ = file.Close()
		sizes = append(sizes, len(body))
		answer(w, r)
	})
	c, err := NewTranscriptionClient(Config{URL: f.srv.URL + "/v1", Model: "gpt-4o-mini-transcribe"})
	require.NoError(t, err)

	got, err := c.Transcribe(testCtx(t), "a.mp3", strings.NewReader(audio))
	require.NoError(t, err)
	assert.Equal(t, Transcript{Text: "hi"}, got)
	got, err = c.Transcribe(testCtx(t), "b.mp3", io.LimitReader(strings.NewReader(audio), int64(len(audio)))) // not a Seeker
	require.NoError(t, err)
	assert.Equal(t, Transcript{Text: "hi"}, got)
	assert.Equal(t, []string{"verbose_json", "json", "json"}, formats)
	assert.Equal(t, []int{len(audio), len(audio), len(audio)}, sizes)
}

// TestTranscribeOtherRefusalIsNotRetried: a 400 about something else than
// the response format (a bad model) fails the call after one request, as
// a permanent error carrying the provider's message.
func TestTranscribeOtherRefusalIsNotRetried(t *testing.T) {
	t.Parallel()
	f := newFakeAPI(t, 0, nil, openAIError(http.StatusBadRequest, "model 'nope' not found"))
	c, err := NewTranscriptionClient(Config{URL: f.srv.URL + "/v1", Model: "nope"})
	require.NoError(t, err)
	_, err = c.Transcribe(testCtx(t), "a.wav", strings.NewReader("RIFF"))
	require.Error(t, err)
	assert.True(t, IsPermanent(err))
	assert.Contains(t, err.Error(), "model 'nope' not found")
	assert.Len(t, f.attempts(), 1)
}

// TestTranscribeRetrySendsTheAudioAgain: a retried upload carries the whole
// recording again, not an empty or half-read body.
func TestTranscribeRetrySendsTheAudioAgain(t *testing.T) {
	t.Parallel()
	var sizes []int
	answer := fakeTranscriptions(t, spoken{text: "ok", language: "english", duration: 1})
	f := newFakeAPI(t, 1, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		sizes = append(sizes, len(body))
		openAIError(http.StatusBadGateway, "upstream")(w, r)
	}, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		sizes = append(sizes, len(body))
		r.Body = io.NopCloser(strings.NewReader(string(body)))
		answer(w, r)
	})
	c, err := NewTranscriptionClient(Config{URL: f.srv.URL, Model: "m", MaxRetryDelay: 10 * time.Millisecond})
	require.NoError(t, err)
	got, err := c.Transcribe(testCtx(t), "a.wav", strings.NewReader(strings.Repeat("x", 64<<10)))
	require.NoError(t, err)
	assert.Equal(t, "ok", got.Text)
	require.Len(t, sizes, 2)
	assert.Equal(t, sizes[0], sizes[1])
	assert.Greater(t, sizes[0], 64<<10)
}

// TestFakeTranscriptionsAnswersAsOpenAI pins the fake the tests above use
// to the fields OpenAI's audio API sends for each response_format, so no
// test can pass on a field a real provider would not send.
func TestFakeTranscriptionsAnswersAsOpenAI(t *testing.T) {
	t.Parallel()
	answer := fakeTranscriptions(t, spoken{text: "hello", language: "english", duration: 1.25})
	keys := func(format string) []string {
		var b strings.Builder
		mw := multipart.NewWriter(&b)
		require.NoError(t, mw.WriteField("model", "whisper-1"))
		require.NoError(t, mw.WriteField("response_format", format))
		require.NoError(t, mw.Close())
		r := httptest.NewRequest(http.MethodPost, "/v1/audio/transcriptions", strings.NewReader(b.String()))
		r.Header.Set("Content-Type", mw.FormDataContentType())
		w := httptest.NewRecorder()
		answer(w, r)
		require.Equal(t, http.StatusOK, w.Code, w.Body.String())
		var body map[string]any
		require.NoError(t, json.Unmarshal(w.Body.Bytes(), &body))
		return slices.Sorted(maps.Keys(body))
	}
	assert.Equal(t, []string{"text"}, keys("json"))
	assert.Equal(t, []string{"duration", "language", "segments", "task", "text"}, keys("verbose_json"))
}
