package product

import "regexp"

// Media kinds (chat-worker).
const (
	KindChatImage      = "chat.image"
	KindChatTranscribe = "chat.transcribe"
)

// Media payload limits.
const (
	MaxImagePromptRunes = 4000
	// Image sizes are WIDTHxHEIGHT within these bounds, or "auto" (the
	// payload schema's pattern spells the bounds out).
	MinImageSide = 64
	MaxImageSide = 4096
)

// ImagePayload is chat.image's payload: generate one image for Prompt.
// Size ("1024x1024", "auto") is passed to the provider; empty leaves it
// to the provider.
type ImagePayload struct {
	Prompt string `json:"prompt" jsonschema:"maxLength=4000,pattern=\\S"`
	Size   string `json:"size,omitempty" jsonschema:"pattern=^(auto|(6[4-9]|[7-9][0-9]|[1-9][0-9]{2}|[1-3][0-9]{3}|40[0-8][0-9]|409[0-6])x(6[4-9]|[7-9][0-9]|[1-9][0-9]{2}|[1-3][0-9]{3}|40[0-8][0-9]|409[0-6]))?$"`
}

// TranscribePayload is chat.transcribe's payload. The recording is not in
// it: the gateway stores the upload as the job's artifact Artifact
// ("input.<ext>") in the transaction that creates the job.
type TranscribePayload struct {
	Artifact string `json:"artifact" jsonschema:"pattern=^input\\.[a-z0-9]{1\\,8}$"`        // e.g. "input.wav"
	Filename string `json:"filename,omitempty" jsonschema:"maxLength=255"`                  // the client's file name, for the record
	Language string `json:"language,omitempty" jsonschema:"pattern=^([a-z]{2}|[a-z]{3})?$"` // ISO-639-1 hint, e.g. "en"
}

var languageRE = regexp.MustCompile(`^[a-z]{2,3}$`)

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
