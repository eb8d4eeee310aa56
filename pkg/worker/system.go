package worker

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/hopperq/hopper/pkg/jobs"
)

// MaxSleep bounds system.sleep so a typo cannot park a worker slot for
// days.
const MaxSleep = time.Hour

// RegisterSystem registers system.noop and system.sleep, which every worker
// runs for smoke tests and benchmarks.
func RegisterSystem(p *Processor) {
	p.Handle(jobs.KindNoop, noop)
	p.Handle(jobs.KindSleep, sleep)
}

func noop(_ context.Context, job *Job) (any, error) {
	return map[string]any{"ok": true, "attempt": job.Attempt}, nil
}

type sleepPayload struct {
	MS   *int64 `json:"ms"`
	Fail string `json:"fail,omitempty"` // "permanent" or "transient": fail after sleeping, for tests
}

// sleep waits payload.ms milliseconds, reporting progress in ten steps.
func sleep(ctx context.Context, job *Job) (any, error) {
	var p sleepPayload
	if err := json.Unmarshal(job.Payload, &p); err != nil {
		return nil, Permanentf("payload: %v", err)
	}
	if p.MS == nil || *p.MS < 0 {
		return nil, Permanentf("payload.ms: want a number of milliseconds >= 0")
	}
	total := time.Duration(*p.MS) * time.Millisecond
	if total > MaxSleep {
		return nil, Permanentf("payload.ms: %s is over the %s limit", total, MaxSleep)
	}
	step := total / 10
	for i := 1; i <= 10; i++ {
		t := time.NewTimer(step)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("sleep interrupted at %d%%: %w", (i-1)*10, ctx.Err())
		case <-t.C:
		}
		if i < 10 && step >= 50*time.Millisecond {
			_ = job.Progress(ctx, i*10, fmt.Sprintf("slept %s of %s", step*time.Duration(i), total))
		}
	}
	switch p.Fail {
	case "permanent":
		return nil, Permanentf("asked to fail permanently")
	case "transient":
		return nil, fmt.Errorf("asked to fail (attempt %d)", job.Attempt)
	}
	return map[string]any{"slept_ms": *p.MS}, nil
}
