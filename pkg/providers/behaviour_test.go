package providers

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// limits are the retry and timeout knobs every Config has.
type limits struct {
	timeout       time.Duration
	maxAttempts   int
	maxRetryDelay time.Duration
}

// target is one client call against a fake that answers like the real API.
type target struct {
	name string
	ok   func(t *testing.T) http.HandlerFunc
	call func(ctx context.Context, baseURL string, l limits) error
}

func targets() []target {
	return []target{
		{
			name: "chat",
			ok: func(t *testing.T) http.HandlerFunc {
				return func(w http.ResponseWriter, _ *http.Request) {
					s := newSSE(t, w)
					s.data(chunk("hi", ""))
					s.data(chunk("", "stop"))
					s.data("[DONE]")
				}
			},
			call: func(ctx context.Context, base string, l limits) error {
				c, err := NewChatClient(Config{URL: base + "/v1", Model: "m",
					Timeout: l.timeout, MaxAttempts: l.maxAttempts, MaxRetryDelay: l.maxRetryDelay})
				if err != nil {
					return err
				}
				res, err := c.Chat(ctx, []Message{{Role: RoleUser, Content: "hello"}}, nil)
				if err == nil && res.Text != "hi" {
					return errors.New("unexpected answer " + res.Text)
				}
				return err
			},
		},
		{
			name: "image",
			ok: func(t *testing.T) http.HandlerFunc {
				return func(w http.ResponseWriter, _ *http.Request) {
					writeJSON(t, w, map[string]any{"created": 1, "data": []map[string]any{{"b64_json": b64(pngBytes())}}})
				}
			},
			call: func(ctx context.Context, base string, l limits) error {
				c, err := NewImageClient(Config{URL: base + "/v1", Model: "m",
					Timeout: l.timeout, MaxAttempts: l.maxAttempts, MaxRetryDelay: l.maxRetryDelay})
				if err != nil {
					return err
				}
				_, err = c.Image(ctx, "a lighthouse", "256x256")
				return err
			},
		},
		{
			name: "transcribe",
			ok: func(t *testing.T) http.HandlerFunc {
				return fakeTranscriptions(t, spoken{text: "hello", language: "english", duration: 1})
			},
			call: func(ctx context.Context, base string, l limits) error {
				c, err := NewTranscriptionClient(Config{URL: base + "/v1", Model: "m",
					Timeout: l.timeout, MaxAttempts: l.maxAttempts, MaxRetryDelay: l.maxRetryDelay})
				if err != nil {
					return err
				}
				_, err = c.Transcribe(ctx, "a.wav", strings.NewReader("RIFF...."))
				return err
			},
		},
		{
			name: "embed",
			ok: func(t *testing.T) http.HandlerFunc {
				return func(w http.ResponseWriter, _ *http.Request) {
					writeJSON(t, w, map[string]any{"object": "list", "model": "m",
						"data":  []map[string]any{{"object": "embedding", "index": 0, "embedding": []float64{1, 2}}},
						"usage": map[string]any{"prompt_tokens": 1, "total_tokens": 1}})
				}
			},
			call: func(ctx context.Context, base string, l limits) error {
				c, err := NewEmbeddingClient(Config{URL: base + "/v1", Model: "m",
					Timeout: l.timeout, MaxAttempts: l.maxAttempts, MaxRetryDelay: l.maxRetryDelay})
				if err != nil {
					return err
				}
				_, err = c.Embed(ctx, []string{"x"})
				return err
			},
		},
		{
			name: "searxng",
			ok: func(t *testing.T) http.HandlerFunc {
				return func(w http.ResponseWriter, _ *http.Request) {
					writeJSON(t, w, map[string]any{"query": "q", "results": []map[string]any{{"title": "T", "url": "https://x.test", "content": "c"}}})
				}
			},
			call: func(ctx context.Context, base string, l limits) error {
				c, err := NewSearchClient(SearxNGConfig{URL: base,
					Timeout: l.timeout, MaxAttempts: l.maxAttempts, MaxRetryDelay: l.maxRetryDelay})
				if err != nil {
					return err
				}
				_, err = c.Search(ctx, "q", 5)
				return err
			},
		},
	}
}

// TestRetryAndClassification runs every client through the same failure
// scenarios: what is retried, how long it waits, and how the final error
// classifies.
func TestRetryAndClassification(t *testing.T) {
	t.Parallel()
	fast := limits{timeout: 5 * time.Second, maxAttempts: 3, maxRetryDelay: 10 * time.Millisecond}
	scenarios := []struct {
		name          string
		failures      int // attempts that fail before success; < 0: all
		fail          http.HandlerFunc
		limits        limits
		wantErr       bool
		wantPermanent bool
		wantDeadline  bool
		wantAttempts  int
		minGap        time.Duration // between the first two attempts
	}{
		{
			name:     "429 with Retry-After then success",
			failures: 1,
			fail:     withHeader("Retry-After", "1", openAIError(http.StatusTooManyRequests, "slow down")),
			// Backoff alone would retry after ≤ 500 ms; the gap proves
			// Retry-After was honoured.
			limits:       limits{timeout: 5 * time.Second, maxAttempts: 3, maxRetryDelay: 2 * time.Second},
			wantAttempts: 2,
			minGap:       900 * time.Millisecond,
		},
		{
			name:         "500 then success",
			failures:     1,
			fail:         openAIError(http.StatusInternalServerError, "boom"),
			limits:       fast,
			wantAttempts: 2,
		},
		{
			name:         "503 on every attempt uses them all",
			failures:     -1,
			fail:         openAIError(http.StatusServiceUnavailable, "overloaded"),
			limits:       fast,
			wantErr:      true,
			wantAttempts: 3,
		},
		{
			name:          "400 is not retried and is permanent",
			failures:      -1,
			fail:          openAIError(http.StatusBadRequest, "bad request"),
			limits:        fast,
			wantErr:       true,
			wantPermanent: true,
			wantAttempts:  1,
		},
		{
			name:     "400 with a plain-text body (a proxy's) is still permanent",
			failures: -1,
			fail: func(w http.ResponseWriter, _ *http.Request) {
				http.Error(w, "bad request", http.StatusBadRequest)
			},
			limits:        fast,
			wantErr:       true,
			wantPermanent: true,
			wantAttempts:  1,
		},
		{
			name:          "404 (unknown model) is not retried and is permanent",
			failures:      -1,
			fail:          openAIError(http.StatusNotFound, "model not found"),
			limits:        fast,
			wantErr:       true,
			wantPermanent: true,
			wantAttempts:  1,
		},
		{
			name:         "429 asking for longer than the max retry delay gives up, retryable",
			failures:     -1,
			fail:         withHeader("Retry-After", "60", openAIError(http.StatusTooManyRequests, "slow down")),
			limits:       fast,
			wantErr:      true,
			wantAttempts: 1,
		},
		{
			name:         "timeout is an error, not permanent",
			failures:     -1,
			fail:         blockUntilClientGivesUp,
			limits:       limits{timeout: 100 * time.Millisecond, maxAttempts: 3, maxRetryDelay: 10 * time.Millisecond},
			wantErr:      true,
			wantDeadline: true,
			wantAttempts: 1,
		},
	}
	for _, tg := range targets() {
		for _, sc := range scenarios {
			t.Run(tg.name+"/"+sc.name, func(t *testing.T) {
				t.Parallel()
				f := newFakeAPI(t, sc.failures, sc.fail, tg.ok(t))
				err := tg.call(testCtx(t), f.srv.URL, sc.limits)
				got := f.attempts()
				if sc.wantErr {
					require.Error(t, err)
					assert.Equal(t, sc.wantPermanent, IsPermanent(err), "IsPermanent(%v)", err)
					if sc.wantDeadline {
						assert.ErrorIs(t, err, context.DeadlineExceeded)
						assert.Contains(t, err.Error(), "no complete answer within 100ms")
					}
				} else {
					require.NoError(t, err)
				}
				assert.Len(t, got, sc.wantAttempts)
				if sc.minGap > 0 && len(got) >= 2 {
					assert.GreaterOrEqual(t, got[1].Sub(got[0]), sc.minGap)
				}
			})
		}
	}
}

// TestNotConfigured checks that every constructor names the missing
// setting, and that the error is permanent.
func TestNotConfigured(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		build       func() error
		wantSetting string
	}{
		{"chat url", func() error { _, err := NewChatClient(Config{Model: "m"}); return err }, SettingLLMURL},
		{"chat model", func() error { _, err := NewChatClient(Config{URL: "http://llm.test/v1"}); return err }, SettingLLMModel},
		{"images url", func() error { _, err := NewImageClient(Config{Model: "m"}); return err }, SettingImagesURL},
		{"images model", func() error { _, err := NewImageClient(Config{URL: "http://img.test"}); return err }, SettingImagesModel},
		{"stt url", func() error { _, err := NewTranscriptionClient(Config{Model: "m", APIKey: "k"}); return err }, SettingSTTURL},
		{"stt model", func() error { _, err := NewTranscriptionClient(Config{URL: "http://stt.test"}); return err }, SettingSTTModel},
		{"embeddings url", func() error { _, err := NewEmbeddingClient(Config{URL: "  ", Model: "m"}); return err }, SettingEmbeddingsURL},
		{"embeddings model", func() error { _, err := NewEmbeddingClient(Config{URL: "http://e.test"}); return err }, SettingEmbeddingsModel},
		{"searxng url", func() error { _, err := NewSearchClient(SearxNGConfig{}); return err }, SettingSearxNGURL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.build()
			var nc ErrNotConfigured
			require.ErrorAs(t, err, &nc)
			assert.Equal(t, tt.wantSetting, nc.Setting)
			assert.Equal(t, "provider not configured: set "+tt.wantSetting, err.Error())
			assert.True(t, IsPermanent(err))
		})
	}
}

// TestBadConfig checks that a malformed setting is an error naming it, but
// not ErrNotConfigured.
func TestBadConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		build   func() error
		wantMsg string
	}{
		{"url without scheme", func() error { _, err := NewChatClient(Config{URL: "llm.test/v1", Model: "m"}); return err }, SettingLLMURL},
		{"ftp url", func() error { _, err := NewSearchClient(SearxNGConfig{URL: "ftp://s.test"}); return err }, SettingSearxNGURL},
		{"negative attempts", func() error {
			_, err := NewEmbeddingClient(Config{URL: "http://e.test", Model: "m", MaxAttempts: -1})
			return err
		}, SettingEmbeddingsURL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.build()
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantMsg)
			var nc ErrNotConfigured
			assert.False(t, errors.As(err, &nc))
		})
	}
}
