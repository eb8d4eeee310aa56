package store

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hopperq/hopper/pkg/testkit"
)

// TestHotPathPlansUsePrimaryKey: on the hot pool, the batched claim and
// completion find their rows by primary key only, whatever the table's
// statistics, never through a partial index on state or a table scan.
func TestHotPathPlansUsePrimaryKey(t *testing.T) {
	t.Parallel()
	s, err := Open(t.Context(), testkit.DatabaseURL(t), Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	require.NoError(t, s.Migrate(t.Context()))

	tests := []struct {
		name string
		sql  string
		args []any
	}{
		{"claim", claimBatchSQL, []any{[]string{}, []string{}, []float64{}}},
		{"complete", completeBatchSQL, []any{[]string{}, []int32{}, []string{}, []*string{}, []string{}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows, err := s.hot.QueryContext(t.Context(), "EXPLAIN "+tt.sql, tt.args...)
			require.NoError(t, err)
			defer rows.Close()
			var plan strings.Builder
			for rows.Next() {
				var line string
				require.NoError(t, rows.Scan(&line))
				plan.WriteString(line + "\n")
			}
			require.NoError(t, rows.Err())
			require.Contains(t, plan.String(), "Index Scan using jobs_pkey on jobs", plan.String())
			for _, bad := range []string{"Seq Scan on jobs", "Bitmap", "jobs_in_flight_idx", "jobs_lease_idx", "Hash Join"} {
				require.NotContains(t, plan.String(), bad, plan.String())
			}
		})
	}
}
