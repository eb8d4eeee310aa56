package providers

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTranscribe(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name            string
		filename        string
		wantFilename    string
		wantContentType string
		answer          string
		want            Transcript
	}{
		{
			name:            "mp3 upload, json answer",
			filename:        "voice note.mp3",
			wantFilename:    "voice note.mp3",
			wantContentType: "audio/mpeg",
			answer:          `{"text":"Remind me to call Ana at five."}`,
			want:            Transcript{Text: "Remind me to call Ana at five."},
		},
		{
			name:            "path and unknown extension, language and duration reported",
			filename:        "/tmp/uploads/clip.zzz",
			wantFilename:    "clip.zzz",
			wantContentType: "application/octet-stream",
			answer:          `{"text":"Hola","language":"spanish","duration":1.5}`,
			want:            Transcript{Text: "Hola", Language: "spanish", Duration: 1.5},
		},
		{
			name:            "no filename",
			wantFilename:    "audio",
			wantContentType: "application/octet-stream",
			answer:          `{"text":"x"}`,
			want:            Transcript{Text: "x"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			audio := "ID3\x04\x00fake-audio-bytes"
			f := newFakeAPI(t, 0, nil, func(w http.ResponseWriter, r *http.Request) {
				assert.Equal(t, "/v1/audio/transcriptions", r.URL.Path)
				assert.True(t, strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data; boundary="))
				if !assert.NoError(t, r.ParseMultipartForm(1<<20)) {
					return
				}
				assert.Equal(t, "whisper-1", r.FormValue("model"))
				assert.Equal(t, "json", r.FormValue("response_format"))
				file, hdr, err := r.FormFile("file")
				if !assert.NoError(t, err) {
					return
				}
				defer func() { _ = file.Close() }()
				assert.Equal(t, tt.wantFilename, hdr.Filename)
				assert.Equal(t, tt.wantContentType, hdr.Header.Get("Content-Type"))
				body, _ := io.ReadAll(file)
				assert.Equal(t, audio, string(body))
				w.Header().Set("Content-Type", "application/json")
				_, _ = io.WriteString(w, tt.answer)
			})
			c, err := NewTranscriptionClient(Config{URL: f.srv.URL + "/v1", Model: "whisper-1"})
			require.NoError(t, err)

			got, err := c.Transcribe(testCtx(t), tt.filename, strings.NewReader(audio))
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

// TestTranscribeRetrySendsTheAudioAgain: a retried upload carries the whole
// recording again, not an empty or half-read body.
func TestTranscribeRetrySendsTheAudioAgain(t *testing.T) {
	t.Parallel()
	var sizes []int
	f := newFakeAPI(t, 1, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		sizes = append(sizes, len(body))
		openAIError(http.StatusBadGateway, "upstream")(w, r)
	}, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		sizes = append(sizes, len(body))
		writeJSON(t, w, map[string]any{"text": "ok"})
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
