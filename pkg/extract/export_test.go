package extract

import (
	"context"
	"io"
)

// SmallXMLLimits are low enough for a fuzzer's inputs to reach every one.
var SmallXMLLimits = struct{ Depth, Attrs, Tokens, TokenBytes int }{16, 8, 512, 256}

// DOCXXMLSmallLimits reads word/document.xml from r as Text does, within
// SmallXMLLimits.
func DOCXXMLSmallLimits(ctx context.Context, r io.Reader, maxText int64) (string, error) {
	l := SmallXMLLimits
	return docxXML(ctx, r, maxText, xmlLimits{depth: l.Depth, attrs: l.Attrs, tokens: l.Tokens, tokenBytes: int64(l.TokenBytes)})
}
