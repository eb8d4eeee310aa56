package hopper

import (
	"context"
	"fmt"

	"github.com/hopperq/hopper/pkg/jobs"
	"github.com/hopperq/hopper/pkg/store"
)

// PublishKinds records kinds in the catalogue at databaseURL as service's,
// as Run does when a worker starts. Use it to make a kind acceptable
// before its first worker runs (a deploy step, a test); its jobs then
// wait in their queue, and GET /v1/kinds shows 0 workers. The queue and
// its binding are declared by the first worker that starts.
func PublishKinds(ctx context.Context, databaseURL, service string, specs ...KindSpec) error {
	kinds := make([]jobs.Kind, 0, len(specs))
	for _, s := range specs {
		k, err := s.kind(service)
		if err != nil {
			return fmt.Errorf("hopper: %w", err)
		}
		kinds = append(kinds, k)
	}
	st, err := store.Open(ctx, databaseURL, store.Options{MaxOpenConns: 1})
	if err != nil {
		return fmt.Errorf("hopper: %w", err)
	}
	defer st.Close()
	return st.PublishKinds(ctx, kinds)
}
