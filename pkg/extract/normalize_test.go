package extract_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/hopperq/hopper/pkg/extract"
)

func TestNormalize(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"empty", "", ""},
		{"only whitespace", " \t\n\n \u00a0", ""},
		{"nfc", "cafe\u0301", "caf\u00e9"},
		{"space runs", "a  \t b\u00a0\u2003c", "a b c"},
		{"trim lines", "  a  \n   b  ", "a\nb"},
		{"line break kept", "a\nb", "a\nb"},
		{"paragraph break kept", "a\n\nb", "a\n\nb"},
		{"blank lines collapse", "a\n \n\t\n\n\nb", "a\n\nb"},
		{"crlf", "a\r\nb\r\n\r\nc", "a\nb\n\nc"},
		{"lone cr", "a\rb", "a\nb"},
		{"form feed is a paragraph", "page1\fpage2", "page1\n\npage2"},
		{"unicode separators", "a\u2028b\u2029c", "a\nb\n\nc"},
		{"control chars dropped", "a\x00b\x07c\x1bd\u0085e", "abcd\ne"},
		{"zero width and soft hyphen dropped", "\ufeffzero\u200bwidth soft\u00adhyphen", "zerowidth softhyphen"},
		{"emoji and cjk kept", "hi 👋 世界", "hi 👋 世界"},
		{"leading and trailing", "\n\n  text  \n\n", "text"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := extract.Normalize(tc.in)
			assert.Equal(t, tc.want, got)
			assert.Equal(t, got, extract.Normalize(got), "idempotent")
		})
	}
}
