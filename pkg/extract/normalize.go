package extract

import (
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// Normalize prepares extracted text for chunking and indexing:
//   - Unicode NFC, so that "é" has one encoding;
//   - \r\n, \r, U+2028 end lines; \f and U+2029 end paragraphs;
//   - control characters (other than tab and newline), zero-width spaces,
//     soft hyphens and byte order marks are dropped;
//   - every other run of whitespace (tabs, no-break spaces, …) becomes one
//     space; lines are trimmed;
//   - one newline stays a line break, two or more become one blank line
//     (a paragraph break); the text is trimmed.
//
// Normalize is idempotent.
func Normalize(text string) string {
	text = norm.NFC.String(strings.NewReplacer("\r\n", "\n", "\r", "\n").Replace(text))
	var b strings.Builder
	b.Grow(len(text))
	newlines := 0 // pending line breaks
	space := false
	for _, r := range text {
		switch {
		case r == '\n' || r == '\u2028' || r == '\u0085':
			newlines++
			space = false
			continue
		case r == '\f' || r == '\u2029':
			newlines += 2
			space = false
			continue
		case r == '\u200b' || r == '\ufeff' || r == '\u00ad' || r == '\u2060':
			continue
		case r == '\t' || unicode.IsSpace(r):
			space = true
			continue
		case unicode.IsControl(r):
			continue
		}
		if b.Len() > 0 {
			switch {
			case newlines >= 2:
				b.WriteString("\n\n")
			case newlines == 1:
				b.WriteByte('\n')
			case space:
				b.WriteByte(' ')
			}
		}
		newlines, space = 0, false
		b.WriteRune(r)
	}
	return b.String()
}
