package providers

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestTranscribeLanguage: a language hint is sent as the "language" field;
// none sends no field.
func TestTranscribeLanguage(t *testing.T) {
	t.Parallel()
	for _, lang := range []string{"fr", ""} {
		f := newFakeAPI(t, 0, nil, func(w http.ResponseWriter, r *http.Request) {
			if !assert.NoError(t, r.ParseMultipartForm(1<<20)) {
				return
			}
			_, sent := r.MultipartForm.Value["language"]
			assert.Equal(t, lang != "", sent)
			assert.Equal(t, lang, r.FormValue("language"))
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"text":"bonjour"}`)
		})
		c, err := NewTranscriptionClient(Config{URL: f.srv.URL + "/v1", Model: "whisper-1"})
		require.NoError(t, err)
		got, err := c.TranscribeLanguage(testCtx(t), "a.wav", lang, strings.NewReader("RIFF"))
		require.NoError(t, err)
		assert.Equal(t, "bonjour", got.Text)
	}
}
