package providers

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// The settings that configure the providers. pkg/config reads them; this
// package only uses the names in ErrNotConfigured and documentation.
const (
	SettingLLMURL    = "HOPPER_LLM_URL"
	SettingLLMAPIKey = "HOPPER_LLM_API_KEY"
	SettingLLMModel  = "HOPPER_LLM_MODEL"

	SettingImagesURL    = "HOPPER_IMAGES_URL"
	SettingImagesAPIKey = "HOPPER_IMAGES_API_KEY"
	SettingImagesModel  = "HOPPER_IMAGES_MODEL"

	SettingSTTURL    = "HOPPER_STT_URL"
	SettingSTTAPIKey = "HOPPER_STT_API_KEY"
	SettingSTTModel  = "HOPPER_STT_MODEL"

	SettingEmbeddingsURL    = "HOPPER_EMBEDDINGS_URL"
	SettingEmbeddingsAPIKey = "HOPPER_EMBEDDINGS_API_KEY"
	SettingEmbeddingsModel  = "HOPPER_EMBEDDINGS_MODEL"

	SettingSearxNGURL = "HOPPER_SEARXNG_URL"
)

// Per-attempt timeouts used when a Config leaves Timeout at zero. A chat
// attempt includes reading the whole streamed answer.
const (
	DefaultChatTimeout       = 2 * time.Minute
	DefaultImageTimeout      = 2 * time.Minute
	DefaultTranscribeTimeout = 2 * time.Minute
	DefaultEmbeddingsTimeout = time.Minute
	DefaultSearchTimeout     = 15 * time.Second
)

// DefaultMaxAttempts is the number of attempts per call (the first one and
// two retries) when a Config leaves MaxAttempts at zero.
const DefaultMaxAttempts = 3

// Retry delays when MaxRetryDelay is zero: exponential backoff starts at
// half a second and is capped at 8 s; a server's Retry-After is honoured up
// to 2 minutes (longer ends the call with the server's error). These are
// openai-go's defaults, and the SearxNG client uses the same.
const (
	retryBaseDelay       = 500 * time.Millisecond
	defaultMaxBackoff    = 8 * time.Second
	defaultMaxRetryAfter = 2 * time.Minute
)

// Config configures one of the OpenAI-compatible clients: chat
// completions (HOPPER_LLM_*), images (HOPPER_IMAGES_*), transcription
// (HOPPER_STT_*) and embeddings (HOPPER_EMBEDDINGS_*).
type Config struct {
	URL    string // base URL of the OpenAI-compatible API, e.g. https://api.openai.com/v1
	APIKey string // sent as a bearer token; empty sends none
	Model  string // required
	// Timeout bounds one attempt, connect to last byte: for chat the whole
	// streamed answer, for images also each attempt to download an image
	// the server returned as a URL. Zero is the client's default
	// (DefaultChatTimeout, DefaultImageTimeout, DefaultTranscribeTimeout,
	// DefaultEmbeddingsTimeout).
	Timeout time.Duration
	// MaxAttempts per call including the first (DefaultMaxAttempts when zero).
	MaxAttempts int
	// MaxRetryDelay caps both the backoff and an honoured Retry-After; a
	// Retry-After above it ends the call with the server's error. Zero keeps
	// the defaults (8 s backoff cap, Retry-After up to 2 min).
	MaxRetryDelay time.Duration
	// HTTPClient is used for every request; nil means a new http.Client.
	HTTPClient *http.Client
	// OnUsage, when set, is called after a call the server reported usage
	// for (a rate limiter charges the tokens). Only the chat and embeddings
	// clients report usage (embeddings: PromptTokens only).
	OnUsage func(ctx context.Context, u Usage)
}

// SearxNGConfig configures the web search client (HOPPER_SEARXNG_URL).
// URL is the instance's base URL (the client calls {URL}/search); the
// other fields mean what they mean in Config, and Timeout defaults to
// DefaultSearchTimeout. The instance must have the json format enabled
// (settings.yml: search.formats).
type SearxNGConfig struct {
	URL           string
	Timeout       time.Duration
	MaxAttempts   int
	MaxRetryDelay time.Duration
	HTTPClient    *http.Client
}

// endpoint is the validated, defaulted form every Config turns into.
type endpoint struct {
	baseURL    *url.URL
	apiKey     string
	model      string
	timeout    time.Duration
	retry      retryPolicy
	httpClient *http.Client
}

// settings names a provider's URL and model settings (model empty when the
// provider has none, as SearxNG) and its default per-attempt timeout.
type settings struct {
	url, model string
	timeout    time.Duration
}

// newEndpoint validates a provider's Config and fills in defaults. An empty
// URL or model is ErrNotConfigured naming the setting; a malformed URL or a
// negative limit is a plain error naming it.
func newEndpoint(s settings, c Config) (endpoint, error) {
	rawURL := strings.TrimSpace(c.URL)
	if rawURL == "" {
		return endpoint{}, ErrNotConfigured{Setting: s.url}
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return endpoint{}, fmt.Errorf("%s: not a URL", s.url) // the error would echo it, credentials included
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return endpoint{}, fmt.Errorf("%s: want an http(s) URL with a host, got %q", s.url, u.Redacted())
	}
	if s.model != "" && strings.TrimSpace(c.Model) == "" {
		return endpoint{}, ErrNotConfigured{Setting: s.model}
	}
	if c.Timeout < 0 || c.MaxAttempts < 0 || c.MaxRetryDelay < 0 {
		return endpoint{}, fmt.Errorf("%s: timeout, attempts and retry delay must not be negative", s.url)
	}
	e := endpoint{
		baseURL:    u,
		apiKey:     strings.TrimSpace(c.APIKey), // a secret file's trailing newline
		model:      strings.TrimSpace(c.Model),
		timeout:    c.Timeout,
		retry:      retryPolicy{maxAttempts: c.MaxAttempts, maxDelay: c.MaxRetryDelay},
		httpClient: c.HTTPClient,
	}
	if e.timeout == 0 {
		e.timeout = s.timeout
	}
	if e.retry.maxAttempts == 0 {
		e.retry.maxAttempts = DefaultMaxAttempts
	}
	if e.httpClient == nil {
		e.httpClient = &http.Client{}
	}
	return e, nil
}
