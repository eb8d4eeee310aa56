// Package extracttest builds small documents for tests of code that uses
// package extract (unit tests and the end-to-end tests that upload them),
// so no binary fixture is committed.
package extracttest

import (
	"archive/zip"
	"bytes"
	"encoding/xml"
	"image"
	"image/color"
	"image/png"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-pdf/fpdf"
)

// fixedTime makes generated files byte-for-byte reproducible.
func fixedTime() time.Time { return time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC) }

// PDF returns a PDF whose pages hold text (Helvetica 12, wrapped). Each form
// feed (\f) in text starts a new page. Characters outside Latin-1 are not
// representable in the core fonts and come out as '?'-like glyphs.
func PDF(t testing.TB, text string) []byte {
	t.Helper()
	doc := fpdf.New("P", "mm", "A4", "")
	doc.SetCreationDate(fixedTime())
	doc.SetModificationDate(fixedTime())
	doc.SetCreator("extracttest", true)
	doc.SetFont("Helvetica", "", 12)
	tr := doc.UnicodeTranslatorFromDescriptor("") // UTF-8 → cp1252
	for _, page := range strings.Split(text, "\f") {
		doc.AddPage()
		doc.MultiCell(0, 6, tr(page), "", "L", false)
	}
	var buf bytes.Buffer
	if err := doc.Output(&buf); err != nil {
		t.Fatalf("extracttest: generate PDF: %v", err)
	}
	return buf.Bytes()
}

// DOCX returns a minimal Word document with one paragraph (w:p) per
// argument. Inside a paragraph, \t becomes w:tab and \n becomes w:br.
func DOCX(t testing.TB, paragraphs ...string) []byte {
	t.Helper()
	var body strings.Builder
	for _, p := range paragraphs {
		body.WriteString("<w:p><w:r>")
		for i, line := range strings.Split(p, "\n") {
			if i > 0 {
				body.WriteString("<w:br/>")
			}
			for j, cell := range strings.Split(line, "\t") {
				if j > 0 {
					body.WriteString("<w:tab/>")
				}
				if cell == "" {
					continue
				}
				body.WriteString(`<w:t xml:space="preserve">`)
				if err := xml.EscapeText(&body, []byte(cell)); err != nil {
					t.Fatalf("extracttest: escape DOCX text: %v", err)
				}
				body.WriteString("</w:t>")
			}
		}
		body.WriteString("</w:r></w:p>")
	}
	return Zip(t, map[string]string{
		"[Content_Types].xml": docxContentTypes,
		"_rels/.rels":         docxRels,
		"word/document.xml":   docxDocumentHead + body.String() + docxDocumentTail,
	})
}

// DOCXBody returns a Word document whose w:body holds bodyXML as given,
// for documents DOCX cannot describe (hostile structures, odd markup).
func DOCXBody(t testing.TB, bodyXML string) []byte {
	t.Helper()
	return Zip(t, map[string]string{
		"[Content_Types].xml": docxContentTypes,
		"_rels/.rels":         docxRels,
		"word/document.xml":   docxDocumentHead + bodyXML + docxDocumentTail,
	})
}

// NestingBombDOCX returns a well-formed Word document whose body nests
// depth w:r elements, then a paragraph of text, and closes them again: a
// million levels zip to about 17 KB, and a parser without a depth limit
// holds hundreds of MiB for them.
func NestingBombDOCX(t testing.TB, depth int) []byte {
	t.Helper()
	return DOCXBody(t, strings.Repeat("<w:r>", depth)+"<w:p><w:r><w:t>bottom</w:t></w:r></w:p>"+strings.Repeat("</w:r>", depth))
}

// Zip returns a zip archive of the given files; "[Content_Types].xml" and
// then "_rels/.rels" come first, as Word writes them, the rest in name
// order. It serves to build DOCX variants (extra parts, broken XML).
func Zip(t testing.TB, files map[string]string) []byte {
	t.Helper()
	names := make([]string, 0, len(files))
	for _, first := range []string{"[Content_Types].xml", "_rels/.rels"} {
		if _, ok := files[first]; ok {
			names = append(names, first)
		}
	}
	var rest []string
	for name := range files {
		if name != "[Content_Types].xml" && name != "_rels/.rels" {
			rest = append(rest, name)
		}
	}
	slices.Sort(rest)
	names = append(names, rest...)

	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, name := range names {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Deflate, Modified: fixedTime()})
		if err != nil {
			t.Fatalf("extracttest: zip %s: %v", name, err)
		}
		if _, err := w.Write([]byte(files[name])); err != nil {
			t.Fatalf("extracttest: zip %s: %v", name, err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatalf("extracttest: zip: %v", err)
	}
	return buf.Bytes()
}

// PNG returns a small PNG image, for "unsupported type" cases.
func PNG(t testing.TB) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 4, 4))
	for x := range 4 {
		img.Set(x, x, color.RGBA{R: 255, A: 255})
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatalf("extracttest: encode PNG: %v", err)
	}
	return buf.Bytes()
}

const docxContentTypes = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">` +
	`<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>` +
	`<Default Extension="xml" ContentType="application/xml"/>` +
	`<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/>` +
	`</Types>`

const docxRels = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">` +
	`<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/>` +
	`</Relationships>`

const docxDocumentHead = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>`

const docxDocumentTail = `<w:sectPr/></w:body></w:document>`
