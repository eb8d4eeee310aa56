package extract

import (
	"archive/zip"
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

func docxBody(ctx context.Context, f *zip.File, maxText int64) (string, error) {
	rc, err := f.Open()
	if err != nil {
		return "", ErrCorrupt{Format: FormatDOCX, Reason: "cannot open word/document.xml", Err: err}
	}
	defer rc.Close()
	xmlLimit := maxText * docxXMLExpansion
	lr := &io.LimitedReader{R: rc, N: xmlLimit + 1}
	dec := xml.NewDecoder(lr)
	var (
		out    strings.Builder
		inText int // depth inside w:t
		tokens int
	)
	for {
		tokens++
		if tokens%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return "", fmt.Errorf("extract docx: %w", err)
			}
		}
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if lr.N <= 0 {
				return "", ErrTooLarge{What: "word/document.xml", Limit: xmlLimit}
			}
			return "", ErrCorrupt{Format: FormatDOCX, Reason: "malformed word/document.xml", Err: err}
		}
		switch t := tok.(type) {
		case xml.StartElement:
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

// docxProperty returns the text of the first element named local in a
// small docProps part.
func docxProperty(f *zip.File, local string, limit int64) (string, error) {
	rc, err := f.Open()
	if err != nil {
		return "", err
	}
	defer rc.Close()
	dec := xml.NewDecoder(io.LimitReader(rc, limit))
	depth := 0
	var b strings.Builder
	for {
		tok, err := dec.Token()
		if err != nil {
			return "", err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if t.Name.Local == local {
				depth++
			}
		case xml.EndElement:
			if t.Name.Local == local && depth > 0 {
				return strings.TrimSpace(b.String()), nil
			}
		case xml.CharData:
			if depth > 0 {
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
