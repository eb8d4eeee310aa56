package extract

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"time"
)

// DefaultMaxBytes is the limit Text applies when given maxBytes <= 0.
const DefaultMaxBytes int64 = 32 << 20

// Document is the text extracted from one document.
type Document struct {
	// Title is the document's own title when it has one: HTML <title>, the
	// first Markdown heading, DOCX core properties. Empty otherwise.
	Title string
	// Text is the extracted text, paragraphs separated by blank lines. It is
	// not normalized yet: pass it to Normalize before Chunk.
	Text string
	// Pages is the page count of a PDF, or of a DOCX when it records one;
	// 0 when unknown or not applicable.
	Pages int
}

// Extractor extracts text. Its zero value is ready to use and finds
// pdftotext on PATH.
type Extractor struct {
	// PDFToText is the pdftotext program, a name looked up on PATH or a
	// path. Empty means "pdftotext".
	PDFToText string
	// PDFTimeout bounds one pdftotext run; 0 means DefaultPDFTimeout.
	PDFTimeout time.Duration
	// PDFMemoryLimit bounds pdftotext's address space (RLIMIT_AS, Linux
	// only), in bytes; 0 means DefaultPDFMemoryLimit.
	PDFMemoryLimit int64
	// PDFCPULimit bounds pdftotext's CPU time (RLIMIT_CPU, Linux only),
	// rounded up to whole seconds; 0 means DefaultPDFCPULimit.
	PDFCPULimit time.Duration
}

// Text extracts the text of a document with the zero Extractor.
// See Extractor.Text.
func Text(ctx context.Context, format Format, r io.Reader, maxBytes int64) (Document, error) {
	return Extractor{}.Text(ctx, format, r, maxBytes)
}

// Text reads a document of the given format from r and returns its text.
//
// maxBytes (DefaultMaxBytes when <= 0) bounds both the document read from r
// and the text extracted from it; over it Text returns ErrTooLarge. A
// document that cannot be read as format returns ErrCorrupt, an unknown
// format ErrUnsupported. Cancelling ctx stops the extraction (and kills
// pdftotext) and returns ctx's error.
func (x Extractor) Text(ctx context.Context, format Format, r io.Reader, maxBytes int64) (Document, error) {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxBytes
	}
	if err := ctx.Err(); err != nil {
		return Document{}, fmt.Errorf("extract %s: %w", format, err)
	}
	var (
		doc Document
		err error
	)
	switch format {
	case FormatText, FormatMarkdown, FormatHTML, FormatDOCX:
		var data []byte
		data, err = readAll(ctx, r, maxBytes)
		if err != nil {
			return Document{}, err
		}
		switch format {
		case FormatText:
			doc, err = plainText(data)
		case FormatMarkdown:
			doc, err = markdownText(data)
		case FormatHTML:
			doc, err = htmlText(ctx, data)
		case FormatDOCX:
			doc, err = docxText(ctx, data, maxBytes)
		}
	case FormatPDF:
		doc, err = x.pdfText(ctx, r, maxBytes)
	default:
		return Document{}, ErrUnsupported{Detected: fmt.Sprintf("format %q", format)}
	}
	if err != nil {
		return Document{}, err
	}
	if int64(len(doc.Text)) > maxBytes {
		return Document{}, ErrTooLarge{What: "extracted text", Limit: maxBytes}
	}
	return doc, nil
}

// readAll reads r up to limit bytes, checking ctx between reads.
func readAll(ctx context.Context, r io.Reader, limit int64) ([]byte, error) {
	var buf bytes.Buffer
	_, err := buf.ReadFrom(io.LimitReader(ctxReader{ctx: ctx, r: r}, limit+1))
	if err != nil {
		return nil, fmt.Errorf("extract: read document: %w", err)
	}
	if int64(buf.Len()) > limit {
		return nil, ErrTooLarge{What: "document", Limit: limit}
	}
	return buf.Bytes(), nil
}

// ctxReader fails reads once ctx is done, so a slow upload stream does not
// outlive the job.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// limitedBuffer keeps at most limit bytes. Past that, Write fails with
// io.ErrShortWrite (strict) or silently drops the rest (!strict); overflow
// records that it happened.
type limitedBuffer struct {
	buf      bytes.Buffer
	limit    int64
	strict   bool
	overflow bool
}

var _ io.Writer = (*limitedBuffer)(nil)

func (b *limitedBuffer) Write(p []byte) (int, error) {
	room := b.limit - int64(b.buf.Len())
	if int64(len(p)) <= room {
		return b.buf.Write(p)
	}
	b.overflow = true
	if room > 0 {
		b.buf.Write(p[:room])
	}
	if b.strict {
		return int(max(room, 0)), io.ErrShortWrite
	}
	return len(p), nil
}
