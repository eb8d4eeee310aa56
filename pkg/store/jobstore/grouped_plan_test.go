package jobstore_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hopperq/hopper/pkg/store/storetest"
)

// TestHotPathPlansUsePrimaryKey: on the hot pool, the batched claim and
// completion find their rows by primary key only, whatever the table's
// statistics, never through a partial index on state or a table scan.
func TestHotPathPlansUsePrimaryKey(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	for _, name := range []string{"claim", "complete"} {
		t.Run(name, func(t *testing.T) {
			lines, err := s.ExplainHot(t.Context(), name)
			require.NoError(t, err)
			plan := strings.Join(lines, "\n")
			require.Contains(t, plan, "Index Scan using jobs_pkey on jobs", plan)
			for _, bad := range []string{"Seq Scan on jobs", "Bitmap", "jobs_in_flight_idx", "jobs_lease_idx", "Hash Join"} {
				require.NotContains(t, plan, bad, plan)
			}
		})
	}
}
