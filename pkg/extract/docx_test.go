package extract_test

import (
	"archive/zip"
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hopperq/hopper/pkg/extract"
	"github.com/hopperq/hopper/pkg/extract/extracttest"
)

// allocated returns the bytes f allocates (MemStats.TotalAlloc), an upper
// bound of what it holds at any moment. Callers must not be parallel
// tests, or the others' allocations count too.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// documentXML returns the decompressed word/document.xml of a DOCX.
func documentXML(t *testing.T, docx []byte) []byte {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(docx), int64(len(docx)))
	require.NoError(t, err)
	for _, f := range zr.File {
		if f.Name == "word/document.xml" {
			rc, err := f.Open()
			require.NoError(t, err)
			defer rc.Close()
			b, err := io.ReadAll(rc)
			require.NoError(t, err)
			return b
		}
	}
	t.Fatal("no word/document.xml")
	return nil
}

// TestDOCXNestingBomb: a 17 KB DOCX nesting a million elements is refused
// as too complex, a permanent error, after allocating a few hundred KB;
// the same XML through a decoder without the limit allocates hundreds of
// bytes per level (tens of MiB for the first tenth of it).
// Not parallel: it measures the process's allocations.
func TestDOCXNestingBomb(t *testing.T) {
	const depth = 1_000_000
	bomb := extracttest.NestingBombDOCX(t, depth)
	require.Less(t, len(bomb), 24<<10, "a small upload")

	var err error
	n := allocated(func() {
		_, err = extract.Text(t.Context(), extract.FormatDOCX, bytes.NewReader(bomb), 0)
	})
	var tc extract.ErrTooComplex
	require.ErrorAs(t, err, &tc)
	assert.Equal(t, extract.FormatDOCX, tc.Format)
	assert.EqualValues(t, 256, tc.Limit)
	assert.Equal(t, "extract: docx too complex: element nesting in word/document.xml over the limit of 256 (refused as a possible parser bomb)", err.Error())
	assert.True(t, extract.IsPermanent(err))
	assert.Less(t, n, uint64(4<<20), "bounded: allocated %d bytes", n)
	t.Logf("refused after allocating %d KiB", n>>10)

	// Control: the bomb is real. A bare decoder over its first 100,000
	// levels allocates tens of MiB, growing with depth.
	raw := documentXML(t, bomb)
	control := allocated(func() {
		dec := xml.NewDecoder(bytes.NewReader(raw))
		for range 100_000 {
			_, err := dec.Token()
			require.NoError(t, err)
		}
	})
	assert.Greater(t, control, uint64(8<<20), "a bare decoder allocated %d bytes for 100,000 levels", control)
	t.Logf("a bare decoder allocated %d MiB for 100,000 of %d levels", control>>20, depth)
}

// TestDOCXPropertiesBomb: a nesting bomb in docProps/core.xml is bounded
// too; the body's text is still extracted, without a title.
// Not parallel: it measures the process's allocations.
func TestDOCXPropertiesBomb(t *testing.T) {
	body := extracttest.DOCX(t, "Body text")
	zr, err := zip.NewReader(bytes.NewReader(body), int64(len(body)))
	require.NoError(t, err)
	files := map[string]string{
		"docProps/core.xml": `<cp:coreProperties xmlns:cp="x" xmlns:dc="y">` + strings.Repeat("<a>", 300_000) + `<dc:title>T</dc:title>` + strings.Repeat("</a>", 300_000) + `</cp:coreProperties>`,
	}
	for _, f := range zr.File {
		rc, err := f.Open()
		require.NoError(t, err)
		b, err := io.ReadAll(rc)
		require.NoError(t, err)
		rc.Close()
		files[f.Name] = string(b)
	}
	docx := extracttest.Zip(t, files)

	var doc extract.Document
	n := allocated(func() {
		doc, err = extract.Text(t.Context(), extract.FormatDOCX, bytes.NewReader(docx), 0)
	})
	require.NoError(t, err)
	assert.Equal(t, "Body text", doc.Text)
	assert.Empty(t, doc.Title)
	assert.Less(t, n, uint64(4<<20), "bounded: allocated %d bytes", n)
}

// TestDOCXStructureLimits: each structural bound of word/document.xml
// refuses what is past it with ErrTooComplex naming it, and accepts what
// stays within.
func TestDOCXStructureLimits(t *testing.T) {
	t.Parallel()
	attrs := func(n int) string {
		var b strings.Builder
		b.WriteString("<w:p")
		for i := range n {
			fmt.Fprintf(&b, ` a%d=""`, i)
		}
		b.WriteString("><w:r><w:t>attrs</w:t></w:r></w:p>")
		return b.String()
	}
	nested := func(n int) string {
		return strings.Repeat("<w:r>", n) + "<w:t>deep</w:t>" + strings.Repeat("</w:r>", n)
	}
	big := strings.Repeat("a", 2<<20)
	tests := []struct {
		name string
		body string
		want string // "" accepts; else ErrTooComplex's What
		text string
	}{
		{name: "nesting within", body: "<w:p>" + nested(250) + "</w:p>", text: "deep"},
		{name: "nesting past", body: "<w:p>" + nested(300) + "</w:p>", want: "element nesting in word/document.xml"},
		{name: "attributes within", body: attrs(1000), text: "attrs"},
		{name: "attributes past", body: attrs(1025), want: "attributes on one element in word/document.xml"},
		{name: "namespace declarations past", body: "<w:p " + strings.Repeat(`xmlns:x="u" `, 2000) + "/>", want: "attributes on one element in word/document.xml"},
		{name: "text run past", body: "<w:p><w:r><w:t>" + big + "</w:t></w:r></w:p>", want: "one text run or tag in word/document.xml"},
		{name: "attribute value past", body: `<w:p a="` + big + `"/>`, want: "one text run or tag in word/document.xml"},
		{name: "comment past", body: "<!--" + big + "-->", want: "one text run or tag in word/document.xml"},
		{name: "text run within", body: "<w:p><w:r><w:t>" + big[:1<<19] + "</w:t></w:r></w:p>", text: big[:1<<19]},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			doc, err := extract.Text(t.Context(), extract.FormatDOCX, bytes.NewReader(extracttest.DOCXBody(t, tc.body)), 0)
			if tc.want == "" {
				require.NoError(t, err)
				assert.Equal(t, tc.text, doc.Text)
				return
			}
			var x extract.ErrTooComplex
			require.True(t, errors.As(err, &x), "want ErrTooComplex, got %T: %v", err, err)
			assert.Equal(t, tc.want, x.What)
			assert.True(t, extract.IsPermanent(err))
			assert.Contains(t, err.Error(), "docx too complex: "+tc.want)
		})
	}
}
