package providers

import (
	"context"
	"fmt"

	"github.com/openai/openai-go/v3"
)

// EmbeddingClient computes embeddings with an OpenAI-compatible API
// (POST {URL}/embeddings).
type EmbeddingClient struct {
	api     openai.EmbeddingService
	e       endpoint
	onUsage func(context.Context, Usage)
}

// NewEmbeddingClient builds an embeddings client. An empty URL or model is
// ErrNotConfigured naming HOPPER_EMBEDDINGS_URL or HOPPER_EMBEDDINGS_MODEL.
func NewEmbeddingClient(cfg Config) (*EmbeddingClient, error) {
	e, err := newEndpoint(settings{url: SettingEmbeddingsURL, model: SettingEmbeddingsModel, timeout: DefaultEmbeddingsTimeout}, cfg)
	if err != nil {
		return nil, err
	}
	return &EmbeddingClient{api: openai.NewEmbeddingService(e.openAIOptions()...), e: e, onUsage: cfg.OnUsage}, nil
}

// Embed returns one vector per input, in the order of inputs (the answer
// is reordered by its index field), from a single request. Batching large
// input sets is the caller's business: servers limit inputs per request
// (OpenAI: 2048). No inputs makes no request.
func (c *EmbeddingClient) Embed(ctx context.Context, inputs []string) ([][]float32, error) {
	if len(inputs) == 0 {
		return [][]float32{}, nil
	}
	res, err := c.api.New(ctx, openai.EmbeddingNewParams{
		Model:          c.e.model,
		Input:          openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: inputs},
		EncodingFormat: openai.EmbeddingNewParamsEncodingFormatFloat,
	})
	if err != nil {
		return nil, wrapAPIError(ctx, "embeddings", c.e.timeout, err)
	}
	if c.onUsage != nil && res.JSON.Usage.Valid() && res.Usage.PromptTokens > 0 {
		c.onUsage(ctx, Usage{PromptTokens: res.Usage.PromptTokens})
	}
	if len(res.Data) != len(inputs) {
		return nil, fmt.Errorf("embeddings: asked for %d vectors, got %d", len(inputs), len(res.Data))
	}
	out := make([][]float32, len(inputs))
	for _, d := range res.Data {
		if d.Index < 0 || d.Index >= int64(len(out)) || out[d.Index] != nil {
			return nil, fmt.Errorf("embeddings: bad or repeated index %d in the answer", d.Index)
		}
		v := make([]float32, len(d.Embedding))
		for i, x := range d.Embedding {
			v[i] = float32(x)
		}
		out[d.Index] = v
	}
	return out, nil
}
