package app

import (
	"context"
	"fmt"
	"mime"
	"net/url"
	"strings"

	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/hopperq/hopper/pkg/hopper"
	hlog "github.com/hopperq/hopper/pkg/log"
	"github.com/hopperq/hopper/pkg/product"
	"github.com/hopperq/hopper/pkg/providers"
	"github.com/hopperq/hopper/pkg/ratelimit"
	"github.com/hopperq/hopper/pkg/store/content"
)

// artifactWriter keeps a job's output file.
type artifactWriter interface {
	PutArtifact(ctx context.Context, jobID uuid.UUID, a content.NewArtifact) (content.ArtifactInfo, error)
}

// imageGenerator runs chat.image: generate one image with the
// OpenAI-compatible images API and keep it as the job's artifact.
type imageGenerator struct {
	store  artifactWriter
	client *providers.ImageClient
	model  string
	log    *zap.Logger
}

// ImageResult is chat.image's result.
type ImageResult struct {
	Artifact      string `json:"artifact"` // e.g. image.png
	URL           string `json:"url"`      // GET it from the gateway
	ContentType   string `json:"content_type"`
	Bytes         int    `json:"bytes"`
	Model         string `json:"model"`
	RevisedPrompt string `json:"revised_prompt,omitempty"`
}

// newImageGenerator builds chat.image's handler and its images client,
// once, at service start. Without HOPPER_IMAGES_URL every chat.image job
// fails at once, permanently, naming the setting.
func newImageGenerator(e product.Endpoint, lim *ratelimit.Limiter, st artifactWriter, log *zap.Logger) hopper.HandlerFunc {
	c, err := providers.NewImageClient(providerConfig(lim, "images", e))
	if err != nil {
		return mediaUnavailable(log, product.KindChatImage, err)
	}
	return (&imageGenerator{store: st, client: c, model: e.Model, log: log}).handle
}

func (g *imageGenerator) handle(ctx context.Context, job *hopper.RawJob) (any, error) {
	var p product.ImagePayload
	if err := product.Decode(job.Payload, &p); err != nil {
		return nil, hopper.Permanent(err)
	}
	log := g.log.With(hlog.JobID(job.ID.String()), hlog.Kind(job.Kind), hlog.Attempt(job.Attempt))
	_ = job.Progress(ctx, 10, "generating the image")
	img, err := g.client.Image(ctx, p.Prompt, p.Size)
	if err != nil {
		return nil, classifyMediaErr(err)
	}
	_ = job.Progress(ctx, 80, "storing the image")
	name := "image." + imageExt(img.ContentType)
	info, err := g.store.PutArtifact(ctx, job.ID, content.NewArtifact{Name: name, ContentType: img.ContentType, Data: img.Data})
	if err != nil {
		return nil, fmt.Errorf("store image: %w", err)
	}
	log.Info("image generated", zap.String("artifact", name), zap.Int64("bytes", info.SizeBytes),
		zap.String("content_type", img.ContentType))
	return ImageResult{
		Artifact: name, URL: jobArtifactURL(job.ID.String(), name), ContentType: img.ContentType,
		Bytes: len(img.Data), Model: g.model, RevisedPrompt: img.RevisedPrompt,
	}, nil
}

// classifyMediaErr marks the provider errors a retry cannot fix (bad key,
// unknown model, refused prompt) permanent; the rest retry.
func classifyMediaErr(err error) error {
	if providers.IsPermanent(err) {
		return hopper.Permanent(err)
	}
	return err
}

// jobArtifactURL is where the gateway serves a job's artifact.
func jobArtifactURL(jobID, name string) string {
	return "/v1/jobs/" + jobID + "/artifacts/" + url.PathEscape(name)
}

// imageExt names the file extension of an image media type.
func imageExt(contentType string) string {
	mt, _, _ := mime.ParseMediaType(contentType)
	switch mt {
	case "image/png":
		return "png"
	case "image/jpeg":
		return "jpg"
	case "image/webp":
		return "webp"
	case "image/gif":
		return "gif"
	case "image/svg+xml":
		return "svg"
	}
	if sub, ok := strings.CutPrefix(mt, "image/"); ok && sub != "" && !strings.ContainsAny(sub, "+./") {
		return sub
	}
	return "bin"
}
