package extract

import (
	"unicode"
)

// Chunking defaults, in runes.
const (
	DefaultChunkSize    = 1000
	DefaultChunkOverlap = 150
)

// ChunkOptions controls Chunk. Sizes count runes, not bytes.
type ChunkOptions struct {
	// Size is the most runes a chunk holds; 0 means DefaultChunkSize.
	Size int
	// Overlap is about how many runes a chunk repeats from the end of the
	// previous one; 0 means DefaultChunkOverlap, negative means none. It is
	// capped at Size/2.
	Overlap int
}

func (o ChunkOptions) resolve() (size, overlap int) {
	size, overlap = o.Size, o.Overlap
	if size <= 0 {
		size = DefaultChunkSize
	}
	switch {
	case overlap == 0:
		overlap = DefaultChunkOverlap
	case overlap < 0:
		overlap = 0
	}
	return size, min(overlap, size/2)
}

// TextChunk is one piece of a text cut by Chunk. Start and End are byte
// offsets into the text given to Chunk: text[Start:End] == Text. (The type
// cannot share the function's name in Go.)
type TextChunk struct {
	Index int
	Text  string
	Start int
	End   int
}

// Chunk splits text into chunks of at most opts.Size runes that overlap by
// about opts.Overlap runes. A chunk ends, in order of preference, at a
// paragraph break, a line break, the end of a sentence or a space found in
// its second half; a word longer than Size is cut, never inside a rune and,
// when the chunk can spare the room, not between a letter and its combining
// marks. The next chunk starts at the first word
// inside the overlap. Chunks never begin or end with whitespace, and
// whitespace-only text has no chunks. The result depends only on text and
// opts.
func Chunk(text string, opts ChunkOptions) []TextChunk {
	size, overlap := opts.resolve()
	runes := make([]rune, 0, len(text))
	offs := make([]int, 0, len(text)+1) // byte offset of each rune, then len(text)
	for i, r := range text {
		runes = append(runes, r)
		offs = append(offs, i)
	}
	offs = append(offs, len(text))
	n := len(runes)

	var chunks []TextChunk
	start, prevEnd := 0, 0
	for {
		for start < n && unicode.IsSpace(runes[start]) {
			start++
		}
		if start >= n {
			break
		}
		minEnd := start + max(size/2, 1) // no break in a chunk's first half
		if len(chunks) > 0 {
			// The chunk must reach past the previous one: to the first
			// non-space rune after it at least.
			q := prevEnd
			for q < n && unicode.IsSpace(runes[q]) {
				q++
			}
			if q >= n {
				break // only whitespace is left
			}
			if q >= start+size {
				start = q // a long gap: the overlap cannot reach new text
			}
			minEnd = max(minEnd, q+1)
		}
		end := n
		if n-start > size {
			end = breakPoint(runes, start, minEnd, start+size)
		}
		e := end
		for e > start && unicode.IsSpace(runes[e-1]) {
			e--
		}
		chunks = append(chunks, TextChunk{
			Index: len(chunks),
			Text:  text[offs[start]:offs[e]],
			Start: offs[start],
			End:   offs[e],
		})
		if end >= n {
			break
		}
		start, prevEnd = nextStart(runes, start, e, overlap), e
	}
	return chunks
}

// breakPoint returns where a chunk starting at start ends (exclusive),
// between lo and limit (limit < len(runes)).
func breakPoint(runes []rune, start, lo, limit int) int {
	lo = min(lo, limit)
	// Paragraph break: the chunk ends before "\n\n".
	for i := limit; i >= lo; i-- {
		if runes[i] == '\n' && i+1 < len(runes) && runes[i+1] == '\n' {
			return i
		}
	}
	// Line break.
	for i := limit; i >= lo; i-- {
		if runes[i] == '\n' {
			return i
		}
	}
	// End of a sentence: the chunk ends after the terminator.
	for e := limit; e >= lo; e-- {
		if isSentenceEnd(runes, e) {
			return e
		}
	}
	// A space between words.
	for i := limit; i >= lo; i-- {
		if unicode.IsSpace(runes[i]) {
			return i
		}
	}
	// A word longer than the chunk: cut it, but keep a combining mark with
	// its base when the chunk can spare it.
	end := limit
	for end > lo && unicode.Is(unicode.Mn, runes[end]) {
		end--
	}
	if unicode.Is(unicode.Mn, runes[end]) {
		return limit
	}
	return end
}

// isSentenceEnd reports whether a sentence ends just before runes[e].
func isSentenceEnd(runes []rune, e int) bool {
	if e == 0 {
		return false
	}
	switch runes[e-1] {
	case '。', '！', '？':
		return true
	case '.', '!', '?', '…':
		return e == len(runes) || unicode.IsSpace(runes[e])
	}
	return false
}

// nextStart returns where the chunk after [start, end) begins: at the first
// word start in its last overlap runes, or mid-word inside a word longer
// than the overlap, always after start.
func nextStart(runes []rune, start, end, overlap int) int {
	if overlap <= 0 {
		return end
	}
	o := max(end-overlap, start+1)
	for p := o; p < end; p++ {
		if !unicode.IsSpace(runes[p]) && unicode.IsSpace(runes[p-1]) {
			return p
		}
	}
	// Keep a combining mark with its base: start before the base, or else
	// after the marks.
	p := o
	for p > start+1 && unicode.Is(unicode.Mn, runes[p]) {
		p--
	}
	for p < end-1 && unicode.Is(unicode.Mn, runes[p]) {
		p++
	}
	return p
}
