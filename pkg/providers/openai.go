package providers

import (
	"github.com/openai/openai-go/v3/option"
)

// openAIOptions are the request options of every call a client makes.
//
// The clients are built from openai-go's per-API service constructors, not
// openai.NewClient: NewClient also reads OPENAI_API_KEY, OPENAI_BASE_URL
// and friends from the environment, which would send an ambient OpenAI key
// to whatever server HOPPER_*_URL names when HOPPER_*_API_KEY is empty.
func (e endpoint) openAIOptions() []option.RequestOption {
	opts := []option.RequestOption{
		option.WithBaseURL(e.baseURL.String()),
		option.WithAPIKey(e.apiKey), // empty: no Authorization header
		option.WithHTTPClient(e.httpClient),
		option.WithMaxRetries(e.retry.maxAttempts - 1),
		option.WithRequestTimeout(e.timeout),
	}
	if e.retry.maxDelay > 0 {
		opts = append(opts, option.WithMaxRetryDelay(e.retry.maxDelay))
	}
	return opts
}
