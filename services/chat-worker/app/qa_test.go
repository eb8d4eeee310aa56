package app

import (
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hopperq/hopper/pkg/store/content"
)

func TestExtractiveAnswer(t *testing.T) {
	t.Parallel()
	doc := uuid.New()
	hits := []content.ChunkHit{
		{DocumentID: doc, Filename: "ops.docx", Index: 3, Score: 0.4,
			Content: "The warehouse opens at six. The loading dock door is painted turquoise. Staff park behind it."},
		{DocumentID: uuid.New(), Filename: "other.pdf", Index: 0, Score: 0.1, Content: "Doors close at nine."},
	}
	ans := extractiveAnswer("What colour is the loading dock door painted?", hits)
	assert.Equal(t, "extractive", ans.Mode)
	assert.Contains(t, ans.Note, "HOPPER_LLM_URL")
	require.Len(t, ans.Citations, 2)
	assert.Equal(t, doc.String(), ans.Citations[0].DocumentID)
	assert.Equal(t, 3, ans.Citations[0].Chunk)
	assert.True(t, len(ans.Answer) > 0)
	assert.Contains(t, ans.Answer, "The loading dock door is painted turquoise. [1]", "the best sentence comes first, cited")
	assert.NotContains(t, ans.Answer, "Staff park", "sentences sharing no word with the question are left out")

	none := extractiveAnswer("anything", nil)
	assert.Empty(t, none.Citations)
	assert.Contains(t, none.Answer, "None of your documents")
}

func TestSentences(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want []string
	}{
		{"One. Two! Three?", []string{"One.", "Two!", "Three?"}},
		{"Version 1.5 is out. Next", []string{"Version 1.5 is out.", "Next"}},
		{"line one\nline two", []string{"line one", "line two"}},
		{"", nil},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, sentences(tt.in), tt.in)
	}
}
