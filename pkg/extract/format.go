package extract

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/gabriel-vasile/mimetype"
)

// Format is a document format that Text can extract.
type Format string

// The supported formats. The values are stable and safe to store.
const (
	FormatText     Format = "txt"
	FormatMarkdown Format = "md"
	FormatHTML     Format = "html"
	FormatPDF      Format = "pdf"
	FormatDOCX     Format = "docx"
)

// SniffLen is how many leading bytes of a document Sniff needs to see; pass
// at least this many when the document is that long.
const SniffLen = 3072

// docxMIME is the media type of a Word (OOXML) document.
const docxMIME = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"

// ParseFormat returns the Format named s ("txt", "md", "html", "pdf",
// "docx"), for example when it was stored with a job's payload.
func ParseFormat(s string) (Format, error) {
	switch f := Format(strings.ToLower(strings.TrimSpace(s))); f {
	case FormatText, FormatMarkdown, FormatHTML, FormatPDF, FormatDOCX:
		return f, nil
	default:
		return "", ErrUnsupported{Detected: fmt.Sprintf("format %q", s)}
	}
}

// MIME returns the media type of f, e.g. for a Content-Type header.
func (f Format) MIME() string {
	switch f {
	case FormatText:
		return "text/plain; charset=utf-8"
	case FormatMarkdown:
		return "text/markdown; charset=utf-8"
	case FormatHTML:
		return "text/html; charset=utf-8"
	case FormatPDF:
		return "application/pdf"
	case FormatDOCX:
		return docxMIME
	default:
		return "application/octet-stream"
	}
}

// Sniff detects the format of a document from its first bytes (see SniffLen).
// The bytes decide; filename only refines text into Markdown (.md,
// .markdown) and names the expected format in errors. A type that is
// recognised but not supported returns ErrUnsupported naming it; bytes that
// match nothing while the name claims PDF or DOCX return ErrCorrupt.
func Sniff(head []byte, filename string) (Format, error) {
	if len(head) == 0 {
		return "", ErrCorrupt{Reason: "empty file"}
	}
	ext := strings.ToLower(filepath.Ext(filename))
	m := mimetype.Detect(head)
	switch {
	case m.Is("application/pdf"):
		return FormatPDF, nil
	case m.Is(docxMIME):
		return FormatDOCX, nil
	case m.Is("application/zip") && ext == ".docx":
		// A zip whose first entries did not show word/ yet (the head was
		// short); Text checks for word/document.xml and reports ErrCorrupt.
		return FormatDOCX, nil
	case m.Is("text/html"):
		if isMarkdownName(ext) {
			return FormatMarkdown, nil // Markdown may start with HTML
		}
		return FormatHTML, nil
	case m.Is("text/plain"):
		if isMarkdownName(ext) {
			return FormatMarkdown, nil
		}
		return FormatText, nil
	}
	detected := mediaType(m.String())
	if detected == "application/octet-stream" {
		switch ext {
		case ".pdf":
			return "", ErrCorrupt{Format: FormatPDF, Reason: "named .pdf but does not start with %PDF-"}
		case ".docx":
			return "", ErrCorrupt{Format: FormatDOCX, Reason: "named .docx but is not a zip archive"}
		}
	}
	return "", ErrUnsupported{Detected: detected}
}

func isMarkdownName(ext string) bool {
	return ext == ".md" || ext == ".markdown"
}

// mediaType drops parameters such as "; charset=utf-8".
func mediaType(s string) string {
	if i := strings.IndexByte(s, ';'); i >= 0 {
		s = s[:i]
	}
	return strings.TrimSpace(s)
}
