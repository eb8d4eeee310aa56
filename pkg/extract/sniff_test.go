package extract_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hopperq/hopper/pkg/extract"
	"github.com/hopperq/hopper/pkg/extract/extracttest"
)

func TestSniff(t *testing.T) {
	t.Parallel()
	pdf := extracttest.PDF(t, "A known sentence.")
	docx := extracttest.DOCX(t, "Hello")
	tests := []struct {
		name     string
		head     []byte
		filename string
		want     extract.Format
	}{
		{"plain text", []byte("Just some words.\nAnd a second line.\n"), "notes.txt", extract.FormatText},
		{"text without a name", []byte("Just some words."), "", extract.FormatText},
		{"markdown by name", []byte("# Title\n\nSome *text*.\n"), "README.md", extract.FormatMarkdown},
		{"markdown long extension", []byte("Title\n=====\n"), "doc.MARKDOWN", extract.FormatMarkdown},
		{"markdown starting with html", []byte("<!-- toc -->\n# Title\n"), "a.md", extract.FormatMarkdown},
		{"text named .md is still text", []byte("plain"), "x.md", extract.FormatMarkdown},
		{"html", []byte("<!DOCTYPE html><html><head><title>T</title></head><body><p>x</p></body></html>"), "page.html", extract.FormatHTML},
		{"html named .txt", []byte("<html><body><p>x</p></body></html>"), "page.txt", extract.FormatHTML},
		{"pdf", pdf, "report.pdf", extract.FormatPDF},
		{"pdf named .txt", pdf, "report.txt", extract.FormatPDF},
		{"pdf head only", pdf[:16], "", extract.FormatPDF},
		{"docx", docx, "letter.docx", extract.FormatDOCX},
		{"docx without a name", docx, "", extract.FormatDOCX},
		{"docx head truncated", docx[:min(len(docx), 64)], "letter.docx", extract.FormatDOCX},
		{"markdown name does not make a pdf text", pdf, "x.md", extract.FormatPDF},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := extract.Sniff(tc.head, tc.filename)
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestSniffErrors(t *testing.T) {
	t.Parallel()
	random := make([]byte, 512)
	for i := range random {
		random[i] = byte(i*131 + 7) // binary, deterministic
	}
	zipNoWord := extracttest.Zip(t, map[string]string{"a.txt": "hello"})
	tests := []struct {
		name        string
		head        []byte
		filename    string
		unsupported string // Detected, when ErrUnsupported
		corrupt     bool
		msg         string
	}{
		{name: "png", head: extracttest.PNG(t), filename: "photo.png", unsupported: "image/png", msg: "image/png"},
		{name: "png named .pdf", head: extracttest.PNG(t), filename: "photo.pdf", unsupported: "image/png", msg: "image/png"},
		{name: "plain zip", head: zipNoWord, filename: "a.zip", unsupported: "application/zip", msg: "application/zip"},
		{name: "random bytes", head: random, filename: "blob.bin", unsupported: "application/octet-stream", msg: "application/octet-stream"},
		{name: "random bytes named .docx", head: random, filename: "x.docx", corrupt: true, msg: "not a zip archive"},
		{name: "random bytes named .pdf", head: random, filename: "x.pdf", corrupt: true, msg: "%PDF-"},
		{name: "empty", head: nil, filename: "x.txt", corrupt: true, msg: "empty file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := extract.Sniff(tc.head, tc.filename)
			require.Error(t, err)
			assert.True(t, extract.IsPermanent(err))
			assert.Contains(t, err.Error(), tc.msg)
			if tc.corrupt {
				var c extract.ErrCorrupt
				require.True(t, errors.As(err, &c), "want ErrCorrupt, got %T %v", err, err)
				return
			}
			var u extract.ErrUnsupported
			require.True(t, errors.As(err, &u), "want ErrUnsupported, got %T %v", err, err)
			assert.Equal(t, tc.unsupported, u.Detected)
		})
	}
}

func TestParseFormat(t *testing.T) {
	t.Parallel()
	for _, f := range []extract.Format{extract.FormatText, extract.FormatMarkdown, extract.FormatHTML, extract.FormatPDF, extract.FormatDOCX} {
		got, err := extract.ParseFormat(" " + string(f) + " ")
		require.NoError(t, err)
		assert.Equal(t, f, got)
		assert.NotEqual(t, "application/octet-stream", f.MIME())
	}
	_, err := extract.ParseFormat("odt")
	require.Error(t, err)
	assert.True(t, extract.IsPermanent(err))
}
