// Package clock holds the waits every background loop needs: a sleep that
// ends early, with the context's error, when its context does.
package clock

import (
	"context"
	"time"
)

// Sleep waits d, or until ctx ends and then returns ctx's error. A d of
// zero or less returns at once.
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
