package store_test

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// latestMigration is the highest version in migrations/, which Migrate
// must reach.
func latestMigration(t *testing.T) int64 {
	t.Helper()
	entries, err := os.ReadDir("migrations")
	require.NoError(t, err)
	var latest int64
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		if !ok || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		v, err := strconv.ParseInt(num, 10, 64)
		require.NoError(t, err, e.Name())
		latest = max(latest, v)
	}
	require.NotZero(t, latest, "no migrations found")
	return latest
}
