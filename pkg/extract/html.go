package extract

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
	"golang.org/x/net/html/charset"
)

// htmlText parses an HTML document and keeps its readable text. Text
// that is not UTF-8 is decoded as a browser would (BOM, <meta charset>,
// else windows-1252). <title>
// becomes Document.Title; script, style, nav, noscript, template, iframe,
// svg and everything else in <head> are dropped; block elements end lines
// or paragraphs; whitespace in text is collapsed as a browser would, except
// inside <pre>.
func htmlText(ctx context.Context, data []byte) (Document, error) {
	data, err := htmlUTF8(data)
	if err != nil {
		return Document{}, err
	}
	root, err := html.Parse(bytes.NewReader(data))
	if err != nil {
		return Document{}, ErrCorrupt{Format: FormatHTML, Reason: "cannot parse", Err: err}
	}
	w := htmlWalker{ctx: ctx}
	if err := w.walk(root, false); err != nil {
		return Document{}, fmt.Errorf("extract html: %w", err)
	}
	return Document{
		Title: strings.Join(strings.Fields(w.title.String()), " "),
		Text:  strings.TrimSpace(string(w.out)),
	}, nil
}

// htmlUTF8 returns data as UTF-8: unchanged when it is valid UTF-8,
// otherwise decoded from the encoding a browser would pick.
func htmlUTF8(data []byte) ([]byte, error) {
	data = bytes.TrimPrefix(data, []byte(utf8BOM))
	if utf8.Valid(data) {
		return data, nil
	}
	enc, name, _ := charset.DetermineEncoding(data, "")
	out, err := enc.NewDecoder().Bytes(data)
	if err != nil || !utf8.Valid(out) {
		return nil, ErrCorrupt{Format: FormatHTML, Reason: "cannot decode text as " + name, Err: err}
	}
	return out, nil
}

type htmlWalker struct {
	ctx   context.Context
	out   []byte
	title strings.Builder
	nodes int
}

// htmlBreak says what an element adds around its content: a line break or
// a paragraph break.
func htmlBreak(a atom.Atom) string {
	switch a {
	case atom.P, atom.H1, atom.H2, atom.H3, atom.H4, atom.H5, atom.H6,
		atom.Blockquote, atom.Pre, atom.Table, atom.Ul, atom.Ol, atom.Dl,
		atom.Section, atom.Article, atom.Main, atom.Header, atom.Footer,
		atom.Aside, atom.Figure, atom.Form, atom.Address, atom.Hr, atom.Details,
		atom.Fieldset:
		return "\n\n"
	case atom.Div, atom.Li, atom.Tr, atom.Dt, atom.Dd, atom.Figcaption,
		atom.Caption, atom.Summary, atom.Legend, atom.Br, atom.Option:
		return "\n"
	case atom.Td, atom.Th:
		return "\t"
	}
	return ""
}

func htmlSkipped(a atom.Atom) bool {
	switch a {
	case atom.Script, atom.Style, atom.Nav, atom.Noscript, atom.Template,
		atom.Iframe, atom.Svg, atom.Math, atom.Object, atom.Canvas, atom.Head:
		return true
	}
	return false
}

func (w *htmlWalker) walk(n *html.Node, pre bool) error {
	w.nodes++
	if w.nodes%1024 == 0 {
		if err := w.ctx.Err(); err != nil {
			return err
		}
	}
	switch n.Type {
	case html.TextNode:
		w.text(n.Data, pre)
		return nil
	case html.ElementNode:
		if n.DataAtom == atom.Title {
			if w.title.Len() == 0 {
				for c := n.FirstChild; c != nil; c = c.NextSibling {
					if c.Type == html.TextNode {
						w.title.WriteString(c.Data)
					}
				}
			}
			return nil
		}
		if n.DataAtom == atom.Head {
			// Only the title matters in <head>.
			for c := n.FirstChild; c != nil; c = c.NextSibling {
				if c.Type == html.ElementNode && c.DataAtom == atom.Title {
					if err := w.walk(c, false); err != nil {
						return err
					}
				}
			}
			return nil
		}
		if htmlSkipped(n.DataAtom) {
			return nil
		}
		if n.DataAtom == atom.Img {
			for _, a := range n.Attr {
				if a.Key == "alt" && strings.TrimSpace(a.Val) != "" {
					w.text(" "+a.Val+" ", false)
				}
			}
		}
	}
	brk := ""
	if n.Type == html.ElementNode {
		brk = htmlBreak(n.DataAtom)
		pre = pre || n.DataAtom == atom.Pre || n.DataAtom == atom.Textarea
	}
	w.brk(brk)
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if err := w.walk(c, pre); err != nil {
			return err
		}
	}
	w.brk(brk)
	return nil
}

// text writes a text node, collapsing whitespace unless pre.
func (w *htmlWalker) text(s string, pre bool) {
	if pre {
		w.out = append(w.out, s...)
		return
	}
	fields := strings.Fields(s)
	if len(fields) == 0 {
		if s != "" {
			w.space()
		}
		return
	}
	if isHTMLSpace(s[0]) {
		w.space()
	}
	for i, f := range fields {
		if i > 0 {
			w.out = append(w.out, ' ')
		}
		w.out = append(w.out, f...)
	}
	if isHTMLSpace(s[len(s)-1]) {
		w.space()
	}
}

// space writes one space unless the output already ends in whitespace.
func (w *htmlWalker) space() {
	if n := len(w.out); n > 0 && !isHTMLSpace(w.out[n-1]) {
		w.out = append(w.out, ' ')
	}
}

// brk ends the current line or paragraph (or cell, with a tab).
func (w *htmlWalker) brk(b string) {
	if b == "" {
		return
	}
	w.out = bytes.TrimRight(w.out, " ")
	if len(w.out) == 0 {
		return
	}
	switch b {
	case "\t":
		if !w.endsWith("\n") && !w.endsWith("\t") {
			w.out = append(w.out, '\t')
		}
	case "\n":
		if !w.endsWith("\n") {
			w.out = append(w.out, '\n')
		}
	default:
		switch {
		case w.endsWith("\n\n"):
		case w.endsWith("\n"):
			w.out = append(w.out, '\n')
		default:
			w.out = append(w.out, "\n\n"...)
		}
	}
}

func (w *htmlWalker) endsWith(s string) bool {
	return bytes.HasSuffix(w.out, []byte(s))
}

func isHTMLSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f'
}
