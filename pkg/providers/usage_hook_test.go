package providers

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestOnUsage: the chat and embeddings clients report the server's usage
// to OnUsage after a successful call (a rate limiter charges it), and
// nothing when the server reports none.
func TestOnUsage(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/chat/completions":
			s := newSSE(t, w)
			s.data(chunk("Hi", ""))
			s.data(chunk("", "stop"))
			s.data(usageChunk(7, 2))
			s.data("[DONE]")
		case "/v1/embeddings":
			writeJSON(t, w, map[string]any{"object": "list", "model": "m",
				"data":  []map[string]any{{"object": "embedding", "index": 0, "embedding": []float64{1}}},
				"usage": map[string]any{"prompt_tokens": 5, "total_tokens": 5}})
		case "/nousage/embeddings":
			writeJSON(t, w, map[string]any{"object": "list", "model": "m",
				"data": []map[string]any{{"object": "embedding", "index": 0, "embedding": []float64{1}}}})
		}
	}))
	t.Cleanup(srv.Close)
	var got []Usage
	record := func(_ context.Context, u Usage) { got = append(got, u) }

	chat, err := NewChatClient(Config{URL: srv.URL + "/v1", Model: "m", OnUsage: record})
	require.NoError(t, err)
	_, err = chat.Chat(testCtx(t), []Message{{Role: RoleUser, Content: "hi"}}, nil)
	require.NoError(t, err)
	emb, err := NewEmbeddingClient(Config{URL: srv.URL + "/v1", Model: "m", OnUsage: record})
	require.NoError(t, err)
	_, err = emb.Embed(testCtx(t), []string{"a"})
	require.NoError(t, err)
	quiet, err := NewEmbeddingClient(Config{URL: srv.URL + "/nousage", Model: "m", OnUsage: record})
	require.NoError(t, err)
	_, err = quiet.Embed(testCtx(t), []string{"a"})
	require.NoError(t, err)
	assert.Equal(t, []Usage{{PromptTokens: 7, CompletionTokens: 2}, {PromptTokens: 5}}, got)
}
