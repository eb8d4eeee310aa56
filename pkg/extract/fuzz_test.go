package extract_test

import (
	"archive/zip"
	"bytes"
	"encoding/xml"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/hopperq/hopper/pkg/extract"
	"github.com/hopperq/hopper/pkg/extract/extracttest"
)

// fuzzMax is the size limit the fuzz targets extract with: small, so
// over-limit paths are reached too.
const fuzzMax = 64 << 10

// checkExtracted asserts what holds for every extraction: a permanent,
// typed error or a result within the limit, valid UTF-8 and trimmed.
func checkExtracted(t *testing.T, format extract.Format, doc extract.Document, err error) {
	t.Helper()
	if err != nil {
		var (
			c  extract.ErrCorrupt
			l  extract.ErrTooLarge
			tc extract.ErrTooComplex
		)
		if !errors.As(err, &c) && !errors.As(err, &l) && !errors.As(err, &tc) {
			t.Fatalf("%s: untyped error %T: %v", format, err, err)
		}
		if !extract.IsPermanent(err) {
			t.Fatalf("%s: error not permanent: %v", format, err)
		}
		if doc != (extract.Document{}) {
			t.Fatalf("%s: error with a document: %+v", format, doc)
		}
		return
	}
	if len(doc.Text) > fuzzMax {
		t.Fatalf("%s: %d bytes of text over the limit of %d", format, len(doc.Text), fuzzMax)
	}
	if !utf8.ValidString(doc.Text) || !utf8.ValidString(doc.Title) {
		t.Fatalf("%s: invalid UTF-8 in text %q or title %q", format, doc.Text, doc.Title)
	}
	if doc.Text != strings.TrimSpace(doc.Text) && format != extract.FormatMarkdown {
		t.Fatalf("%s: text not trimmed: %q", format, doc.Text)
	}
	if doc.Pages < 0 {
		t.Fatalf("%s: %d pages", format, doc.Pages)
	}
}

func extractFuzz(t *testing.T, format extract.Format, data []byte) extract.Document {
	t.Helper()
	doc, err := extract.Text(t.Context(), format, bytes.NewReader(data), fuzzMax)
	checkExtracted(t, format, doc, err)
	again, err2 := extract.Text(t.Context(), format, bytes.NewReader(data), fuzzMax)
	if again != doc || (err == nil) != (err2 == nil) {
		t.Fatalf("%s: not deterministic", format)
	}
	return doc
}

// FuzzHTML: any bytes read as HTML give a permanent typed error or text
// within the limit, valid UTF-8, trimmed, a one-line title, the same twice.
func FuzzHTML(f *testing.F) {
	for _, s := range []string{
		"",
		"<!doctype html><html><head><title>T</title><script>x()</script></head><body><h1>H</h1><p>a<br>b</p></body></html>",
		"<table><tr><td>1<td>2</table><pre>  keep\n  this</pre><img alt=pic>",
		"<meta charset=\"iso-8859-1\"><p>caf\xe9</p>",
		"\xef\xbb\xbf<p>bom</p>",
		"<title>a\nb</title><template><p>hidden</p></template><svg><text>no</text></svg>",
		strings.Repeat("<div>", 2000) + "deep" + strings.Repeat("</div>", 2000),
		"<p>\x00\xff\xfe</p>",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		doc := extractFuzz(t, extract.FormatHTML, data)
		if strings.ContainsAny(doc.Title, "\n\t") || doc.Title != strings.TrimSpace(doc.Title) {
			t.Fatalf("title not one trimmed line: %q", doc.Title)
		}
	})
}

// FuzzMarkdown: any bytes read as Markdown give ErrCorrupt exactly when
// they are not UTF-8, else text and title no longer than the input (markup
// is only removed), valid UTF-8, the same twice.
func FuzzMarkdown(f *testing.F) {
	for _, s := range []string{
		"",
		"---\ntitle: \"Front\"\n---\n# Heading #\n\nSetext\n======\n\n[link](http://x) ![alt](i.png) [ref][r] **b** ~~s~~ `c`\n\n[r]: http://y\n",
		"```go\ncode\n```\n> quote\n> > nested\n\n| a | b |\n| --- | :-: |\n| 1 | 2 |\n***\n",
		"[[[[[[[[[[x](y)](z)",
		"\\*not emphasis\\* \\[not link\\]",
		"\xef\xbb\xbf# BOM\r\nline\r\n",
		"caf\xe9",
		"~~~\nunclosed fence",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > fuzzMax {
			return
		}
		doc := extractFuzz(t, extract.FormatMarkdown, data)
		valid := utf8.Valid(bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")))
		_, err := extract.Text(t.Context(), extract.FormatMarkdown, bytes.NewReader(data), fuzzMax)
		if valid != (err == nil) {
			t.Fatalf("valid UTF-8 %v but error %v", valid, err)
		}
		if len(doc.Text) > len(data) || len(doc.Title) > len(data) {
			t.Fatalf("output longer than input: %d text, %d title, %d in", len(doc.Text), len(doc.Title), len(data))
		}
	})
}

// xmlShape measures an XML document as the decoder sees it: deepest
// nesting, most attributes on one element, tokens, and the largest span
// of input one token took.
type xmlShape struct {
	depth, attrs, tokens int
	span                 int64
	err                  error
}

func measureXML(data []byte) xmlShape {
	var s xmlShape
	dec := xml.NewDecoder(bytes.NewReader(data))
	depth := 0
	var last int64
	for {
		tok, err := dec.Token()
		if err != nil {
			s.err = err
			return s
		}
		s.tokens++
		s.span = max(s.span, dec.InputOffset()-last)
		last = dec.InputOffset()
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			s.depth = max(s.depth, depth)
			s.attrs = max(s.attrs, len(t.Attr))
		case xml.EndElement:
			depth--
		}
	}
}

// zipped returns a zip holding data as word/document.xml.
func zipped(t *testing.T, data []byte) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.CreateHeader(&zip.FileHeader{Name: "word/document.xml", Method: zip.Store})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// FuzzDOCX: bytes read as a DOCX file, and as its word/document.xml
// (zipped, then also within small structural limits), give a permanent
// typed error or text within the limit. Within the small limits, success
// means the XML really is within them (measured independently), and a
// limit error names a limit the XML really exceeds.
func FuzzDOCX(f *testing.F) {
	f.Add(extracttest.DOCX(f, "Hello", "Tab\there", "Line\nbreak"))
	f.Add(extracttest.NestingBombDOCX(f, 40))
	f.Add([]byte(`<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>` +
		`<w:p><w:r><w:t xml:space="preserve">A &amp; B</w:t><w:tab/><w:br w:type="page"/><w:noBreakHyphen/></w:r></w:p>` +
		`<w:tbl><w:tr><w:tc><w:p><w:r><w:t>cell</w:t></w:r></w:p></w:tc></w:tr></w:tbl></w:body></w:document>`))
	f.Add([]byte(`<w:document xmlns:w="http://purl.oclc.org/ooxml/wordprocessingml/main"><w:body><w:p a="1" b="2" c="3" d="4" e="5" f="6" g="7" h="8" i="9"/></w:body></w:document>`))
	f.Add([]byte(`<a>` + strings.Repeat("<b>", 20) + strings.Repeat("</b>", 20) + `</a>`))
	f.Add([]byte(`<!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>`))
	f.Add([]byte("<x><!--" + strings.Repeat("c", 300) + "--></x>"))
	f.Add([]byte("PK\x03\x04 not really a zip"))
	f.Fuzz(fuzzDOCX)
}

// fuzzDOCX is FuzzDOCX's body.
func fuzzDOCX(t *testing.T, data []byte) {
	if len(data) > fuzzMax {
		return
	}
	extractFuzz(t, extract.FormatDOCX, data)
	extractFuzz(t, extract.FormatDOCX, zipped(t, data))

	text, err := extract.DOCXXMLSmallLimits(t.Context(), bytes.NewReader(data), fuzzMax)
	checkExtracted(t, extract.FormatDOCX, extract.Document{Text: text}, err)
	shape := measureXML(data)
	lim := extract.SmallXMLLimits
	var tc extract.ErrTooComplex
	switch {
	case err == nil:
		if shape.depth > lim.Depth || shape.attrs > lim.Attrs || shape.tokens > lim.Tokens || shape.span > int64(lim.TokenBytes)+1 {
			t.Fatalf("accepted XML past the limits: %+v", shape)
		}
	case errors.As(err, &tc):
		exceeded := map[string]bool{
			"element nesting in word/document.xml":           shape.depth > lim.Depth,
			"attributes on one element in word/document.xml": shape.attrs > lim.Attrs,
			"XML tokens in word/document.xml":                shape.tokens > lim.Tokens,
			// The decoder may fail later on what was cut short.
			"one text run or tag in word/document.xml": shape.span >= int64(lim.TokenBytes) || shape.err != nil,
		}
		if !exceeded[tc.What] {
			t.Fatalf("refused %q, but the XML is %+v", tc.What, shape)
		}
	}
}
