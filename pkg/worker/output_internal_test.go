package worker

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestOutputTextIsSplitOnRuneBoundaries(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		n    int
		want int
	}{
		{"short", "abc", 8, 3},
		{"exact", "abcd", 4, 4},
		{"ascii cut", "abcdef", 4, 4},
		{"inside a rune", "ab€d", 3, 2}, // € is 3 bytes at 2..4
		{"rune wider than n", "€", 1, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, cutAt(tc.in, tc.n))
		})
	}
}

func TestOutputTextIsMadeStorable(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"plain", "plain"},
		{"nul\x00byte", "nulbyte"},
		{"bad\xffutf8", "bad\uFFFDutf8"},
		{strings.Repeat("é", 3), "ééé"},
	} {
		require.Equal(t, tc.want, cleanOutput(tc.in))
	}
}
