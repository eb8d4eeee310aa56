package extract_test

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hopperq/hopper/pkg/extract"
)

// words returns n distinct words "w0 w1 …" (each short), for predictable
// lengths.
func words(n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString("w")
		b.WriteString(strings.Repeat("x", i%5))
	}
	return b.String()
}

func TestChunk(t *testing.T) {
	t.Parallel()
	para := func(n int, s string) string { return strings.TrimSpace(strings.Repeat(s, n)) }
	tests := []struct {
		name  string
		text  string
		opts  extract.ChunkOptions
		want  []string // exact chunk texts, when set
		count int      // number of chunks, when want is nil (-1: don't check)
	}{
		{name: "empty", text: "", count: 0},
		{name: "whitespace only", text: " \n\n\t ", count: 0},
		{name: "shorter than size", text: "Just one short sentence.", want: []string{"Just one short sentence."}},
		{name: "trimmed", text: "\n\n  padded text  \n", want: []string{"padded text"}},
		{name: "exactly size", text: strings.Repeat("a", 10), opts: extract.ChunkOptions{Size: 10, Overlap: -1}, want: []string{strings.Repeat("a", 10)}},
		{name: "exactly size in runes, more in bytes", text: strings.Repeat("é", 10), opts: extract.ChunkOptions{Size: 10}, want: []string{strings.Repeat("é", 10)}},
		{name: "size plus one", text: "aaaaa bbbbb", opts: extract.ChunkOptions{Size: 10, Overlap: -1}, want: []string{"aaaaa", "bbbbb"}},
		{
			name: "prefers paragraph break",
			text: "First para. Still first.\n\nSecond para here.",
			opts: extract.ChunkOptions{Size: 30, Overlap: -1},
			want: []string{"First para. Still first.", "Second para here."},
		},
		{
			name: "prefers sentence end over space",
			text: "One two three. Four five six seven",
			opts: extract.ChunkOptions{Size: 20, Overlap: -1},
			want: []string{"One two three.", "Four five six seven"},
		},
		{
			name: "word boundary",
			text: "alpha beta gamma delta epsilon",
			opts: extract.ChunkOptions{Size: 12, Overlap: -1},
			want: []string{"alpha beta", "gamma delta", "epsilon"},
		},
		{
			name: "overlap starts at a word",
			text: "alpha beta gamma delta epsilon",
			opts: extract.ChunkOptions{Size: 16, Overlap: 6},
			want: []string{"alpha beta gamma", "gamma delta", "delta epsilon"},
		},
		{
			name: "word longer than size is cut",
			text: strings.Repeat("x", 25),
			opts: extract.ChunkOptions{Size: 10, Overlap: -1},
			want: []string{strings.Repeat("x", 10), strings.Repeat("x", 10), strings.Repeat("x", 5)},
		},
		{
			name:  "long word with overlap",
			text:  "ab " + strings.Repeat("y", 30) + " cd",
			opts:  extract.ChunkOptions{Size: 10, Overlap: 3},
			count: -1,
		},
		{
			name:  "multibyte runes never split",
			text:  strings.Repeat("日本語のテキスト", 30),
			opts:  extract.ChunkOptions{Size: 17, Overlap: 4},
			count: -1,
		},
		{
			name:  "combining mark stays with its base",
			text:  strings.Repeat("e\u0301", 20),
			opts:  extract.ChunkOptions{Size: 7, Overlap: -1},
			count: -1,
		},
		{
			name: "cjk sentence end",
			text: "これは文です。これも文です。",
			opts: extract.ChunkOptions{Size: 9, Overlap: -1},
			want: []string{"これは文です。", "これも文です。"},
		},
		{name: "defaults", text: para(400, "Some words in a sentence. "), count: -1},
		{name: "size one", text: "ab c", opts: extract.ChunkOptions{Size: 1}, want: []string{"a", "b", "c"}},
		{name: "many words", text: words(3000), opts: extract.ChunkOptions{Size: 200, Overlap: 40}, count: -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			chunks := extract.Chunk(tc.text, tc.opts)
			if tc.want != nil {
				got := make([]string, len(chunks))
				for i, c := range chunks {
					got[i] = c.Text
				}
				assert.Equal(t, tc.want, got)
			} else if tc.count >= 0 {
				assert.Len(t, chunks, tc.count)
			}
			checkChunks(t, tc.text, tc.opts, chunks, true)
			assert.Equal(t, chunks, extract.Chunk(tc.text, tc.opts), "deterministic")
		})
	}
}

// checkChunks asserts the invariants every result must keep.
// Unless strict, a chunk need not overlap the previous one across
// whitespace (see below), and tiny chunks may part a combining mark from
// its letter.
func checkChunks(t *testing.T, text string, opts extract.ChunkOptions, chunks []extract.TextChunk, strict bool) {
	t.Helper()
	size := opts.Size
	if size <= 0 {
		size = extract.DefaultChunkSize
	}
	ov := opts.Overlap
	switch {
	case ov == 0:
		ov = extract.DefaultChunkOverlap
	case ov < 0:
		ov = 0
	}
	overlap := min(ov, size/2) > 0
	covered := 0 // every non-space rune must be in some chunk
	for i, c := range chunks {
		require.Equal(t, i, c.Index)
		require.Equal(t, text[c.Start:c.End], c.Text, "offsets of chunk %d", i)
		require.True(t, utf8.ValidString(c.Text), "chunk %d splits a rune", i)
		require.NotEmpty(t, c.Text)
		n := utf8.RuneCountInString(c.Text)
		require.LessOrEqual(t, n, size, "chunk %d has %d runes", i, n)
		first, _ := utf8.DecodeRuneInString(c.Text)
		last, _ := utf8.DecodeLastRuneInString(c.Text)
		require.False(t, unicode.IsSpace(first) || unicode.IsSpace(last), "chunk %d %q not trimmed", i, c.Text)
		if strict {
			require.False(t, unicode.Is(unicode.Mn, first), "chunk %d starts with a combining mark", i)
		}
		if i > 0 {
			prev := chunks[i-1]
			require.Greater(t, c.Start, prev.Start, "chunk %d does not advance", i)
			require.Greater(t, c.End, prev.End, "chunk %d ends no later than the one before", i)
			// Chunks overlap, except (tiny sizes, long whitespace runs) where
			// the overlap would leave no room for new text.
			gap := text[prev.End:max(c.Start, prev.End)]
			exempt := utf8.RuneCountInString(prev.Text) == 1 || strings.TrimSpace(gap) == ""
			switch {
			case !overlap:
				require.GreaterOrEqual(t, c.Start, prev.End, "chunk %d overlaps without overlap", i)
			case strict || !exempt:
				require.Less(t, c.Start, prev.End, "chunk %d does not overlap the previous one", i)
			}
		}
		if c.Start > covered {
			require.Empty(t, strings.TrimSpace(text[covered:c.Start]), "text between %d and %d is in no chunk", covered, c.Start)
		}
		covered = max(covered, c.End)
	}
	require.Empty(t, strings.TrimSpace(text[covered:]), "text after the last chunk is in none")
}

func TestChunkDefaultsOverlap(t *testing.T) {
	t.Parallel()
	text := strings.Repeat("Some words in a sentence. ", 200) // 5200 runes
	chunks := extract.Chunk(text, extract.ChunkOptions{})
	require.Greater(t, len(chunks), 5)
	for i := 1; i < len(chunks); i++ {
		ov := chunks[i-1].End - chunks[i].Start // ASCII: bytes == runes
		assert.InDelta(t, extract.DefaultChunkOverlap, ov, 30, "overlap of chunk %d", i)
		assert.GreaterOrEqual(t, utf8.RuneCountInString(chunks[i-1].Text), extract.DefaultChunkSize/2)
	}
}

func TestChunkOnNormalizedExtract(t *testing.T) {
	t.Parallel()
	text := extract.Normalize("Title\r\n\r\n" + strings.Repeat("A sentence with some words.  ", 100) + "\f" + words(500))
	chunks := extract.Chunk(text, extract.ChunkOptions{Size: 300, Overlap: 50})
	checkChunks(t, text, extract.ChunkOptions{Size: 300, Overlap: 50}, chunks, true)
	// A paragraph break in a chunk's first half does not end it: no tiny chunks.
	assert.True(t, strings.HasPrefix(chunks[0].Text, "Title\n\nA sentence"), chunks[0].Text)
	for _, c := range chunks[:len(chunks)-1] {
		assert.GreaterOrEqual(t, utf8.RuneCountInString(c.Text), 150)
	}
}

// TestChunkRandom checks the invariants on many generated texts (a fixed
// seed keeps it deterministic).
func TestChunkRandom(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	pieces := []string{"a", "word", "longerword", " ", " ", "  ", "\n", "\n\n", ". ", "! ", "é", "e\u0301", "日本", "。", "👋", "\t", strings.Repeat("z", 40)}
	for i := range 500 {
		var b strings.Builder
		for range rng.IntN(300) {
			b.WriteString(pieces[rng.IntN(len(pieces))])
		}
		text := b.String()
		opts := extract.ChunkOptions{Size: 1 + rng.IntN(60), Overlap: rng.IntN(40) - 5}
		chunks := extract.Chunk(text, opts)
		t.Run(fmt.Sprint(i), func(t *testing.T) { checkChunks(t, text, opts, chunks, false) })
	}
}
