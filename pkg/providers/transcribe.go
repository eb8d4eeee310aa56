package providers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"

	"github.com/openai/openai-go/v3"
)

// Transcript is the text of a transcribed recording.
type Transcript struct {
	Text     string
	Language string  // as the server reports it (OpenAI: "english"); empty when it does not
	Duration float64 // seconds, as the server reports it; 0 when it does not
}

// TranscriptionClient turns speech into text with an OpenAI-compatible API
// (POST {URL}/audio/transcriptions, multipart/form-data).
//
// It asks for response_format=verbose_json: that is the format in which
// OpenAI (and the servers copying it) report the language and duration;
// plain json carries only the text. A model that refuses verbose_json
// (OpenAI's gpt-4o-transcribe family: 400 naming response_format) is
// asked again, and from then on, for plain json, and its transcripts
// carry only the text.
type TranscriptionClient struct {
	api       openai.AudioTranscriptionService
	e         endpoint
	plainJSON atomic.Bool // the server refused verbose_json once
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
	// The recording may be sent twice (see plainJSON): keep a way back
	// to its start.
	rs, ok := audio.(io.ReadSeeker)
	if !ok {
		b, err := io.ReadAll(audio)
		if err != nil {
			return Transcript{}, fmt.Errorf("transcription: read audio: %w", err)
		}
		rs = bytes.NewReader(b)
	}
	start, err := rs.Seek(0, io.SeekCurrent)
	if err != nil {
		return Transcript{}, fmt.Errorf("transcription: read audio: %w", err)
	}
	params := openai.AudioTranscriptionNewParams{
		File:           openai.File(rs, filename, contentType),
		Model:          c.e.model,
		ResponseFormat: openai.AudioResponseFormatVerboseJSON,
	}
	if c.plainJSON.Load() {
		params.ResponseFormat = openai.AudioResponseFormatJSON
	}
	if language = strings.TrimSpace(language); language != "" {
		params.Language = openai.String(language)
	}
	res, err := c.api.New(ctx, params)
	if err != nil && params.ResponseFormat == openai.AudioResponseFormatVerboseJSON && refusesFormat(err) {
		c.plainJSON.Store(true)
		params.ResponseFormat = openai.AudioResponseFormatJSON
		if _, err = rs.Seek(start, io.SeekStart); err != nil {
			return Transcript{}, fmt.Errorf("transcription: rewind audio: %w", err)
		}
		res, err = c.api.New(ctx, params)
	}
	if err != nil {
		return Transcript{}, wrapAPIError(ctx, "transcription", c.e.timeout, err)
	}
	if params.ResponseFormat == openai.AudioResponseFormatJSON {
		return Transcript{Text: res.Text}, nil
	}
	v := res.AsTranscriptionVerbose()
	return Transcript{Text: v.Text, Language: v.Language, Duration: v.Duration}, nil
}

// refusesFormat reports whether err is the server refusing the
// response_format asked for: a 400 whose param (or, from servers that set
// none, message) names it.
func refusesFormat(err error) bool {
	var ae *openai.Error
	if !errors.As(err, &ae) || ae.StatusCode != http.StatusBadRequest {
		return false
	}
	return ae.Param == "response_format" || strings.Contains(ae.Message, "response_format")
}
