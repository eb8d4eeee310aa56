package providers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// DefaultSearchLimit is the number of results Search returns when limit is
// not positive.
const DefaultSearchLimit = 10

// maxSearchBody bounds a SearxNG answer.
const maxSearchBody = 8 << 20

// userAgent identifies Hopper to SearxNG, whose bot detection refuses some
// clients without one.
const userAgent = "Hopper-Providers/1"

// SearchResult is one web search hit.
type SearchResult struct {
	Title   string
	URL     string
	Snippet string // SearxNG's "content"
}

// SearchClient queries a SearxNG instance's JSON API
// (GET {URL}/search?q=…&format=json).
type SearchClient struct {
	e endpoint
}

// NewSearchClient builds a SearxNG client. An empty URL is ErrNotConfigured
// naming HOPPER_SEARXNG_URL.
func NewSearchClient(cfg SearxNGConfig) (*SearchClient, error) {
	e, err := newEndpoint(settings{url: SettingSearxNGURL, timeout: DefaultSearchTimeout}, Config{URL: cfg.URL,
		Timeout: cfg.Timeout, MaxAttempts: cfg.MaxAttempts, MaxRetryDelay: cfg.MaxRetryDelay, HTTPClient: cfg.HTTPClient})
	if err != nil {
		return nil, err
	}
	return &SearchClient{e: e}, nil
}

// searxAnswer is the part of SearxNG's JSON answer Search reads.
type searxAnswer struct {
	Results []struct {
		Title   string `json:"title"`
		URL     string `json:"url"`
		Content string `json:"content"`
	} `json:"results"`
}

// Search returns up to limit results for query (DefaultSearchLimit when
// limit ≤ 0), in SearxNG's order, skipping results without a URL. SearxNG
// has no result-count parameter, so the first page is truncated.
func (c *SearchClient) Search(ctx context.Context, query string, limit int) ([]SearchResult, error) {
	query = strings.TrimSpace(query)
	if query == "" {
		return nil, fmt.Errorf("searxng: empty query: %w", ErrInvalidInput)
	}
	if limit <= 0 {
		limit = DefaultSearchLimit
	}
	u := c.e.baseURL.JoinPath("search")
	u.RawQuery = url.Values{"q": {query}, "format": {"json"}}.Encode()

	var ans searxAnswer
	err := c.e.retry.do(ctx, c.e.timeout, func(ctx context.Context) error {
		return c.get(ctx, u.String(), &ans)
	})
	if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
		return nil, fmt.Errorf("no complete answer within %s: %w", c.e.timeout, err)
	}
	if err != nil {
		return nil, err
	}
	out := make([]SearchResult, 0, min(limit, len(ans.Results)))
	for _, r := range ans.Results {
		if len(out) == limit {
			break
		}
		if r.URL == "" {
			continue
		}
		out = append(out, SearchResult{Title: r.Title, URL: r.URL, Snippet: r.Content})
	}
	return out, nil
}

// get makes one attempt and decodes the answer into dst.
func (c *SearchClient) get(ctx context.Context, u string, dst *searxAnswer) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fmt.Errorf("searxng: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", userAgent)
	res, err := c.e.httpClient.Do(req)
	if err != nil {
		return fmt.Errorf("searxng: %w", err)
	}
	defer func() { _ = res.Body.Close() }()
	if res.StatusCode/100 != 2 {
		se := statusError("searxng", res, time.Now())
		if res.StatusCode == http.StatusForbidden {
			se.Hint = "is the json format enabled in the instance's settings.yml (search.formats)?"
		}
		return se
	}
	*dst = searxAnswer{}
	if err := json.NewDecoder(io.LimitReader(res.Body, maxSearchBody)).Decode(dst); err != nil {
		return fmt.Errorf("searxng: decode answer: %w", err)
	}
	return nil
}
