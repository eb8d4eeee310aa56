package extract_test

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hopperq/hopper/pkg/extract"
	"github.com/hopperq/hopper/pkg/extract/extracttest"
)

const knownSentence = "The quick brown fox jumps over the lazy dog near Hopper's queue."

// needPDFToText fails (not skips) without pdftotext: scripts/deps.sh
// installs it, and a silent skip would hide a broken PDF path.
func needPDFToText(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("pdftotext"); err != nil {
		t.Fatalf("pdftotext (poppler-utils) is not installed; run scripts/deps.sh: %v", err)
	}
}

func TestText(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		format    extract.Format
		input     []byte
		pdf       bool
		title     string
		pages     int
		contains  []string
		forbidden []string
		exact     string // when set, Normalize(Text) must equal it
		empty     bool   // Text must be empty
	}{
		{
			name:   "txt",
			format: extract.FormatText,
			input:  []byte("\xef\xbb\xbfHello, world.\n\nSecond paragraph: café."),
			exact:  "Hello, world.\n\nSecond paragraph: café.",
		},
		{
			name:   "md",
			format: extract.FormatMarkdown,
			input: []byte("# Getting started\n\nRead the [guide](https://example.com/guide) and ![the logo](logo.png).\n" +
				"Use **bold**, `code` and ~~old~~ text, see [docs][1].\n\n> quoted line\n\n---\n\n" +
				"| a | b |\n|---|:-:|\n| 1 | 2 |\n\n```go\n# not a heading\nfmt.Println(\"x\")\n```\n\n## Next ##\n\n[1]: https://example.com/docs\n"),
			title: "Getting started",
			contains: []string{
				"Getting started\n\nRead the guide and the logo.",
				"Use bold, code and old text, see docs.",
				"quoted line", "| 1 | 2 |", "# not a heading", "fmt.Println(\"x\")", "Next",
			},
			forbidden: []string{"https://", "**", "`", "](", "---", "|---", "##", "> "},
		},
		{
			name:   "md setext title",
			format: extract.FormatMarkdown,
			input:  []byte("Intro words\n\nThe Title\n=========\n\nBody.\n"),
			title:  "The Title",
			exact:  "Intro words\n\nThe Title\n\nBody.",
		},
		{
			name:   "md front matter",
			format: extract.FormatMarkdown,
			input:  []byte("---\ntitle: \"From YAML\"\ntags: [a]\n---\n# Heading\n\nBody.\n"),
			title:  "From YAML",
			exact:  "Heading\n\nBody.",
		},
		{
			name:   "html",
			format: extract.FormatHTML,
			input: []byte(`<!DOCTYPE html><html><head><title> My   Page </title>
<style>body { color: red }</style><script>var secret = "in head";</script></head>
<body><nav><a href="/">Home</a> | <a href="/x">Menu item</a></nav>
<h1>Heading</h1><p>First   paragraph
spans lines with <b>bold</b> and <a href="#">a link</a>.</p>
<script>alert("boom")</script><noscript>enable js</noscript>
<ul><li>one</li><li>two</li></ul><p>Line<br>break &amp; entity</p>
<table><tr><td>c1</td><td>c2</td></tr></table><pre>  keep   this</pre><img alt="diagram of queues" src="x.png"></body></html>`),
			title: "My Page",
			contains: []string{
				"Heading\n\nFirst paragraph spans lines with bold and a link.",
				"one\ntwo", "Line\nbreak & entity", "c1 c2", "keep this", "diagram of queues",
			},
			forbidden: []string{"color: red", "secret", "boom", "Menu item", "Home", "enable js", "<", "My Page\n"},
		},
		{
			name:   "html in windows-1252 without a declaration",
			format: extract.FormatHTML,
			input:  []byte("<p>caf\xe9 cr\xe8me</p>"),
			exact:  "café crème",
		},
		{
			name:   "html with a declared charset",
			format: extract.FormatHTML,
			input:  []byte("<html><head><meta charset=\"koi8-r\"><title>\xf0\xd2\xc9\xd7\xc5\xd4</title></head><body><p>\xd0\xd2\xc9\xd7\xc5\xd4, \xcd\xc9\xd2</p></body></html>"),
			title:  "Привет",
			exact:  "привет, мир",
		},
		{
			name:     "pdf",
			format:   extract.FormatPDF,
			input:    extracttest.PDF(t, knownSentence),
			pdf:      true,
			pages:    1,
			contains: []string{knownSentence},
		},
		{
			name:   "pdf without text (scanned)",
			format: extract.FormatPDF,
			input:  extracttest.PDF(t, ""),
			pdf:    true,
			pages:  1,
			empty:  true,
		},
		{
			name:     "pdf two pages",
			format:   extract.FormatPDF,
			input:    extracttest.PDF(t, "First page text.\fSecond page text."),
			pdf:      true,
			pages:    2,
			contains: []string{"First page text.\n\nSecond page text."},
		},
		{
			name:   "docx",
			format: extract.FormatDOCX,
			input:  extracttest.DOCX(t, knownSentence, "Name\tValue", "Line one\nLine two", "Ampersand & <angle> brackets"),
			exact:  knownSentence + "\n\nName Value\n\nLine one\nLine two\n\nAmpersand & <angle> brackets",
		},
		{
			name:   "docx with properties and strict namespace",
			format: extract.FormatDOCX,
			input: extracttest.Zip(t, map[string]string{
				"[Content_Types].xml": `<Types/>`,
				"word/document.xml": `<w:document xmlns:w="http://purl.oclc.org/ooxml/wordprocessingml/main"><w:body>` +
					`<w:p><w:r><w:t>Kept</w:t></w:r><w:r><w:delText>deleted</w:delText></w:r><w:r><w:instrText>PAGE</w:instrText></w:r></w:p>` +
					`<w:p><w:r><w:t xml:space="preserve">after </w:t><w:br w:type="page"/><w:t>break</w:t></w:r></w:p></w:body></w:document>`,
				"docProps/core.xml": `<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>Quarterly Report</dc:title></cp:coreProperties>`,
				"docProps/app.xml":  `<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/extended-properties"><Pages>3</Pages></Properties>`,
			}),
			title:     "Quarterly Report",
			pages:     3,
			exact:     "Kept\n\nafter\n\nbreak",
			forbidden: []string{"deleted", "PAGE"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if tc.pdf {
				needPDFToText(t)
			}
			doc, err := extract.Text(t.Context(), tc.format, bytes.NewReader(tc.input), 1<<20)
			require.NoError(t, err)
			assert.Equal(t, tc.title, doc.Title)
			assert.Equal(t, tc.pages, doc.Pages)
			text := extract.Normalize(doc.Text)
			if tc.exact != "" || tc.empty {
				assert.Equal(t, tc.exact, text)
			}
			for _, s := range tc.contains {
				assert.Contains(t, text, s)
			}
			for _, s := range tc.forbidden {
				assert.NotContains(t, text, s)
			}
		})
	}
}

func TestTextErrors(t *testing.T) {
	t.Parallel()
	pdf := extracttest.PDF(t, knownSentence)
	random := make([]byte, 2048)
	for i := range random {
		random[i] = byte(i*197 + 3)
	}
	bigText := extracttest.PDF(t, strings.Repeat("many words here ", 200))
	longDOCX := extracttest.DOCX(t, strings.Repeat("z", 200_000)) // ~1 KB zipped
	bomb := extracttest.Zip(t, map[string]string{"word/document.xml": `<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>` +
		strings.Repeat("<w:r/>", 100_000) + `</w:body></w:document>`}) // markup only, no text
	tests := []struct {
		name      string
		format    extract.Format
		input     []byte
		maxBytes  int64
		pdf       bool
		wantType  string // "corrupt", "unsupported", "toolarge"
		msg       []string
		permanent bool
	}{
		{name: "txt invalid utf-8", format: extract.FormatText, input: []byte("caf\xe9 au lait"), wantType: "corrupt", msg: []string{"invalid UTF-8 at byte 3", "0xe9"}},
		{name: "txt utf-16", format: extract.FormatText, input: []byte("\xff\xfeh\x00i\x00"), wantType: "corrupt", msg: []string{"UTF-16"}},
		{name: "md invalid utf-8", format: extract.FormatMarkdown, input: []byte("# T\n\xff"), wantType: "corrupt", msg: []string{"corrupt md", "invalid UTF-8"}},
		{name: "truncated pdf", format: extract.FormatPDF, input: pdf[:len(pdf)/2], pdf: true, wantType: "corrupt", msg: []string{"corrupt pdf", "pdftotext: Syntax Error"}},
		{name: "garbage pdf", format: extract.FormatPDF, input: random, pdf: true, wantType: "corrupt", msg: []string{"corrupt pdf", "pdftotext:"}},
		{name: "random bytes docx", format: extract.FormatDOCX, input: random, wantType: "corrupt", msg: []string{"corrupt docx", "not a zip archive"}},
		{name: "docx without document.xml", format: extract.FormatDOCX, input: extracttest.Zip(t, map[string]string{"a.txt": "x"}), wantType: "corrupt", msg: []string{"no word/document.xml"}},
		{name: "docx with broken xml", format: extract.FormatDOCX, input: extracttest.Zip(t, map[string]string{"word/document.xml": `<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body><w:p>`}), wantType: "corrupt", msg: []string{"malformed word/document.xml"}},
		{name: "truncated docx", format: extract.FormatDOCX, input: extracttest.DOCX(t, knownSentence)[:100], wantType: "corrupt", msg: []string{"corrupt docx"}},
		{name: "unknown format", format: extract.Format("odt"), input: []byte("x"), wantType: "unsupported", msg: []string{`"odt"`}},
		{name: "txt too large", format: extract.FormatText, input: bytes.Repeat([]byte("a"), 101), maxBytes: 100, wantType: "toolarge", msg: []string{"document larger than the limit of 100 bytes"}},
		{name: "pdf too large", format: extract.FormatPDF, input: pdf, maxBytes: 100, pdf: true, wantType: "toolarge", msg: []string{"document larger"}},
		{name: "pdf text too large", format: extract.FormatPDF, input: bigText, maxBytes: int64(len(bigText)), pdf: true, wantType: "toolarge", msg: []string{"extracted text larger"}},
		{name: "docx text too large", format: extract.FormatDOCX, input: longDOCX, maxBytes: int64(len(longDOCX)), wantType: "toolarge", msg: []string{"extracted text larger"}},
		{name: "docx xml bomb", format: extract.FormatDOCX, input: bomb, maxBytes: int64(len(bomb)), wantType: "toolarge", msg: []string{"word/document.xml larger"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if tc.pdf {
				needPDFToText(t)
			}
			max := tc.maxBytes
			if max == 0 {
				max = 1 << 20
			}
			_, err := extract.Text(t.Context(), tc.format, bytes.NewReader(tc.input), max)
			require.Error(t, err)
			for _, m := range tc.msg {
				assert.Contains(t, err.Error(), m)
			}
			assert.True(t, extract.IsPermanent(err), "permanent: %v", err)
			switch tc.wantType {
			case "corrupt":
				var c extract.ErrCorrupt
				assert.True(t, errors.As(err, &c), "want ErrCorrupt, got %T: %v", err, err)
			case "unsupported":
				var u extract.ErrUnsupported
				assert.True(t, errors.As(err, &u), "want ErrUnsupported, got %T: %v", err, err)
			case "toolarge":
				var l extract.ErrTooLarge
				assert.True(t, errors.As(err, &l), "want ErrTooLarge, got %T: %v", err, err)
			}
		})
	}
}

func TestTextMissingPDFToText(t *testing.T) {
	t.Parallel()
	x := extract.Extractor{PDFToText: "/nonexistent/bin/pdftotext"}
	_, err := x.Text(t.Context(), extract.FormatPDF, bytes.NewReader(extracttest.PDF(t, knownSentence)), 1<<20)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "pdftotext (poppler-utils)")
	var m extract.ErrMissingTool
	require.True(t, errors.As(err, &m))
	assert.False(t, extract.IsPermanent(err), "a missing tool is a deployment problem; another worker may have it")
	require.Error(t, x.CheckPDF())

	// Other formats do not need it.
	_, err = x.Text(t.Context(), extract.FormatText, strings.NewReader("hi"), 0)
	require.NoError(t, err)
}

func TestTextCancelled(t *testing.T) {
	t.Parallel()
	formats := []struct {
		format extract.Format
		input  []byte
		pdf    bool
	}{
		{extract.FormatText, []byte("hello"), false},
		{extract.FormatHTML, []byte("<p>hello</p>"), false},
		{extract.FormatDOCX, extracttest.DOCX(t, "hello"), false},
		{extract.FormatPDF, extracttest.PDF(t, "hello"), true},
	}
	for _, tc := range formats {
		t.Run(string(tc.format), func(t *testing.T) {
			t.Parallel()
			if tc.pdf {
				needPDFToText(t)
			}
			ctx, cancel := context.WithCancel(t.Context())
			cancel()
			_, err := extract.Text(ctx, tc.format, bytes.NewReader(tc.input), 0)
			require.ErrorIs(t, err, context.Canceled)
			assert.False(t, extract.IsPermanent(err))
		})
	}
}

// blockingReader hands out a PDF header, then blocks until ctx is done,
// like a stalled upload; reading says when the second read began.
type blockingReader struct {
	ctx     context.Context
	reading chan struct{}
	calls   int
}

func (b *blockingReader) Read(p []byte) (int, error) {
	b.calls++
	if b.calls == 1 {
		return copy(p, "%PDF-1.4\n"), nil
	}
	if b.calls == 2 {
		close(b.reading)
	}
	<-b.ctx.Done()
	return 0, b.ctx.Err()
}

func TestTextCancelWhileReadingPDF(t *testing.T) {
	t.Parallel()
	needPDFToText(t)
	ctx, cancel := context.WithCancel(t.Context())
	r := &blockingReader{ctx: ctx, reading: make(chan struct{})}
	done := make(chan error, 1)
	go func() {
		_, err := extract.Text(ctx, extract.FormatPDF, r, 0)
		done <- err
	}()
	<-r.reading // pdftotext is running and waiting for the rest
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)
}

func TestIsPermanent(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  error
		want bool
	}{
		{extract.ErrUnsupported{Detected: "image/png"}, true},
		{extract.ErrCorrupt{Format: extract.FormatPDF, Reason: "x"}, true},
		{extract.ErrTooLarge{What: "document", Limit: 1}, true},
		{errors.Join(errors.New("ingest"), extract.ErrCorrupt{Reason: "x"}), true},
		{extract.ErrMissingTool{Tool: "pdftotext (poppler-utils)", Err: exec.ErrNotFound}, false},
		{context.DeadlineExceeded, false},
		{errors.New("io"), false},
		{nil, false},
	}
	for _, tc := range tests {
		assert.Equal(t, tc.want, extract.IsPermanent(tc.err), "%v", tc.err)
	}
	assert.Equal(t, "extract: unsupported document type image/png (supported: txt, md, html, pdf, docx)",
		extract.ErrUnsupported{Detected: "image/png"}.Error())
}
