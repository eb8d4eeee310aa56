package extracttest_test

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hopperq/hopper/pkg/extract"
	"github.com/hopperq/hopper/pkg/extract/extracttest"
)

func TestFixtures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		gen  func(testing.TB) []byte
		file string
		want extract.Format
	}{
		{"pdf", func(t testing.TB) []byte { return extracttest.PDF(t, "Hello PDF.\fPage two.") }, "a.pdf", extract.FormatPDF},
		{"docx", func(t testing.TB) []byte { return extracttest.DOCX(t, "Hello", "DOCX") }, "a.docx", extract.FormatDOCX},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a, b := tc.gen(t), tc.gen(t)
			assert.True(t, bytes.Equal(a, b), "reproducible")
			got, err := extract.Sniff(a, tc.file)
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
	_, err := extract.Sniff(extracttest.PNG(t), "x.png")
	require.ErrorAs(t, err, new(extract.ErrUnsupported))
}
