package providers

import (
	"context"
	"fmt"
	"io"
	"mime"
	"path/filepath"
	"strings"

	"github.com/openai/openai-go/v3"
)

// Transcript is the text of a transcribed recording.
type Transcript struct {
	Text     string
	Language string  // when the server reports it
	Duration float64 // seconds, when the server reports it
}

// TranscriptionClient turns speech into text with an OpenAI-compatible API
// (POST {URL}/audio/transcriptions, multipart/form-data).
type TranscriptionClient struct {
	api openai.AudioTranscriptionService
	e   endpoint
}

// NewTranscriptionClient builds a speech-to-text client. An empty URL or
// model is ErrNotConfigured naming HOPPER_STT_URL or HOPPER_STT_MODEL.
func NewTranscriptionClient(cfg Config) (*TranscriptionClient, error) {
	e, err := newEndpoint(settings{url: SettingSTTURL, model: SettingSTTModel, timeout: DefaultTranscribeTimeout}, cfg)
	if err != nil {
		return nil, err
	}
	return &TranscriptionClient{api: openai.NewAudioTranscriptionService(e.openAIOptions()...), e: e}, nil
}

// Transcribe sends the recording in audio as the multipart "file" field
// named filename; the extension tells the server the format (mp3, wav,
// m4a, ogg, webm, …). The whole recording is buffered in memory so that a
// retry can send it again; bound it before calling (OpenAI accepts 25 MB).
func (c *TranscriptionClient) Transcribe(ctx context.Context, filename string, audio io.Reader) (Transcript, error) {
	return c.TranscribeLanguage(ctx, filename, "", audio)
}

// TranscribeLanguage is Transcribe with a language hint (ISO-639-1, e.g.
// "en"), sent as the "language" field; empty sends none and lets the
// model detect it.
func (c *TranscriptionClient) TranscribeLanguage(ctx context.Context, filename, language string, audio io.Reader) (Transcript, error) {
	if audio == nil {
		return Transcript{}, fmt.Errorf("transcription: no audio: %w", ErrInvalidInput)
	}
	filename = filepath.Base(strings.TrimSpace(filename))
	if filename == "." || filename == "/" || filename == "" {
		filename = "audio"
	}
	contentType := mime.TypeByExtension(filepath.Ext(filename))
	if contentType == "" {
		contentType = "application/octet-stream"
	}
	params := openai.AudioTranscriptionNewParams{
		File:           openai.File(audio, filename, contentType),
		Model:          c.e.model,
		ResponseFormat: openai.AudioResponseFormatJSON,
	}
	if language = strings.TrimSpace(language); language != "" {
		params.Language = openai.String(language)
	}
	res, err := c.api.New(ctx, params)
	if err != nil {
		return Transcript{}, wrapAPIError(ctx, "transcription", c.e.timeout, err)
	}
	return Transcript{Text: res.Text, Language: res.Language, Duration: res.Duration}, nil
}
