package extract

import (
	"archive/zip"
	"bufio"
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// WordprocessingML namespaces: transitional (what Word writes) and strict.
const (
	nsWordTransitional = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
	nsWordStrict       = "http://purl.oclc.org/ooxml/wordprocessingml/main"
)

// docxXMLExpansion bounds word/document.xml, decompressed, at this many
// times the text limit: markup is much larger than the text it holds, and
// the bound stops zip bombs.
const docxXMLExpansion = 16

// docxText reads the text of a .docx: paragraphs of word/document.xml
// become paragraphs, w:tab a tab, w:br and w:cr line breaks. Title and page
// count come from docProps when present. Headers, footers, footnotes and
// comments are not read.
func docxText(ctx context.Context, data []byte, maxText int64) (Document, error) {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return Document{}, ErrCorrupt{Format: FormatDOCX, Reason: "not a zip archive", Err: err}
	}
	var body, core, app *zip.File
	for _, f := range zr.File {
		switch f.Name {
		case "word/document.xml":
			body = f
		case "docProps/core.xml":
			core = f
		case "docProps/app.xml":
			app = f
		}
	}
	if body == nil {
		return Document{}, ErrCorrupt{Format: FormatDOCX, Reason: "no word/document.xml in the archive"}
	}
	text, err := docxBody(ctx, body, maxText)
	if err != nil {
		return Document{}, err
	}
	doc := Document{Text: text}
	// docProps are optional metadata: a broken one does not fail the text.
	if core != nil {
		doc.Title, _ = docxProperty(core, "title", maxText)
	}
	if app != nil {
		if s, err := docxProperty(app, "Pages", maxText); err == nil {
			doc.Pages, _ = strconv.Atoi(s)
		}
	}
	return doc, nil
}

// xmlLimits bound what a hostile XML part can make encoding/xml hold or
// do. The decoder keeps one stack entry per open element and per namespace
// declaration of each open element, and buffers a whole token (a text run,
// a tag with its attributes, a comment) before returning it; the size limit
// of the decompressed part alone does not bound either, so a 9 KB upload
// of nested elements made it hold 321 MiB.
type xmlLimits struct {
	depth      int   // open elements
	attrs      int   // attributes (namespace declarations included) on one element
	tokens     int   // tokens in the part
	tokenBytes int64 // bytes of one token
}

// docxLimits are far above what Word writes: its nesting stays under ~40
// levels even for tables in tables, its root element carries ~40
// namespace declarations, and a 1,000-page document is about a million
// tokens. At these bounds the decoder holds at most a few MiB.
var docxLimits = xmlLimits{depth: 256, attrs: 1024, tokens: 4_000_000, tokenBytes: 1 << 20}

func docxBody(ctx context.Context, f *zip.File, maxText int64) (string, error) {
	rc, err := f.Open()
	if err != nil {
		return "", ErrCorrupt{Format: FormatDOCX, Reason: "cannot open word/document.xml", Err: err}
	}
	defer rc.Close()
	return docxXML(ctx, rc, maxText, docxLimits)
}

// docxXML reads the text of word/document.xml from r; see docxText.
func docxXML(ctx context.Context, r io.Reader, maxText int64, lim xmlLimits) (string, error) {
	xmlLimit := maxText * docxXMLExpansion
	lr := &io.LimitedReader{R: r, N: xmlLimit + 1}
	tr := &tokenBoundReader{r: bufio.NewReader(lr), limit: lim.tokenBytes}
	dec := xml.NewDecoder(tr)
	complex := func(what string, limit int64, unit string) error {
		return ErrTooComplex{Format: FormatDOCX, What: what + " in word/document.xml", Limit: limit, Unit: unit}
	}
	var (
		out    strings.Builder
		inText int // depth inside w:t
		depth  int // open elements
		tokens int
	)
	for {
		tokens++
		if tokens%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return "", fmt.Errorf("extract docx: %w", err)
			}
		}
		tr.tokenStart()
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			switch {
			case tr.exceeded:
				return "", complex("one text run or tag", lim.tokenBytes, "bytes")
			case lr.N <= 0:
				return "", ErrTooLarge{What: "word/document.xml", Limit: xmlLimit}
			}
			return "", ErrCorrupt{Format: FormatDOCX, Reason: "malformed word/document.xml", Err: err}
		}
		if tokens > lim.tokens {
			return "", complex("XML tokens", int64(lim.tokens), "")
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			if depth > lim.depth {
				return "", complex("element nesting", int64(lim.depth), "")
			}
			if len(t.Attr) > lim.attrs {
				return "", complex("attributes on one element", int64(lim.attrs), "")
			}
			if !isWordNS(t.Name.Space) {
				continue
			}
			switch t.Name.Local {
			case "t":
				inText++
			case "tab", "ptab":
				out.WriteByte('\t')
			case "br", "cr":
				if attr(t, "type") == "page" {
					out.WriteString("\n\n")
				} else {
					out.WriteByte('\n')
				}
			case "noBreakHyphen":
				out.WriteByte('-')
			}
		case xml.EndElement:
			depth--
			if !isWordNS(t.Name.Space) {
				continue
			}
			switch t.Name.Local {
			case "t":
				inText = max(inText-1, 0)
			case "p":
				out.WriteString("\n\n")
			case "tc":
				out.WriteByte('\t')
			}
		case xml.CharData:
			if inText > 0 {
				out.Write(t)
			}
		}
		if int64(out.Len()) > maxText+2 {
			return "", ErrTooLarge{What: "extracted text", Limit: maxText}
		}
	}
	if lr.N <= 0 {
		return "", ErrTooLarge{What: "word/document.xml", Limit: xmlLimit}
	}
	return strings.TrimSpace(out.String()), nil
}

// tokenBoundReader feeds an xml.Decoder (which reads through ReadByte when
// it can) and fails once more than limit bytes were read since tokenStart:
// the decoder buffers a whole token before returning it, so this bounds
// that buffer, and the attributes one tag can carry.
type tokenBoundReader struct {
	r        *bufio.Reader
	limit    int64
	n        int64 // bytes read since tokenStart
	exceeded bool
}

var errTokenTooLarge = errors.New("XML token over the size limit")

func (b *tokenBoundReader) tokenStart() { b.n = 0 }

func (b *tokenBoundReader) ReadByte() (byte, error) {
	if b.n >= b.limit {
		b.exceeded = true
		return 0, errTokenTooLarge
	}
	c, err := b.r.ReadByte()
	if err == nil {
		b.n++
	}
	return c, err
}

// Read is there for io.Reader; the decoder uses ReadByte.
func (b *tokenBoundReader) Read(p []byte) (int, error) {
	if b.n >= b.limit {
		b.exceeded = true
		return 0, errTokenTooLarge
	}
	p = p[:min(int64(len(p)), b.limit-b.n)]
	n, err := b.r.Read(p)
	b.n += int64(n)
	return n, err
}

// docPropsMaxBytes bounds a docProps part, decompressed: Word writes a
// few KB.
const docPropsMaxBytes = 1 << 20

// docxProperty returns the text of the first element named local in a
// small docProps part, within docxLimits.
func docxProperty(f *zip.File, local string, limit int64) (string, error) {
	rc, err := f.Open()
	if err != nil {
		return "", err
	}
	defer rc.Close()
	lim := docxLimits
	tr := &tokenBoundReader{r: bufio.NewReader(io.LimitReader(rc, min(limit, docPropsMaxBytes))), limit: lim.tokenBytes}
	dec := xml.NewDecoder(tr)
	var (
		b      strings.Builder
		inside bool // in the element wanted
		depth  int
	)
	for tokens := 1; ; tokens++ {
		tr.tokenStart()
		tok, err := dec.Token()
		if err != nil {
			return "", err
		}
		if tokens > lim.tokens {
			return "", ErrTooComplex{Format: FormatDOCX, What: "XML tokens in " + f.Name, Limit: int64(lim.tokens)}
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if depth++; depth > lim.depth {
				return "", ErrTooComplex{Format: FormatDOCX, What: "element nesting in " + f.Name, Limit: int64(lim.depth)}
			}
			if len(t.Attr) > lim.attrs {
				return "", ErrTooComplex{Format: FormatDOCX, What: "attributes on one element in " + f.Name, Limit: int64(lim.attrs)}
			}
			if t.Name.Local == local {
				inside = true
			}
		case xml.EndElement:
			depth--
			if t.Name.Local == local && inside {
				return strings.TrimSpace(b.String()), nil
			}
		case xml.CharData:
			if inside {
				b.Write(t)
			}
		}
	}
}

func isWordNS(space string) bool {
	return space == nsWordTransitional || space == nsWordStrict
}

func attr(e xml.StartElement, local string) string {
	for _, a := range e.Attr {
		if a.Name.Local == local {
			return a.Value
		}
	}
	return ""
}
