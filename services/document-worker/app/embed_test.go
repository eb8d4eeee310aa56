package app

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/hopperq/hopper/pkg/hopper"
	"github.com/hopperq/hopper/pkg/product"
	"github.com/hopperq/hopper/pkg/providers"
	"github.com/hopperq/hopper/pkg/ratelimit"
)

type fakeEmbedder struct {
	batches []int
	err     error
}

func (f *fakeEmbedder) Embed(_ context.Context, inputs []string) ([][]float32, error) {
	if f.err != nil {
		return nil, f.err
	}
	f.batches = append(f.batches, len(inputs))
	out := make([][]float32, len(inputs))
	for i := range out {
		out[i] = []float32{float32(len(inputs[i]))}
	}
	return out, nil
}

func TestEmbedTextsBatches(t *testing.T) {
	t.Parallel()
	texts := make([]string, 2*embedBatchSize+2)
	for i := range texts {
		texts[i] = string(make([]byte, i))
	}
	f := &fakeEmbedder{}
	got := make([][]float32, len(texts))
	err := embedTexts(t.Context(), &hopper.RawJob{}, f, texts, 0, len(texts), 60, 25, func(start int, vecs [][]float32) error {
		copy(got[start:], vecs)
		return nil
	})
	require.NoError(t, err)
	assert.Equal(t, []int{embedBatchSize, embedBatchSize, 2}, f.batches)
	for i, v := range got {
		assert.Equal(t, []float32{float32(i)}, v, "vector %d in input order", i)
	}

	f = &fakeEmbedder{err: providers.ErrInvalidInput}
	err = embedTexts(t.Context(), &hopper.RawJob{}, f, texts, 0, len(texts), 0, 100, func(int, [][]float32) error { return nil })
	assert.True(t, hopper.IsPermanent(err), "a permanent provider error is permanent for the job")
	f = &fakeEmbedder{err: errors.New("503")}
	err = embedTexts(t.Context(), &hopper.RawJob{}, f, texts, 0, len(texts), 0, 100, func(int, [][]float32) error { return nil })
	require.Error(t, err)
	assert.False(t, hopper.IsPermanent(err))
}

func TestNewEmbedding(t *testing.T) {
	t.Parallel()
	e, err := newEmbedding(product.Endpoint{}, ratelimit.New(nil), zap.NewNop())
	require.NoError(t, err)
	assert.Nil(t, e.client)
	require.Error(t, e.unset)
	assert.Contains(t, e.unset.Error(), "HOPPER_EMBEDDINGS_URL")
	assert.True(t, providers.IsPermanent(e.unset))

	e, err = newEmbedding(product.Endpoint{URL: "http://127.0.0.1:1/v1", Model: "m"}, ratelimit.New(nil), zap.NewNop())
	require.NoError(t, err)
	assert.NotNil(t, e.client)

	// document.embed without a provider fails at once, permanently.
	r := &reembedder{embedding: embedding{unset: providers.ErrNotConfigured{Setting: providers.SettingEmbeddingsURL}}, log: zap.NewNop()}
	_, err = r.handle(t.Context(), &hopper.RawJob{Payload: []byte(`{}`)})
	assert.True(t, hopper.IsPermanent(err))
	assert.Contains(t, err.Error(), "HOPPER_EMBEDDINGS_URL")
}
