package providers

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/openai/openai-go/v3"
)

// MaxImageBytes bounds an image downloaded from a URL the server returned.
const MaxImageBytes = 32 << 20

// Image is a generated image.
type Image struct {
	Data          []byte
	ContentType   string // e.g. image/png
	RevisedPrompt string // the prompt the model actually used, when it says
}

// ImageClient generates images with an OpenAI-compatible API
// (POST {URL}/images/generations).
type ImageClient struct {
	api openai.ImageService
	e   endpoint
}

// NewImageClient builds an image client. An empty URL or model is
// ErrNotConfigured naming HOPPER_IMAGES_URL or HOPPER_IMAGES_MODEL.
func NewImageClient(cfg Config) (*ImageClient, error) {
	e, err := newEndpoint(settings{url: SettingImagesURL, model: SettingImagesModel, timeout: DefaultImageTimeout}, cfg)
	if err != nil {
		return nil, err
	}
	return &ImageClient{api: openai.NewImageService(e.openAIOptions()...), e: e}, nil
}

// Image generates one image for prompt. size ("1024x1024", …) is passed
// through; empty leaves it to the server. The image is requested as
// b64_json (except for OpenAI's gpt-image models, which refuse the
// parameter and always answer base64); a server that answers with a URL
// instead is followed with the same HTTP client, without the API key.
func (c *ImageClient) Image(ctx context.Context, prompt, size string) (Image, error) {
	if strings.TrimSpace(prompt) == "" {
		return Image{}, fmt.Errorf("image generation: empty prompt: %w", ErrInvalidInput)
	}
	params := openai.ImageGenerateParams{
		Prompt: prompt,
		Model:  c.e.model,
		N:      openai.Int(1),
		Size:   openai.ImageGenerateParamsSize(size),
	}
	if !strings.HasPrefix(c.e.model, "gpt-image") {
		params.ResponseFormat = openai.ImageGenerateParamsResponseFormatB64JSON
	}
	res, err := c.api.Generate(ctx, params)
	if err != nil {
		return Image{}, wrapAPIError(ctx, "image generation", c.e.timeout, err)
	}
	if len(res.Data) == 0 {
		return Image{}, errors.New("image generation: the server returned no image")
	}
	img := res.Data[0]
	out := Image{RevisedPrompt: img.RevisedPrompt}
	switch {
	case img.B64JSON != "":
		out.Data, err = base64.StdEncoding.DecodeString(img.B64JSON)
		if err != nil {
			return Image{}, fmt.Errorf("image generation: decode b64_json: %w", err)
		}
		out.ContentType = formatContentType(string(res.OutputFormat))
	case img.URL != "":
		out.Data, out.ContentType, err = c.download(ctx, img.URL)
		if err != nil {
			return Image{}, fmt.Errorf("image generation: %w", err)
		}
	default:
		return Image{}, errors.New("image generation: the server returned neither b64_json nor url")
	}
	if out.ContentType == "" || !strings.HasPrefix(out.ContentType, "image/") {
		out.ContentType = http.DetectContentType(out.Data)
	}
	return out, nil
}

// formatContentType maps the images API's output_format to a media type.
func formatContentType(format string) string {
	switch format {
	case "":
		return ""
	case "svg":
		return "image/svg+xml"
	case "jpg":
		return "image/jpeg"
	default:
		return "image/" + format
	}
}

// download fetches an image the server returned by URL, retrying like any
// other call. The API key is not sent: the URL is usually pre-signed and
// often on another host.
func (c *ImageClient) download(ctx context.Context, rawURL string) ([]byte, string, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, "", errors.New("image download: the server returned an image URL that is not http(s)")
	}
	var (
		data        []byte
		contentType string
	)
	err = c.e.retry.do(ctx, c.e.timeout, func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
		if err != nil {
			return fmt.Errorf("image download: %w", err)
		}
		res, err := c.e.httpClient.Do(req)
		if err != nil {
			return fmt.Errorf("image download: %w", err)
		}
		defer func() { _ = res.Body.Close() }()
		if res.StatusCode/100 != 2 {
			return statusError("image download", res, time.Now())
		}
		data, err = io.ReadAll(io.LimitReader(res.Body, MaxImageBytes+1))
		if err != nil {
			return fmt.Errorf("image download: read: %w", err)
		}
		if len(data) > MaxImageBytes {
			return fmt.Errorf("image download: larger than %d bytes", MaxImageBytes)
		}
		contentType, _, _ = mime.ParseMediaType(res.Header.Get("Content-Type"))
		return nil
	})
	var se *StatusError
	if errors.As(err, &se) {
		// A dead or expired link is not the request's fault: another job
		// attempt generates a new image, so this must not read as
		// permanent (IsPermanent would say so for a 403 or 404).
		return nil, "", errors.New(se.Error())
	}
	return data, contentType, err
}
