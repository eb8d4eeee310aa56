package jobstore

import (
	"context"
	"fmt"
)

// ExplainHot is the plan, on the hot pool, of the batched claim or
// completion (which: "claim", "complete") over empty arrays, for the
// test that holds them to primary-key lookups.
func (s *Store) ExplainHot(ctx context.Context, which string) ([]string, error) {
	q, args := claimBatchSQL, []any{[]string{}, []string{}, []float64{}}
	switch which {
	case "claim":
	case "complete":
		q, args = completeBatchSQL, []any{[]string{}, []int32{}, []string{}, []*string{}, []string{}}
	default:
		return nil, fmt.Errorf("no batched statement %q", which)
	}
	rows, err := s.hot.QueryContext(ctx, "EXPLAIN "+q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return nil, err
		}
		plan = append(plan, line)
	}
	return plan, rows.Err()
}
