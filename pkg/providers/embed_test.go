package providers

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestEmbed(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		inputs  []string
		data    []map[string]any // the answer's data, as the server orders it
		want    [][]float32
		wantErr string
	}{
		{
			name:   "answer out of order is put back in input order",
			inputs: []string{"first", "second", "third"},
			data: []map[string]any{
				{"object": "embedding", "index": 2, "embedding": []float64{3, 0.5}},
				{"object": "embedding", "index": 0, "embedding": []float64{1, 0.25}},
				{"object": "embedding", "index": 1, "embedding": []float64{2, -1}},
			},
			want: [][]float32{{1, 0.25}, {2, -1}, {3, 0.5}},
		},
		{
			name:    "fewer vectors than inputs",
			inputs:  []string{"a", "b"},
			data:    []map[string]any{{"object": "embedding", "index": 0, "embedding": []float64{1}}},
			wantErr: "asked for 2 vectors, got 1",
		},
		{
			name:   "repeated index",
			inputs: []string{"a", "b"},
			data: []map[string]any{
				{"object": "embedding", "index": 0, "embedding": []float64{1}},
				{"object": "embedding", "index": 0, "embedding": []float64{2}},
			},
			wantErr: "bad or repeated index 0",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got struct {
				Model          string   `json:"model"`
				Input          []string `json:"input"`
				EncodingFormat string   `json:"encoding_format"`
			}
			f := newFakeAPI(t, 0, nil, func(w http.ResponseWriter, r *http.Request) {
				assert.Equal(t, "/v1/embeddings", r.URL.Path)
				assert.NoError(t, json.NewDecoder(r.Body).Decode(&got))
				writeJSON(t, w, map[string]any{"object": "list", "model": "embed-small", "data": tt.data,
					"usage": map[string]any{"prompt_tokens": 3, "total_tokens": 3}})
			})
			c, err := NewEmbeddingClient(Config{URL: f.srv.URL + "/v1", Model: "embed-small"})
			require.NoError(t, err)

			vecs, err := c.Embed(testCtx(t), tt.inputs)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				assert.False(t, IsPermanent(err))
			} else {
				require.NoError(t, err)
				assert.Equal(t, tt.want, vecs)
			}
			assert.Equal(t, "embed-small", got.Model)
			assert.Equal(t, tt.inputs, got.Input)
			assert.Equal(t, "float", got.EncodingFormat)
			assert.Len(t, f.attempts(), 1, "one request for all inputs")
		})
	}
}

func TestEmbedNothing(t *testing.T) {
	t.Parallel()
	f := newFakeAPI(t, 0, nil, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) })
	c, err := NewEmbeddingClient(Config{URL: f.srv.URL, Model: "m"})
	require.NoError(t, err)
	vecs, err := c.Embed(testCtx(t), nil)
	require.NoError(t, err)
	assert.Empty(t, vecs)
	assert.Empty(t, f.attempts())
}
