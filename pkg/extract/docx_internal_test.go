package extract

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDOCXTokenLimit: the token count bound (4,000,000 in docxLimits,
// lowered here to keep the test fast) refuses a part with more tokens.
func TestDOCXTokenLimit(t *testing.T) {
	t.Parallel()
	xml := `<w:document xmlns:w="` + nsWordTransitional + `"><w:body>` +
		strings.Repeat("<w:p><w:r><w:t>x</w:t></w:r></w:p>", 100) + `</w:body></w:document>` // 704 tokens
	lim := docxLimits
	lim.tokens = 1000
	text, err := docxXML(t.Context(), strings.NewReader(xml), 1<<20, lim)
	require.NoError(t, err)
	assert.Equal(t, 100, strings.Count(text, "x"))

	lim.tokens = 704 // exactly as many
	_, err = docxXML(t.Context(), strings.NewReader(xml), 1<<20, lim)
	require.NoError(t, err)

	lim.tokens = 500
	_, err = docxXML(t.Context(), strings.NewReader(xml), 1<<20, lim)
	var x ErrTooComplex
	require.True(t, errors.As(err, &x), "got %T: %v", err, err)
	assert.Equal(t, "XML tokens in word/document.xml", x.What)
	assert.EqualValues(t, 500, x.Limit)
}
