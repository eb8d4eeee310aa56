package providers

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSearch(t *testing.T) {
	t.Parallel()
	results := []map[string]any{
		{"title": "Go", "url": "https://go.dev", "content": "The Go programming language", "engine": "duckduckgo", "score": 3.2},
		{"title": "No link", "url": "", "content": "skipped"},
		{"title": "Go docs", "url": "https://go.dev/doc", "content": "Documentation"},
		{"title": "Go blog", "url": "https://go.dev/blog", "content": "Blog"},
	}
	tests := []struct {
		name  string
		limit int
		want  []SearchResult
	}{
		{"limit truncates, empty URLs skipped", 2, []SearchResult{
			{Title: "Go", URL: "https://go.dev", Snippet: "The Go programming language"},
			{Title: "Go docs", URL: "https://go.dev/doc", Snippet: "Documentation"},
		}},
		{"no limit means the default", 0, []SearchResult{
			{Title: "Go", URL: "https://go.dev", Snippet: "The Go programming language"},
			{Title: "Go docs", URL: "https://go.dev/doc", Snippet: "Documentation"},
			{Title: "Go blog", URL: "https://go.dev/blog", Snippet: "Blog"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeAPI(t, 0, nil, func(w http.ResponseWriter, r *http.Request) {
				assert.Equal(t, http.MethodGet, r.Method)
				assert.Equal(t, "/searxng/search", r.URL.Path)
				assert.Equal(t, "golang generics & iterators", r.URL.Query().Get("q"))
				assert.Equal(t, "json", r.URL.Query().Get("format"))
				assert.NotEmpty(t, r.Header.Get("User-Agent"))
				writeJSON(t, w, map[string]any{"query": r.URL.Query().Get("q"), "number_of_results": 4, "results": results})
			})
			c, err := NewSearchClient(SearxNGConfig{URL: f.srv.URL + "/searxng/"})
			require.NoError(t, err)
			got, err := c.Search(testCtx(t), " golang generics & iterators ", tt.limit)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

// TestSearchJSONDisabled: an instance without the json format answers 403;
// the error says what to change and is permanent.
func TestSearchJSONDisabled(t *testing.T) {
	t.Parallel()
	f := newFakeAPI(t, -1, func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "403 Forbidden", http.StatusForbidden)
	}, nil)
	c, err := NewSearchClient(SearxNGConfig{URL: f.srv.URL})
	require.NoError(t, err)
	_, err = c.Search(testCtx(t), "q", 3)
	require.Error(t, err)
	assert.True(t, IsPermanent(err))
	assert.Contains(t, err.Error(), "search.formats")
	assert.Len(t, f.attempts(), 1)
}

func TestSearchBadAnswer(t *testing.T) {
	t.Parallel()
	f := newFakeAPI(t, 0, nil, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write([]byte("<html>not json</html>"))
	})
	c, err := NewSearchClient(SearxNGConfig{URL: f.srv.URL})
	require.NoError(t, err)
	_, err = c.Search(testCtx(t), "q", 3)
	require.ErrorContains(t, err, "decode answer")
	assert.False(t, IsPermanent(err))
	assert.Len(t, f.attempts(), 1, "a malformed answer is not retried")
}

func TestSearchEmptyQuery(t *testing.T) {
	t.Parallel()
	c, err := NewSearchClient(SearxNGConfig{URL: "http://127.0.0.1:1"})
	require.NoError(t, err)
	_, err = c.Search(testCtx(t), " ", 3)
	require.ErrorIs(t, err, ErrInvalidInput)
	assert.True(t, IsPermanent(err))
}
