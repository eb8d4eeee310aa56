package providers

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestTranscribeLanguage: a language hint is sent as the "language" field;
// none sends no field. The transcript's language is the one the provider
// reports (OpenAI names it: "french"), never the hint echoed back: with
// no hint it is the language the model detected.
func TestTranscribeLanguage(t *testing.T) {
	t.Parallel()
	for hint, want := range map[string]string{"fr": "french", "": "spanish"} {
		answer := fakeTranscriptions(t, spoken{text: "bonjour", language: "spanish", duration: 3})
		f := newFakeAPI(t, 0, nil, func(w http.ResponseWriter, r *http.Request) {
			if !assert.NoError(t, r.ParseMultipartForm(1<<20)) {
				return
			}
			_, sent := r.MultipartForm.Value["language"]
			assert.Equal(t, hint != "", sent)
			assert.Equal(t, hint, r.FormValue("language"))
			answer(w, r)
		})
		c, err := NewTranscriptionClient(Config{URL: f.srv.URL + "/v1", Model: "whisper-1"})
		require.NoError(t, err)
		got, err := c.TranscribeLanguage(testCtx(t), "a.wav", hint, strings.NewReader("RIFF"))
		require.NoError(t, err)
		assert.Equal(t, Transcript{Text: "bonjour", Language: want, Duration: 3}, got)
	}
}
