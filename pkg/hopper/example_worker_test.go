package hopper_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/hopperq/hopper/pkg/config"
	"github.com/hopperq/hopper/pkg/hopper"
)

// Resize is a payload type that names its kind (River's JobArgs): its
// definition and, derived from its fields, its payload JSON Schema.
type Resize struct {
	URL   string `json:"url" jsonschema:"format=uri"`
	Width int    `json:"width,omitempty" jsonschema:"minimum=1,maximum=4096"`
}

func (Resize) Kind() hopper.KindSpec {
	return hopper.KindSpec{Name: "acme.resize", MaxAttempts: 5, Timeout: 2 * time.Minute}
}

// Resized is acme.resize's result.
type Resized struct {
	URL string `json:"url"`
}

var errNotAnImage = errors.New("not an image")

// exampleConfig is a worker configuration built in code rather than read
// from HOPPER_* (which NewWorker does when Config is nil).
func exampleConfig() *config.Config {
	cfg, err := config.Load("acme-worker", func(string) string { return "" })
	if err != nil {
		panic(err)
	}
	return &cfg
}

// A typed handler, River-style: the payload arrives decoded, the result is
// the job's result. Its errors decide what happens next.
func ExampleHandle() {
	w, err := hopper.NewWorker(hopper.WorkerConfig{Config: exampleConfig(), Logger: zap.NewNop()})
	if err != nil {
		fmt.Println(err)
		return
	}
	hopper.Handle(w, func(ctx context.Context, job *hopper.Job[Resize]) (Resized, error) {
		job.Logger().Info("resizing")
		if err := job.Progress(ctx, 50, "downloaded"); err != nil {
			return Resized{}, err
		}
		switch {
		case job.Args.Width == 13:
			return Resized{}, hopper.Permanent(errNotAnImage) // failed now, no retry
		case job.Attempt == 1:
			return Resized{}, hopper.RetryAfter(errors.New("origin busy"), 30*time.Second)
		}
		return Resized{URL: job.Args.URL + "?w=" + fmt.Sprint(job.Args.Width)}, nil
	})
	fmt.Println(w.Kinds())
	// Output: [acme.resize]
}

// A raw handler, asynq-style, for a kind with the default definition
// (queue "acme", 3 attempts, a minute each): the payload is raw JSON.
func ExampleWorker_HandleFunc() {
	w, err := hopper.NewWorker(hopper.WorkerConfig{Config: exampleConfig(), Logger: zap.NewNop()})
	if err != nil {
		fmt.Println(err)
		return
	}
	w.HandleFunc("acme.ping", func(ctx context.Context, job *hopper.RawJob) (any, error) {
		return map[string]any{"pong": string(job.Payload)}, nil
	})
	fmt.Println(w.Kinds())
	// Output: [acme.ping]
}

// Snooze runs the job again later without using an attempt: "not now".
func ExampleSnooze() {
	handler := func(ctx context.Context, job *hopper.Job[Resize]) (Resized, error) {
		if time.Now().Hour() < 6 {
			return Resized{}, hopper.Snooze(time.Hour) // the origin sleeps at night
		}
		return Resized{URL: job.Args.URL}, nil
	}
	_ = handler
}

// A cron schedule the service owns: created when the worker starts, unless
// an admin's copy of that name exists.
func ExampleWorker_Schedule() {
	w, err := hopper.NewWorker(hopper.WorkerConfig{Config: exampleConfig(), Logger: zap.NewNop()})
	if err != nil {
		fmt.Println(err)
		return
	}
	w.HandleFunc("acme.report", func(context.Context, *hopper.RawJob) (any, error) { return nil, nil })
	w.Schedule(hopper.Schedule{Name: "nightly-report", Spec: "0 3 * * *", Timezone: "Europe/Paris",
		Kind: "acme.report", Payload: map[string]any{"days": 1}})
	fmt.Println(w.Kinds())
	// Output: [acme.report]
}

// The payload JSON Schema derived from a Go type: what the gateway checks
// every submit of the kind against.
func ExampleSchemaFor() {
	schema, err := hopper.SchemaFor[Resize]()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(string(schema))
	// Output: {"properties":{"url":{"type":"string","format":"uri"},"width":{"type":"integer","maximum":4096,"minimum":1}},"additionalProperties":false,"type":"object","required":["url"]}
}

// A whole worker service: Run publishes the kinds to the catalogue,
// declares their queue and runs jobs until SIGTERM, then drains.
func ExampleWorker_Run() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	w, err := hopper.NewWorker(hopper.WorkerConfig{Service: "acme-worker"}) // HOPPER_* from the environment
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	hopper.Handle(w, func(ctx context.Context, job *hopper.Job[Resize]) (Resized, error) {
		return Resized{URL: job.Args.URL}, nil
	})
	if err := w.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
}

// Kinds defined at run time: one handler serves every kind of a queue,
// including kinds published after the worker started, and hands long work
// to another system with Detach (Hopper's push worker works this way).
func ExampleWorker_HandleQueue() {
	w, err := hopper.NewWorker(hopper.WorkerConfig{Config: exampleConfig(), Logger: zap.NewNop()})
	if err != nil {
		fmt.Println(err)
		return
	}
	w.HandleQueue("tenant-hooks", func(ctx context.Context, job *hopper.RawJob) (any, error) {
		job.Logger().Info("running a kind defined at run time", zap.String("kind", job.Kind))
		if len(job.Payload) > 64<<10 {
			// The other system finishes it later (or the lease runs out
			// and the job is retried).
			return nil, hopper.Detach(time.Hour)
		}
		return map[string]string{"kind": job.Kind}, nil
	})
	fmt.Println(w.Kinds())
	// Output: []
}
