// Package providers holds the clients for the external AI providers the
// chat-worker calls: an OpenAI-compatible API for chat completions
// (streamed), image generation, audio transcription and embeddings, and a
// SearxNG instance for web search.
//
// Every client is built from its own Config (base URL, API key, model,
// per-attempt timeout, retry limits); the package reads no environment —
// pkg/config maps the HOPPER_* settings (exported here as Setting*
// constants) onto the Config structs. A constructor given an empty URL (or,
// for the OpenAI-compatible clients, an empty model) returns
// ErrNotConfigured naming the setting, so a worker can fail such jobs at
// once with a clear message instead of faking a result.
//
// Calls retry 408, 429 and 5xx answers and network errors with capped,
// jittered exponential backoff, honouring Retry-After; other 4xx answers
// are not retried. IsPermanent tells a worker whether an error is worth a
// job retry: true for 4xx other than 408/429, for ErrNotConfigured and for
// invalid input; false for 429, 5xx, timeouts and network errors.
//
// The OpenAI-compatible clients use github.com/openai/openai-go/v3; the
// SearxNG client and image downloads use net/http directly.
package providers
