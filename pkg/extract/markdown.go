package extract

import (
	"strings"
)

// markdownText keeps the text of a Markdown document and strips its markup
// lightly: YAML front matter (its title: becomes the title), heading markers, link and image syntax, emphasis markers, inline
// code ticks, fences, blockquote markers, rules, table separator rows and
// link reference definitions. It is not a full Markdown renderer.
func markdownText(data []byte) (Document, error) {
	src, err := validUTF8(FormatMarkdown, data)
	if err != nil {
		return Document{}, err
	}
	src = strings.ReplaceAll(src, "\r\n", "\n")
	lines := strings.Split(src, "\n")
	lines, fmTitle := frontMatter(lines)
	var (
		out     strings.Builder
		title   string
		h1      string
		inFence string // the fence that opened the current code block
		prev    string // previous emitted line, for setext headings
	)
	emit := func(s string) {
		out.WriteString(s)
		out.WriteByte('\n')
		prev = s
	}
	for _, line := range lines {
		trimmed := strings.TrimSpace(line)
		if fence := fenceOf(trimmed); fence != "" {
			switch {
			case inFence == "":
				inFence = fence
				continue
			case strings.HasPrefix(fence, inFence) && strings.TrimLeft(trimmed, fence[:1]) == "":
				inFence = ""
				continue
			}
		}
		if inFence != "" {
			emit(line)
			continue
		}
		for strings.HasPrefix(trimmed, ">") {
			trimmed = strings.TrimSpace(trimmed[1:])
		}
		switch {
		case trimmed == "":
			emit("")
		case isSetextUnderline(trimmed) && strings.TrimSpace(prev) != "":
			if trimmed[0] == '=' && h1 == "" {
				h1 = strings.TrimSpace(prev)
			}
			if title == "" {
				title = strings.TrimSpace(prev)
			}
			emit("")
		case isRule(trimmed), isTableSeparator(trimmed), isRefDefinition(trimmed):
			emit("")
		default:
			if text, level, ok := atxHeading(trimmed); ok {
				text = inlineMarkdown(text)
				if level == 1 && h1 == "" {
					h1 = text
				}
				if title == "" {
					title = text
				}
				emit(text)
				continue
			}
			emit(inlineMarkdown(trimmed))
		}
	}
	switch {
	case fmTitle != "":
		title = fmTitle
	case h1 != "":
		title = h1
	}
	return Document{Title: title, Text: strings.TrimRight(out.String(), "\n")}, nil
}

// frontMatter drops a leading YAML front matter block (between "---"
// lines) and returns its title: value, if any.
func frontMatter(lines []string) (rest []string, title string) {
	if len(lines) == 0 || strings.TrimSpace(lines[0]) != "---" {
		return lines, ""
	}
	for i := 1; i < len(lines); i++ {
		line := strings.TrimSpace(lines[i])
		if line == "---" || line == "..." {
			return lines[i+1:], title
		}
		if v, ok := strings.CutPrefix(line, "title:"); ok && title == "" {
			title = strings.Trim(strings.TrimSpace(v), `"'`)
		}
	}
	return lines, "" // never closed: not front matter
}

// fenceOf returns the ``` or ~~~ run that starts a code fence line, or "".
func fenceOf(s string) string {
	for _, c := range []string{"`", "~"} {
		n := len(s) - len(strings.TrimLeft(s, c))
		if n >= 3 {
			return s[:n]
		}
	}
	return ""
}

// atxHeading parses "## Heading ##".
func atxHeading(s string) (text string, level int, ok bool) {
	level = len(s) - len(strings.TrimLeft(s, "#"))
	if level < 1 || level > 6 {
		return "", 0, false
	}
	rest := s[level:]
	if rest != "" && rest[0] != ' ' && rest[0] != '\t' {
		return "", 0, false // "#hashtag"
	}
	rest = strings.TrimSpace(rest)
	if t := strings.TrimRight(rest, "#"); t != rest && (t == "" || strings.HasSuffix(t, " ")) {
		rest = strings.TrimSpace(t)
	}
	return rest, level, true
}

func isSetextUnderline(s string) bool {
	return len(s) >= 2 && (strings.Trim(s, "=") == "" || strings.Trim(s, "-") == "")
}

// isRule matches thematic breaks: ---, ***, ___ (spaces allowed).
func isRule(s string) bool {
	s = strings.ReplaceAll(s, " ", "")
	if len(s) < 3 {
		return false
	}
	return strings.Trim(s, "-") == "" || strings.Trim(s, "*") == "" || strings.Trim(s, "_") == ""
}

// isTableSeparator matches "| --- | :---: |".
func isTableSeparator(s string) bool {
	return strings.Contains(s, "-") && strings.Contains(s, "|") && strings.Trim(s, "|-: \t") == ""
}

// isRefDefinition matches "[label]: https://…".
func isRefDefinition(s string) bool {
	if !strings.HasPrefix(s, "[") || strings.HasPrefix(s, "[^") {
		return false
	}
	i := strings.Index(s, "]:")
	return i > 1 && !strings.ContainsAny(s[1:i], "[]")
}

// inlineMarkdown turns [text](url), ![alt](url) and [text][ref] into their
// text and drops **, ~~ and ` markers and backslash escapes.
func inlineMarkdown(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s) && strings.IndexByte("\\`*_{}[]()#+-.!|<>~", s[i+1]) >= 0:
			b.WriteByte(s[i+1])
			i += 2
			continue
		case c == '!' && i+1 < len(s) && s[i+1] == '[':
			if text, n, ok := linkAt(s[i+1:]); ok {
				b.WriteString(inlineMarkdown(text))
				i += 1 + n
				continue
			}
		case c == '[':
			if text, n, ok := linkAt(s[i:]); ok {
				b.WriteString(inlineMarkdown(text))
				i += n
				continue
			}
		case c == '`':
			i++
			continue
		case (c == '*' || c == '~') && i+1 < len(s) && s[i+1] == c:
			i += 2
			continue
		}
		b.WriteByte(c)
		i++
	}
	return b.String()
}

// linkAt parses "[text](dest)" or "[text][ref]" at the start of s and
// returns text and the length consumed.
func linkAt(s string) (text string, n int, ok bool) {
	end := matching(s, '[', ']')
	if end < 0 || end+1 >= len(s) {
		return "", 0, false
	}
	text = s[1:end]
	switch s[end+1] {
	case '(':
		if close := matching(s[end+1:], '(', ')'); close >= 0 {
			return text, end + 1 + close + 1, true
		}
	case '[':
		if close := strings.IndexByte(s[end+1:], ']'); close >= 0 {
			return text, end + 1 + close + 1, true
		}
	}
	return "", 0, false
}

// matching returns the index of the bracket closing s[0], or -1.
func matching(s string, open, close byte) int {
	depth := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case open:
			depth++
		case close:
			depth--
			if depth == 0 {
				return i
			}
		}
	}
	return -1
}
