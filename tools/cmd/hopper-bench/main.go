// Command hopper-bench measures Hopper against the raw broker and database
// it runs on, in one run on one machine (`make bench`): RabbitMQ and
// Postgres ceilings first, then each workload through the real binaries,
// every figure the median of -runs runs, printed as a table with each
// workload's ratio to its ceiling and written as JSON.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

type options struct {
	bin        string
	dbURL      string
	amqpURL    string
	runs       int
	jobs       int
	clients    int
	out        string
	only       string
	submitRate int
	submitFor  time.Duration
	profile    string
	keep       bool
}

func main() {
	var o options
	flag.StringVar(&o.bin, "bin", "bin", "directory with the service binaries (make build)")
	flag.StringVar(&o.dbURL, "db", envOr("HOPPER_DATABASE_URL", "postgres://postgres:postgres@127.0.0.1:5432/hopper?sslmode=disable"), "Postgres URL (a fresh schema is made per run)")
	flag.StringVar(&o.amqpURL, "amqp", envOr("HOPPER_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/"), "RabbitMQ URL")
	flag.IntVar(&o.runs, "runs", 3, "runs per figure (the median is reported)")
	flag.IntVar(&o.jobs, "jobs", 20000, "jobs in W1/W1b/W1c/W1t and the ceilings")
	flag.IntVar(&o.clients, "clients", 32, "concurrent HTTP clients in W1")
	flag.StringVar(&o.out, "out", "bench.json", "JSON report file")
	flag.StringVar(&o.only, "only", "", "comma-separated subset: ceilings,w1,w1b,w1c,w1t,w2,w3,w4,o1,wf1")
	flag.IntVar(&o.submitRate, "rate", 1000, "W4 open-loop submit rate (requests/s)")
	flag.DurationVar(&o.submitFor, "rate-for", 10*time.Second, "W4 duration")
	flag.BoolVar(&o.keep, "keep", false, "keep each run's schema (bench_*) for inspection instead of dropping it")
	flag.StringVar(&o.profile, "profile", "", "directory for 8 s CPU profiles and allocation profiles of gateway and worker taken during W1 and W4 (DIR/w1, DIR/w4)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := run(ctx, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "hopper-bench:", err)
		os.Exit(1)
	}
	printTable(os.Stdout, rep)
	b, _ := json.MarshalIndent(rep, "", "  ")
	if err := os.WriteFile(o.out, b, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "hopper-bench: write report:", err)
		os.Exit(1)
	}
	fmt.Printf("\nJSON report: %s\n", o.out)
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
