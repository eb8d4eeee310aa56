package jobs

import (
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Media kinds (chat-worker).
const (
	KindChatImage      = "chat.image"
	KindChatTranscribe = "chat.transcribe"
)

// Media payload limits.
const (
	MaxImagePromptRunes = 4000
	// Image sizes are WIDTHxHEIGHT within these bounds, or "auto".
	MinImageSide = 64
	MaxImageSide = 4096
)

// ImagePayload is chat.image's payload: generate one image for Prompt.
// Size ("1024x1024", "auto") is passed to the provider; empty leaves it
// to the provider.
type ImagePayload struct {
	Prompt string `json:"prompt"`
	Size   string `json:"size,omitempty"`
}

var imageSizeRE = regexp.MustCompile(`^([0-9]{2,4})x([0-9]{2,4})$`)

func checkImagePayload(payload []byte) error {
	var p ImagePayload
	if err := decodeStrict(payload, &p); err != nil {
		return err
	}
	switch {
	case strings.TrimSpace(p.Prompt) == "":
		return invalid("payload.prompt", "is required")
	case utf8.RuneCountInString(p.Prompt) > MaxImagePromptRunes:
		return invalid("payload.prompt", "longer than %d characters", MaxImagePromptRunes)
	}
	return checkImageSize(p.Size)
}

func checkImageSize(size string) error {
	if size == "" || size == "auto" {
		return nil
	}
	m := imageSizeRE.FindStringSubmatch(size)
	if m == nil {
		return invalid("payload.size", "%q: want WIDTHxHEIGHT (e.g. 1024x1024) or auto", size)
	}
	for _, side := range m[1:] {
		n, _ := strconv.Atoi(side) // two to four digits: always a number
		if n < MinImageSide || n > MaxImageSide {
			return invalid("payload.size", "%q: each side must be %d to %d pixels", size, MinImageSide, MaxImageSide)
		}
	}
	return nil
}

// TranscribePayload is chat.transcribe's payload. The recording is not in
// it: the gateway stores the upload as the job's artifact Artifact
// ("input.<ext>") in the transaction that creates the job.
type TranscribePayload struct {
	Artifact string `json:"artifact"`           // e.g. "input.wav"
	Filename string `json:"filename,omitempty"` // the client's file name, for the record
	Language string `json:"language,omitempty"` // ISO-639-1 hint, e.g. "en"
}

var (
	transcribeArtifactRE = regexp.MustCompile(`^input\.[a-z0-9]{1,8}$`)
	languageRE           = regexp.MustCompile(`^[a-z]{2,3}$`)
)

func checkTranscribePayload(payload []byte) error {
	var p TranscribePayload
	if err := decodeStrict(payload, &p); err != nil {
		return err
	}
	switch {
	case !transcribeArtifactRE.MatchString(p.Artifact):
		return invalid("payload.artifact", "want the uploaded recording's artifact (input.<ext>): upload it with POST /v1/chat/transcribe")
	case utf8.RuneCountInString(p.Filename) > 255:
		return invalid("payload.filename", "longer than 255 characters")
	}
	return checkLanguage("payload.language", p.Language)
}

// CheckLanguage validates a transcription language hint (the form field
// "language"): empty, or an ISO-639 code in lower case ("en", "fr").
func CheckLanguage(lang string) error {
	return checkLanguage("language", lang)
}

func checkLanguage(field, lang string) error {
	if lang != "" && !languageRE.MatchString(lang) {
		return invalid(field, "%q: want an ISO-639-1 code such as en or fr", lang)
	}
	return nil
}
