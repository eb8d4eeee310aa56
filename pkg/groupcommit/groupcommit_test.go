package groupcommit_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hopperq/hopper/pkg/groupcommit"
)

// recorder is a FlushFunc that doubles its inputs and records each batch;
// gate, when set, holds every flush until it is closed.
type recorder struct {
	mu        sync.Mutex
	batches   [][]int
	running   atomic.Int32
	maxAtOnce atomic.Int32
	gate      chan struct{}
}

func (r *recorder) flush(ctx context.Context, ins []int) []groupcommit.Result[int] {
	n := r.running.Add(1)
	defer r.running.Add(-1)
	for {
		m := r.maxAtOnce.Load()
		if n <= m || r.maxAtOnce.CompareAndSwap(m, n) {
			break
		}
	}
	if r.gate != nil {
		<-r.gate
	}
	r.mu.Lock()
	r.batches = append(r.batches, append([]int(nil), ins...))
	r.mu.Unlock()
	out := make([]groupcommit.Result[int], len(ins))
	for i, in := range ins {
		if in < 0 {
			out[i].Err = fmt.Errorf("negative %d", in)
			continue
		}
		out[i].Value = 2 * in
	}
	return out
}

func TestDoAloneFlushesAtOnce(t *testing.T) {
	r := &recorder{}
	b := groupcommit.New(r.flush, groupcommit.Options{})
	for i := range 3 {
		got, err := b.Do(context.Background(), i)
		if err != nil || got != 2*i {
			t.Fatalf("Do(%d) = %d, %v; want %d", i, got, err, 2*i)
		}
	}
	if len(r.batches) != 3 {
		t.Fatalf("sequential calls made %d flushes, want 3 (one each, no waiting for company)", len(r.batches))
	}
}

func TestConcurrentCallsShareFlushes(t *testing.T) {
	tests := []struct {
		name     string
		calls    int
		maxBatch int
		flushers int
	}{
		{"one flusher", 200, 50, 1},
		{"two flushers", 200, 50, 2},
		{"small batches", 90, 7, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &recorder{gate: make(chan struct{})}
			b := groupcommit.New(r.flush, groupcommit.Options{MaxBatch: tt.maxBatch, Flushers: tt.flushers})
			var wg sync.WaitGroup
			errs := make(chan error, tt.calls)
			for i := range tt.calls {
				wg.Add(1)
				go func() {
					defer wg.Done()
					got, err := b.Do(context.Background(), i)
					if err != nil || got != 2*i {
						errs <- fmt.Errorf("Do(%d) = %d, %v", i, got, err)
					}
				}()
			}
			// Flushes block on the gate, so the remaining calls queue up.
			close(r.gate)
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			seen := 0
			for _, batch := range r.batches {
				if len(batch) > tt.maxBatch {
					t.Errorf("batch of %d, MaxBatch %d", len(batch), tt.maxBatch)
				}
				seen += len(batch)
			}
			if seen != tt.calls {
				t.Errorf("flushed %d inputs, want %d", seen, tt.calls)
			}
			if got := int(r.maxAtOnce.Load()); got > tt.flushers {
				t.Errorf("%d flushes ran at once, Flushers %d", got, tt.flushers)
			}
		})
	}
}

func TestBatchesFormUnderLoad(t *testing.T) {
	r := &recorder{gate: make(chan struct{})}
	b := groupcommit.New(r.flush, groupcommit.Options{MaxBatch: 100, Flushers: 1})
	first := make(chan struct{})
	go func() {
		defer close(first)
		_, _ = b.Do(context.Background(), 0)
	}()
	// Wait until the first call's flush holds the only flusher.
	waitFor(t, func() bool { return r.running.Load() == 1 })
	var wg sync.WaitGroup
	for i := 1; i <= 40; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = b.Do(context.Background(), i)
		}()
	}
	waitFor(t, func() bool { return b.PendingForTest() == 40 })
	close(r.gate)
	wg.Wait()
	<-first
	if len(r.batches) != 2 || len(r.batches[1]) != 40 {
		sizes := []int{}
		for _, x := range r.batches {
			sizes = append(sizes, len(x))
		}
		t.Fatalf("batch sizes %v, want [1 40]: calls queued behind a busy flusher share one flush", sizes)
	}
}

// TestUrgentCallSkipsBusyFlusher: with the only flusher busy and calls
// queued, an urgent call is written at once, in a flush of urgent calls
// only, and the queued calls then share the next flush.
func TestUrgentCallSkipsBusyFlusher(t *testing.T) {
	const urgentIn = 99
	r := &recorder{}
	gate := make(chan struct{})
	var held atomic.Int32
	b := groupcommit.New(func(ctx context.Context, ins []int) []groupcommit.Result[int] {
		if !slices.Contains(ins, urgentIn) {
			held.Add(1)
			<-gate
		}
		return r.flush(ctx, ins)
	}, groupcommit.Options{MaxBatch: 100, Flushers: 1})
	var wg sync.WaitGroup
	do := func(i int) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = b.Do(context.Background(), i)
		}()
	}
	do(0)
	waitFor(t, func() bool { return held.Load() == 1 }) // the first call's flush holds the flusher
	for i := 1; i <= 5; i++ {
		do(i)
	}
	waitFor(t, func() bool { return b.PendingForTest() == 5 })

	urgentDone := make(chan error, 1)
	go func() {
		got, err := b.DoUrgent(context.Background(), urgentIn)
		if err == nil && got != 2*urgentIn {
			err = fmt.Errorf("got %d, want %d", got, 2*urgentIn)
		}
		urgentDone <- err
	}()
	select {
	case err := <-urgentDone:
		if err != nil {
			t.Fatalf("DoUrgent: %v", err)
		}
	case <-time.After(5 * time.Second):
		close(gate)
		t.Fatal("the urgent call waited for the busy flusher")
	}
	close(gate)
	wg.Wait()
	// The queued calls share one flush, in whatever order they queued.
	if len(r.batches) != 3 || !slices.Equal(r.batches[0], []int{urgentIn}) ||
		!slices.Equal(r.batches[1], []int{0}) || len(r.batches[2]) != 5 {
		t.Fatalf("batches %v, want [[%d] [0] [five queued calls]]", r.batches, urgentIn)
	}
}

// TestUrgentCallsQueuedBehindAnUrgentFlush: urgent calls arriving while
// an urgent flush runs are written next by a handed-over flush, still
// ahead of the busy regular flusher.
func TestUrgentCallsQueuedBehindAnUrgentFlush(t *testing.T) {
	r := &recorder{}
	regular, urgent := make(chan struct{}), make(chan struct{})
	var heldRegular, heldUrgent atomic.Int32
	b := groupcommit.New(func(ctx context.Context, ins []int) []groupcommit.Result[int] {
		switch {
		case slices.Contains(ins, 0):
			heldRegular.Add(1)
			<-regular
		case slices.Contains(ins, 99):
			heldUrgent.Add(1)
			<-urgent
		}
		return r.flush(ctx, ins)
	}, groupcommit.Options{MaxBatch: 100, Flushers: 1})
	defer close(regular)
	done := make(chan int, 3)
	run := func(do func(context.Context, int) (int, error), in int) {
		go func() {
			out, _ := do(context.Background(), in)
			done <- out / 2
		}()
	}
	run(b.Do, 0)
	waitFor(t, func() bool { return heldRegular.Load() == 1 })
	run(b.DoUrgent, 99)
	waitFor(t, func() bool { return heldUrgent.Load() == 1 })
	run(b.DoUrgent, 98)
	waitFor(t, func() bool { return b.PendingForTest() == 1 })
	close(urgent)
	for _, want := range []int{99, 98} {
		select {
		case got := <-done:
			if got != want {
				t.Fatalf("call %d returned before %d", got, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("urgent call %d waited for the busy regular flusher", want)
		}
	}
}

func TestPerInputErrorsAndBadFlush(t *testing.T) {
	r := &recorder{}
	b := groupcommit.New(r.flush, groupcommit.Options{})
	if _, err := b.Do(context.Background(), -1); err == nil {
		t.Fatal("Do(-1) succeeded, want the flush's per-input error")
	}
	bad := groupcommit.New(func(context.Context, []int) []groupcommit.Result[int] { return nil }, groupcommit.Options{})
	if _, err := bad.Do(context.Background(), 1); err == nil {
		t.Fatal("a flush returning no results answered without error")
	}
}

func TestFlushOutlivesCallerCancel(t *testing.T) {
	var flushErr error
	b := groupcommit.New(func(ctx context.Context, ins []int) []groupcommit.Result[int] {
		flushErr = ctx.Err()
		return make([]groupcommit.Result[int], len(ins))
	}, groupcommit.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := b.Do(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if errors.Is(flushErr, context.Canceled) {
		t.Fatal("the flush ran on the caller's cancelled context")
	}
}

// waitFor polls cond until it holds or a deadline passes.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 5s")
		}
		runtime.Gosched()
	}
}
