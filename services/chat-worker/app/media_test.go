package app

import (
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"go.uber.org/zap"

	"github.com/hopperq/hopper/pkg/hopper"
	"github.com/hopperq/hopper/pkg/product"
	"github.com/hopperq/hopper/pkg/ratelimit"
)

func TestImageExt(t *testing.T) {
	t.Parallel()
	for ct, want := range map[string]string{
		"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp", "image/svg+xml": "svg",
		"image/avif": "avif", "image/png; charset=binary": "png", "application/octet-stream": "bin", "": "bin",
	} {
		assert.Equal(t, want, imageExt(ct), ct)
	}
	assert.Equal(t, "/v1/jobs/x/artifacts/image.png", jobArtifactURL("x", "image.png"))
}

// TestMediaNotConfigured: without a provider URL the handlers fail at
// once, permanently, naming the setting.
func TestMediaNotConfigured(t *testing.T) {
	t.Parallel()
	job := &hopper.RawJob{ID: uuid.New(), Kind: "chat.image", Attempt: 1, Payload: []byte(`{"prompt":"x"}`)}
	_, err := newImageGenerator(product.Endpoint{}, ratelimit.New(nil), nil, zap.NewNop())(t.Context(), job)
	assert.True(t, hopper.IsPermanent(err))
	assert.ErrorContains(t, err, "HOPPER_IMAGES_URL")

	job = &hopper.RawJob{ID: uuid.New(), Kind: "chat.transcribe", Attempt: 1, Payload: []byte(`{"artifact":"input.wav"}`)}
	_, err = newTranscriber(product.Endpoint{}, ratelimit.New(nil), nil, zap.NewNop())(t.Context(), job)
	assert.True(t, hopper.IsPermanent(err))
	assert.ErrorContains(t, err, "HOPPER_STT_URL")
}
