package extract

import (
	"errors"
	"fmt"
	"strconv"
)

// ErrUnsupported reports a document type that extract cannot read.
// Detected is the media type that was found, e.g. "image/png".
type ErrUnsupported struct {
	Detected string
}

func (e ErrUnsupported) Error() string {
	return "extract: unsupported document type " + e.Detected +
		" (supported: txt, md, html, pdf, docx)"
}

// ErrCorrupt reports a document that claims a supported format but cannot be
// read as one. Reason says what is wrong; Err, when set, is the underlying
// error.
type ErrCorrupt struct {
	Format Format
	Reason string
	Err    error
}

func (e ErrCorrupt) Error() string {
	what := "document"
	if e.Format != "" {
		what = string(e.Format)
	}
	msg := "extract: corrupt " + what + ": " + e.Reason
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e ErrCorrupt) Unwrap() error { return e.Err }

// ErrTooLarge reports a document, or the text extracted from it, over the
// limit given to Text.
type ErrTooLarge struct {
	What  string // "document", "extracted text", "word/document.xml"
	Limit int64  // bytes
}

func (e ErrTooLarge) Error() string {
	return fmt.Sprintf("extract: %s larger than the limit of %d bytes", e.What, e.Limit)
}

// ErrTooComplex reports a document that goes past a bound extract keeps on
// the memory and work one document may cost: DOCX element nesting,
// attributes on one element, XML tokens, the size of one token; pdftotext's
// run time, CPU time and memory. Files past them are built to exhaust the
// parser (a DOCX "nesting bomb" is a few KB zipped); no real document comes
// near.
type ErrTooComplex struct {
	Format Format
	What   string // e.g. "element nesting in word/document.xml"
	Limit  int64
	Unit   string // "" for a count, else e.g. "bytes", "seconds", "ms"
}

func (e ErrTooComplex) Error() string {
	limit := strconv.FormatInt(e.Limit, 10)
	if e.Unit != "" {
		limit += " " + e.Unit
	}
	return fmt.Sprintf("extract: %s too complex: %s over the limit of %s (refused as a possible parser bomb)",
		e.Format, e.What, limit)
}

// ErrMissingTool reports that an external program extract needs is not
// installed. It is not permanent: another worker, or this one after an
// install, can succeed.
type ErrMissingTool struct {
	Tool string // e.g. "pdftotext (poppler-utils)"
	Err  error
}

func (e ErrMissingTool) Error() string {
	return "extract: " + e.Tool + " is not installed: " + e.Err.Error()
}

func (e ErrMissingTool) Unwrap() error { return e.Err }

// IsPermanent reports whether err means the document can never be
// extracted, so retrying is pointless: ErrUnsupported, ErrCorrupt,
// ErrTooLarge and ErrTooComplex anywhere in err's chain.
func IsPermanent(err error) bool {
	var u ErrUnsupported
	var c ErrCorrupt
	var l ErrTooLarge
	var x ErrTooComplex
	return errors.As(err, &u) || errors.As(err, &c) || errors.As(err, &l) || errors.As(err, &x)
}
