// Command hopperctl is Hopper's command-line client: submit and follow
// jobs and workflows, list, cancel and retry them, inspect kinds, queues
// and workers, and manage users, API keys, cron schedules, push kinds and
// worker tokens — all through the gateway's HTTP API.
//
//	hopperctl [global flags] <command> [flags] [args]
//
// Global flags (or environment): -url (HOPPER_URL, default
// http://127.0.0.1:8080), -key (HOPPER_API_KEY; admin commands also accept
// HOPPER_ADMIN_TOKEN), -o table|json.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

const usage = `hopperctl — Hopper command-line client

Usage: hopperctl [-url URL] [-key KEY] [-o table|json] <command> [flags] [args]

Jobs:
  submit <kind> [-payload JSON] [-priority low|normal|high|0-5] [-run-at RFC3339]
         [-max-attempts N] [-timeout 30s] [-idempotency-key K] [-wait]
  get <job id>              state, progress, result, error and timeline
  watch <job id>            follow a job live (progress bar) until it ends
  list [-state S] [-kind K] [-limit N] [-all]
  cancel <job id>
  retry <job id>
Workflows:
  workflow submit <file.json|file.yaml|-> [-idempotency-key K] [-watch]
  workflow get <id>         state, steps (jobs, attempts, errors) and timeline
  workflow list [-state S] [-limit N]
  workflow watch <id>       follow step states live until the workflow ends
  workflow cancel <id>
  workflow retry-step <id> <step>   re-run a failed step and resume
Operations:
  kinds                     the kind catalogue: queue, service, live workers, attempts, timeout
  kinds <name>              one kind with its defaults and payload JSON Schema
  queues                    depth, consumers and rates per queue
  workers                   live worker instances (admin)
  users create <email> [-plan PLAN] [-role user|admin]   (admin)
  users plan <user id> <plan>   move a user to a plan (admin)
  users keys <user id>      the user's API keys: id, prefix, created, last used, revoked (admin)
  users deactivate <user id>   every key and session of the user stops at once (admin)
  users activate <user id>  undo a deactivation (admin)
  limits                    your plan, limits, usage and what remains
Plans (admin):
  plans list                limits of every plan (0 = unlimited)
  plans create <name> [-jobs-per-hour N] [-documents N] [-max-concurrent N]
         [-max-priority 0-5] [-boost 0-5]
  plans update <name> [same flags; only those given change]
  plans delete <name>       refused while users are on it
  keys create <user id>     prints the key once (admin)
  keys revoke <key id>      (admin)
Schedules (admin):
  schedules list            name, spec, time zone, kind, enabled, next and last run
  schedules create <name> -spec "0 2 * * *"|@hourly|@every 10m -kind K
         [-payload JSON] [-priority P] [-timezone Europe/Paris] [-owner USER_ID] [-disabled]
  schedules enable|disable <name>
  schedules trigger <name>  create one job now
  schedules delete <name>
Push kinds (admin; kinds whose handler is an HTTP endpoint):
  push-kinds list|get <name>
  push-kinds create <name> -url URL [-timeout S] [-attempts N] [-concurrency N] [-rate R] [-schema JSON] …
  push-kinds update <name> [same flags; only those given change]
  push-kinds rotate-secret <name> [-overlap S]   new signing secret, shown once
  push-kinds delete <name>
Worker tokens (admin; the pull protocol):
  worker-tokens create <name> -queues q1,q2 [-max-in-flight N]   prints the token once
  worker-tokens list        name, prefix, queues, max in flight, revoked
  worker-tokens revoke <token id>

Environment: HOPPER_URL, HOPPER_API_KEY, HOPPER_ADMIN_TOKEN.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	var ue usageError
	switch {
	case err == nil:
	case errors.As(err, &ue):
		fmt.Fprintln(os.Stderr, "hopperctl:", err)
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "hopperctl:", err)
		os.Exit(1)
	}
}

// usageError is a mistake in the command line (exit code 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{msg: fmt.Sprintf(format, args...)} }

// run parses global flags and dispatches to a command.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("hopperctl", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	url := fs.String("url", envOr("HOPPER_URL", "http://127.0.0.1:8080"), "gateway base URL")
	key := fs.String("key", os.Getenv("HOPPER_API_KEY"), "API key (or admin token)")
	output := fs.String("o", "table", "output: table or json")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, usage)
			return nil
		}
		return usagef("%v", err)
	}
	if *output != "table" && *output != "json" {
		return usagef("-o must be table or json")
	}
	rest := fs.Args()
	if len(rest) == 0 {
		return usagef("no command given")
	}
	token := *key
	if token == "" {
		token = os.Getenv("HOPPER_ADMIN_TOKEN")
	}
	c := &cli{api: newAPI(*url, token), out: stdout, errOut: stderr, json: *output == "json"}
	cmd, cmdArgs := rest[0], rest[1:]
	switch cmd {
	case "submit":
		return c.submit(ctx, cmdArgs)
	case "get":
		return c.get(ctx, cmdArgs)
	case "watch":
		return c.watch(ctx, cmdArgs)
	case "list":
		return c.list(ctx, cmdArgs)
	case "cancel":
		return c.cancel(ctx, cmdArgs)
	case "retry":
		return c.retry(ctx, cmdArgs)
	case "workflow", "workflows":
		return c.workflow(ctx, cmdArgs)
	case "kinds":
		return c.kinds(ctx, cmdArgs)
	case "queues":
		return c.queues(ctx, cmdArgs)
	case "workers":
		return c.workers(ctx, cmdArgs)
	case "users":
		return c.users(ctx, cmdArgs)
	case "keys":
		return c.keys(ctx, cmdArgs)
	case "plans":
		return c.plans(ctx, cmdArgs)
	case "limits":
		return c.limits(ctx, cmdArgs)
	case "schedules":
		return c.schedules(ctx, cmdArgs)
	case "push-kinds":
		return c.pushKinds(ctx, cmdArgs)
	case "worker-tokens":
		return c.workerTokens(ctx, cmdArgs)
	case "help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		return usagef("unknown command %q", cmd)
	}
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
