package extract

import (
	"bytes"
	"fmt"
	"unicode/utf8"
)

// utf8BOM is the byte order mark some editors put in front of UTF-8 text.
const utf8BOM = "\xef\xbb\xbf"

// validUTF8 returns data without a leading BOM, or ErrCorrupt naming the
// offset of the first byte that is not UTF-8.
func validUTF8(format Format, data []byte) (string, error) {
	data = bytes.TrimPrefix(data, []byte(utf8BOM))
	if utf8.Valid(data) {
		return string(data), nil
	}
	off := 0
	for off < len(data) {
		r, size := utf8.DecodeRune(data[off:])
		if r == utf8.RuneError && size <= 1 {
			break
		}
		off += size
	}
	reason := fmt.Sprintf("invalid UTF-8 at byte %d (0x%02x); only UTF-8 text is supported", off, data[off])
	if len(data) >= 2 && (data[0] == 0xff && data[1] == 0xfe || data[0] == 0xfe && data[1] == 0xff) {
		reason = "text is UTF-16; only UTF-8 text is supported"
	}
	return "", ErrCorrupt{Format: format, Reason: reason}
}

func plainText(data []byte) (Document, error) {
	s, err := validUTF8(FormatText, data)
	if err != nil {
		return Document{}, err
	}
	return Document{Text: s}, nil
}
