package clock_test

import (
	"context"
	"testing"
	"time"

	"github.com/hopperq/hopper/pkg/clock"
)

func TestSleep(t *testing.T) {
	t.Parallel()
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	tests := []struct {
		name string
		ctx  context.Context
		d    time.Duration
		want error
	}{
		{"elapses", t.Context(), time.Millisecond, nil},
		{"zero", t.Context(), 0, nil},
		{"negative", t.Context(), -time.Second, nil},
		{"cancelled before", cancelled, time.Hour, context.Canceled},
		{"cancelled zero", cancelled, 0, context.Canceled},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := clock.Sleep(tc.ctx, tc.d); got != tc.want {
				t.Fatalf("Sleep(%v) = %v, want %v", tc.d, got, tc.want)
			}
		})
	}
}

// TestSleepEndsWithItsContext checks a long sleep returns when its context
// is cancelled part-way, not when the duration is up.
func TestSleepEndsWithItsContext(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- clock.Sleep(ctx, time.Hour) }()
	cancel()
	select {
	case err := <-done:
		if err != context.Canceled {
			t.Fatalf("Sleep = %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Sleep did not end with its context")
	}
}
