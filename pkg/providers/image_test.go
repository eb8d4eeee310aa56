package providers

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestImage(t *testing.T) {
	t.Parallel()
	gif := []byte("GIF89a\x01\x00\x01\x00\x00\x00\x00;")
	tests := []struct {
		name               string
		model              string
		size               string
		answer             func(t *testing.T, w http.ResponseWriter, base string)
		download           http.HandlerFunc // serves /files/img
		wantResponseFormat any              // nil: not sent
		wantImage          Image
		wantErr            string
	}{
		{
			name:  "b64_json answer",
			model: "dall-e-3",
			size:  "1024x1024",
			answer: func(t *testing.T, w http.ResponseWriter, _ string) {
				writeJSON(t, w, map[string]any{"created": 1, "data": []map[string]any{
					{"b64_json": b64(pngBytes()), "revised_prompt": "a red lighthouse at dusk"}}})
			},
			wantResponseFormat: "b64_json",
			wantImage:          Image{Data: pngBytes(), ContentType: "image/png", RevisedPrompt: "a red lighthouse at dusk"},
		},
		{
			name:  "gpt-image model: no response_format, output_format names the type",
			model: "gpt-image-1",
			answer: func(t *testing.T, w http.ResponseWriter, _ string) {
				writeJSON(t, w, map[string]any{"created": 1, "output_format": "webp",
					"data": []map[string]any{{"b64_json": b64([]byte("RIFF\x00\x00\x00\x00WEBPVP8 "))}}})
			},
			wantImage: Image{Data: []byte("RIFF\x00\x00\x00\x00WEBPVP8 "), ContentType: "image/webp"},
		},
		{
			name:  "url answer is downloaded",
			model: "sd-xl",
			answer: func(t *testing.T, w http.ResponseWriter, base string) {
				writeJSON(t, w, map[string]any{"created": 1, "data": []map[string]any{{"url": base + "/files/img"}}})
			},
			download: func(w http.ResponseWriter, r *http.Request) {
				assert.Empty(t, r.Header.Get("Authorization"), "the API key stays with the API")
				w.Header().Set("Content-Type", "image/gif")
				_, _ = w.Write(gif)
			},
			wantResponseFormat: "b64_json",
			wantImage:          Image{Data: gif, ContentType: "image/gif"},
		},
		{
			name:  "url answer without a content type is sniffed",
			model: "sd-xl",
			answer: func(t *testing.T, w http.ResponseWriter, base string) {
				writeJSON(t, w, map[string]any{"created": 1, "data": []map[string]any{{"url": base + "/files/img"}}})
			},
			download: func(w http.ResponseWriter, _ *http.Request) {
				w.Header()["Content-Type"] = nil
				_, _ = w.Write(pngBytes())
			},
			wantResponseFormat: "b64_json",
			wantImage:          Image{Data: pngBytes(), ContentType: "image/png"},
		},
		{
			name:  "dead image link is an error, not permanent",
			model: "sd-xl",
			answer: func(t *testing.T, w http.ResponseWriter, base string) {
				writeJSON(t, w, map[string]any{"created": 1, "data": []map[string]any{{"url": base + "/files/img"}}})
			},
			download: func(w http.ResponseWriter, _ *http.Request) {
				http.NotFound(w, nil)
			},
			wantResponseFormat: "b64_json",
			wantErr:            "image download: status 404",
		},
		{
			name:  "no image in the answer",
			model: "sd-xl",
			answer: func(t *testing.T, w http.ResponseWriter, _ string) {
				writeJSON(t, w, map[string]any{"created": 1, "data": []map[string]any{}})
			},
			wantResponseFormat: "b64_json",
			wantErr:            "no image",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got map[string]any
			var f *fakeAPI
			mux := http.NewServeMux()
			mux.HandleFunc("POST /v1/images/generations", func(w http.ResponseWriter, r *http.Request) {
				assert.Equal(t, "Bearer img-key", r.Header.Get("Authorization"))
				assert.NoError(t, json.NewDecoder(r.Body).Decode(&got))
				tt.answer(t, w, f.srv.URL)
			})
			if tt.download != nil {
				mux.HandleFunc("GET /files/img", tt.download)
			}
			f = newFakeAPI(t, 0, nil, mux.ServeHTTP)
			c, err := NewImageClient(Config{URL: f.srv.URL + "/v1", APIKey: "img-key", Model: tt.model, MaxRetryDelay: 10 * time.Millisecond})
			require.NoError(t, err)

			img, err := c.Image(testCtx(t), "a lighthouse", tt.size)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				assert.False(t, IsPermanent(err))
			} else {
				require.NoError(t, err)
				assert.Equal(t, tt.wantImage, img)
			}
			assert.Equal(t, "a lighthouse", got["prompt"])
			assert.Equal(t, tt.model, got["model"])
			assert.Equal(t, tt.wantResponseFormat, got["response_format"])
			if tt.size != "" {
				assert.Equal(t, tt.size, got["size"])
			} else {
				assert.NotContains(t, got, "size")
			}
		})
	}
}

func TestImageEmptyPrompt(t *testing.T) {
	t.Parallel()
	c, err := NewImageClient(Config{URL: "http://127.0.0.1:1", Model: "m"})
	require.NoError(t, err)
	_, err = c.Image(testCtx(t), "  ", "")
	require.ErrorIs(t, err, ErrInvalidInput)
	assert.True(t, IsPermanent(err))
}
