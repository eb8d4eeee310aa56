package hopper_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/hopperq/hopper/pkg/hopper"
)

// These examples need a running gateway (make run), so they have no
// Output and are compiled, not run, by go test. They read the gateway's
// address and an API key from HOPPER_URL and HOPPER_API_KEY, as hopperctl
// does.

// Thumbnail is a payload a backend defines for its own kind.
type Thumbnail struct {
	URL   string `json:"url"`
	Width int    `json:"width"`
}

func exampleClient() *hopper.Client {
	c, err := hopper.NewClient(os.Getenv("HOPPER_URL"), os.Getenv("HOPPER_API_KEY"))
	if err != nil {
		log.Fatal(err)
	}
	return c
}

func ExampleNewClient() {
	c, err := hopper.NewClient("http://127.0.0.1:8080", os.Getenv("HOPPER_API_KEY"),
		hopper.WithRequestTimeout(10*time.Second),
		hopper.WithUserAgent("billing-service"),
	)
	if err != nil {
		log.Fatal(err)
	}
	_ = c // share one client: it is safe for concurrent use
}

func ExampleClient_Enqueue() {
	c := exampleClient()
	ctx := context.Background()

	res, err := c.Enqueue(ctx, "acme.thumbnail", Thumbnail{URL: "https://example.com/a.png", Width: 640},
		hopper.WithIdempotencyKey("thumb-a.png-640"), // a retried request does not enqueue twice
		hopper.WithPriorityName("high"),
		hopper.WithMaxAttempts(5),
		hopper.WithJobTimeout(2*time.Minute),
	)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.ID, res.State, res.Replayed)
}

func ExampleClient_Enqueue_scheduled() {
	c := exampleClient()
	res, err := c.Enqueue(context.Background(), "system.noop", nil,
		hopper.WithRunAt(time.Now().Add(time.Hour)),
		hopper.WithWebhookURL("https://example.com/hooks/hopper"), // told when it ends
	)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.State) // scheduled
}

func ExampleClient_EnqueueMany() {
	c := exampleClient()
	items := []hopper.BatchItem{
		{Kind: "acme.thumbnail", Payload: Thumbnail{URL: "https://example.com/a.png", Width: 320}},
		{Kind: "acme.thumbnail", Payload: Thumbnail{URL: "https://example.com/b.png", Width: 320},
			Options: []hopper.EnqueueOption{hopper.WithPriority(4)}},
	}
	results, err := c.EnqueueMany(context.Background(), items) // all or none
	var apiErr *hopper.APIError
	if errors.As(err, &apiErr) && apiErr.Details.Index != nil {
		log.Fatalf("item %d refused: %s", *apiErr.Details.Index, apiErr.Message)
	}
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range results {
		fmt.Println(r.ID)
	}
}

func ExampleClient_Wait() {
	c := exampleClient()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	res, err := c.Enqueue(ctx, "system.sleep", map[string]int{"ms": 2000})
	if err != nil {
		log.Fatal(err)
	}
	job, err := c.Wait(ctx, res.ID)
	if err != nil {
		log.Fatal(err)
	}
	if job.State != hopper.JobStateSucceeded {
		log.Fatalf("job %s %s: %s", job.ID, job.State, job.Error)
	}
	var out struct {
		SleptMS int `json:"slept_ms"`
	}
	if err := job.DecodeResult(&out); err != nil {
		log.Fatal(err)
	}
	fmt.Println(out.SleptMS)
}

func ExampleClient_Events() {
	c := exampleClient()
	ctx := context.Background()
	res, err := c.Enqueue(ctx, "system.sleep", map[string]int{"ms": 3000})
	if err != nil {
		log.Fatal(err)
	}
	for ev, err := range c.Events(ctx, res.ID) {
		if err != nil {
			log.Fatal(err)
		}
		if ev.IsProgress() {
			fmt.Printf("%3d%% %s\n", ev.Progress, ev.StatusMessage)
			continue
		}
		fmt.Println(ev.Type, ev.State) // created, started, succeeded…
	}
}

func ExampleClient_Get() {
	c := exampleClient()
	job, err := c.Get(context.Background(), "0190c5e2-7c1a-7b7e-8d1e-1f2a3b4c5d6e")
	if errors.Is(err, hopper.ErrNotFound) {
		fmt.Println("no such job")
		return
	}
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(job.Kind, job.State, job.Progress, job.Attempts)
	for _, e := range job.Events {
		fmt.Println(e.At.Format(time.RFC3339), e.Type)
	}
}

func ExampleClient_List() {
	c := exampleClient()
	f := hopper.JobFilter{States: []hopper.JobState{hopper.JobStateFailed}, Kind: "acme.thumbnail", Limit: 100}
	for {
		page, err := c.List(context.Background(), f)
		if err != nil {
			log.Fatal(err)
		}
		for _, j := range page.Jobs {
			fmt.Println(j.ID, j.Error)
		}
		if page.NextCursor == "" {
			break
		}
		f.Cursor = page.NextCursor
	}
}

func ExampleClient_ListAll() {
	c := exampleClient()
	ctx := context.Background()
	// Retry every failed thumbnail.
	for j, err := range c.ListAll(ctx, hopper.JobFilter{States: []hopper.JobState{hopper.JobStateFailed}, Kind: "acme.thumbnail"}) {
		if err != nil {
			log.Fatal(err)
		}
		if _, err := c.Retry(ctx, j.ID); err != nil && !errors.Is(err, hopper.ErrConflict) {
			log.Fatal(err)
		}
	}
}

func ExampleClient_Cancel() {
	c := exampleClient()
	ctx := context.Background()
	job, err := c.Cancel(ctx, "0190c5e2-7c1a-7b7e-8d1e-1f2a3b4c5d6e")
	if errors.Is(err, hopper.ErrConflict) {
		fmt.Println("already over")
		return
	}
	if err != nil {
		log.Fatal(err)
	}
	if job.CancelRequested && job.State == hopper.JobStateRunning {
		// Its worker is being told to stop; wait for it.
		job, err = c.Wait(ctx, job.ID)
		if err != nil {
			log.Fatal(err)
		}
	}
	fmt.Println(job.State) // cancelled (or succeeded, if it finished first)
}

func ExampleClient_Retry() {
	c := exampleClient()
	job, err := c.Retry(context.Background(), "0190c5e2-7c1a-7b7e-8d1e-1f2a3b4c5d6e")
	if err != nil {
		log.Fatal(err) // ErrConflict unless the job failed or was cancelled
	}
	fmt.Println(job.State) // queued
}

func ExampleAPIError() {
	c := exampleClient()
	_, err := c.Enqueue(context.Background(), "acme.thumbnail", Thumbnail{URL: "https://example.com/a.png"})
	var apiErr *hopper.APIError
	switch {
	case errors.Is(err, hopper.ErrRateLimited) && errors.As(err, &apiErr):
		fmt.Println("over the plan's limit; retry in", apiErr.RetryAfter)
	case errors.Is(err, hopper.ErrUnprocessable) && errors.As(err, &apiErr):
		fmt.Println(apiErr.Code, apiErr.Details.Field, apiErr.Message, apiErr.Details.ValidKinds)
	case err != nil:
		log.Fatal(err)
	}
}
