package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/hopperq/hopper/pkg/jobs"
)

// maxWorkflowFile bounds a workflow file: 100 steps of 256 KiB payloads
// fit the gateway's own body limit, far below this.
const maxWorkflowFile = 32 << 20

// workflow dispatches the workflow subcommands.
func (c *cli) workflow(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return usagef("workflow: want submit, get, list, watch, cancel or retry-step")
	}
	sub, rest := args[0], args[1:]
	switch sub {
	case "submit":
		return c.workflowSubmit(ctx, rest)
	case "get":
		return c.workflowGet(ctx, rest)
	case "list":
		return c.workflowList(ctx, rest)
	case "watch":
		id, err := parseWithArg(flag.NewFlagSet("workflow watch", flag.ContinueOnError), rest, "workflow watch <workflow id>")
		if err != nil {
			return err
		}
		return c.workflowWatch(ctx, id)
	case "cancel":
		return c.workflowCancel(ctx, rest)
	case "retry-step":
		return c.workflowRetryStep(ctx, rest)
	default:
		return usagef("workflow: unknown subcommand %q", sub)
	}
}

// readWorkflowFile reads a workflow request from path ("-": stdin), JSON
// or YAML (by extension, or by content when it does not start with "{"),
// and returns it as JSON.
func readWorkflowFile(path string, stdin io.Reader) (json.RawMessage, error) {
	var r io.Reader = stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	raw, err := io.ReadAll(io.LimitReader(r, maxWorkflowFile+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(raw) > maxWorkflowFile {
		return nil, fmt.Errorf("%s: over %d MiB", path, maxWorkflowFile>>20)
	}
	trimmed := bytes.TrimSpace(raw)
	if strings.HasSuffix(path, ".json") || bytes.HasPrefix(trimmed, []byte("{")) {
		if !json.Valid(trimmed) {
			return nil, fmt.Errorf("%s: not valid JSON", path)
		}
		return trimmed, nil
	}
	var doc any
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if _, ok := doc.(map[string]any); !ok {
		return nil, fmt.Errorf("%s: want a mapping with steps", path)
	}
	out, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return out, nil
}

func (c *cli) workflowSubmit(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("workflow submit", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	key := fs.String("idempotency-key", "", "makes the submit safe to repeat")
	watch := fs.Bool("watch", false, "follow the workflow until it ends")
	file, err := parseWithArg(fs, args, "workflow submit <file.json|file.yaml|-> [-idempotency-key K] [-watch]")
	if err != nil {
		return err
	}
	body, err := readWorkflowFile(file, os.Stdin)
	if err != nil {
		return err
	}
	var header map[string]string
	if *key != "" {
		header = map[string]string{"Idempotency-Key": *key}
	}
	var acc jobs.WorkflowAccepted
	if err := c.api.do(ctx, "POST", "/v1/workflows", body, header, &acc); err != nil {
		return err
	}
	if c.json && !*watch {
		return c.emit(acc)
	}
	if !c.json {
		fmt.Fprintf(c.out, "%s %s\n", acc.ID, acc.State)
	}
	if *watch {
		return c.workflowWatch(ctx, acc.ID)
	}
	return nil
}

func (c *cli) getWorkflow(ctx context.Context, id string) (jobs.WorkflowView, error) {
	var w jobs.WorkflowView
	err := c.api.do(ctx, "GET", "/v1/workflows/"+url.PathEscape(id), nil, nil, &w)
	return w, err
}

func (c *cli) workflowGet(ctx context.Context, args []string) error {
	id, err := parseWithArg(flag.NewFlagSet("workflow get", flag.ContinueOnError), args, "workflow get <workflow id>")
	if err != nil {
		return err
	}
	w, err := c.getWorkflow(ctx, id)
	if err != nil {
		return err
	}
	if c.json {
		return c.emit(w)
	}
	c.printWorkflow(w)
	return nil
}

// printWorkflow prints the workflow, a table of its steps and its
// timeline.
func (c *cli) printWorkflow(w jobs.WorkflowView) {
	fmt.Fprintf(c.out, "id      %s\nname    %s\nstate   %s\npolicy  %s\ncreated %s\n\n",
		w.ID, w.Name, w.State, w.FailurePolicy, w.CreatedAt.Format(time.RFC3339))
	tw := tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STEP\tKIND\tSTATE\tJOBS\tATTEMPTS\tDEPENDS ON\tERROR")
	for _, s := range w.Steps {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", s.Name, s.Kind, s.State,
			jobCounts(s.JobsSucceeded, s.JobsFailed, s.JobsCancelled, s.JobsTotal), s.Attempts,
			strings.Join(s.DependsOn, ","), s.Error)
	}
	_ = tw.Flush()
	fmt.Fprintln(c.out, "\ntimeline:")
	tw = tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
	for _, e := range w.Timeline {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", e.At.Format(time.RFC3339Nano), e.Type, e.Step, e.Error)
	}
	_ = tw.Flush()
}

// jobCounts is "succeeded/total" with the failed and cancelled when any.
func jobCounts(ok, failed, cancelled, total int) string {
	s := fmt.Sprintf("%d/%d", ok, total)
	if failed > 0 {
		s += fmt.Sprintf(" %d failed", failed)
	}
	if cancelled > 0 {
		s += fmt.Sprintf(" %d cancelled", cancelled)
	}
	return s
}

func (c *cli) workflowList(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("workflow list", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	state := fs.String("state", "", "comma-separated: running, succeeded, failed, cancelled")
	limit := fs.Int("limit", 50, "workflows (1-500)")
	if err := fs.Parse(args); err != nil {
		return usagef("workflow list: %v", err)
	}
	q := url.Values{"limit": {fmt.Sprint(*limit)}}
	if *state != "" {
		q.Set("state", *state)
	}
	var list jobs.WorkflowList
	if err := c.api.do(ctx, "GET", "/v1/workflows?"+q.Encode(), nil, nil, &list); err != nil {
		return err
	}
	if c.json {
		return c.emit(list)
	}
	tw := tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tSTATE\tCREATED")
	for _, w := range list.Workflows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", w.ID, w.Name, w.State, w.CreatedAt.Format(time.RFC3339))
	}
	return tw.Flush()
}

// workflowWatch follows the workflow's event stream, printing a line per
// step change, until the workflow ends; one that does not succeed is an
// error exit. A broken stream is reopened (it starts with a snapshot,
// whose unchanged steps are not printed again).
func (c *cli) workflowWatch(ctx context.Context, id string) error {
	printed := map[string]jobs.WorkflowStepState{}
	state := ""
	show := func(s jobs.WorkflowStepState) {
		if printed[s.Name] == s {
			return
		}
		printed[s.Name] = s
		if !c.json {
			line := fmt.Sprintf("%-20s %-9s %s", s.Name, s.State, jobCounts(s.JobsSucceeded, s.JobsFailed, s.JobsCancelled, s.JobsTotal))
			if s.Error != "" {
				line += "  " + s.Error
			}
			fmt.Fprintln(c.out, line)
		}
	}
	var lastErr error
	for failures := 0; !terminal(state); {
		if failures > 0 {
			if failures > 5 {
				return fmt.Errorf("watch workflow %s: %w", id, lastErr)
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Second):
			}
		}
		progressed := false
		err := c.api.stream(ctx, "/v1/workflows/"+url.PathEscape(id)+"/events", "", func(ev sseEvent) bool {
			progressed = true
			switch ev.event {
			case "snapshot":
				var d jobs.WorkflowSnapshot
				if json.Unmarshal([]byte(ev.data), &d) == nil {
					for _, s := range d.Steps {
						show(s)
					}
					state = d.State
				}
			case "step":
				var d jobs.WorkflowStepEvent
				if json.Unmarshal([]byte(ev.data), &d) == nil {
					show(d.WorkflowStepState)
					state = d.WorkflowState
				}
			case "workflow":
				var d jobs.WorkflowStateEvent
				if json.Unmarshal([]byte(ev.data), &d) == nil {
					state = d.State
				}
			}
			return true
		})
		var ae *apiError
		if errors.As(err, &ae) && ae.Status < 500 && ae.Status != 429 {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if progressed {
			failures = 0
		}
		if !terminal(state) {
			failures++
			if err == nil {
				err = errors.New("stream ended before the workflow")
			}
			lastErr = err
		}
	}
	w, err := c.getWorkflow(ctx, id)
	if err != nil {
		return err
	}
	if c.json {
		if err := c.emit(w); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(c.out, "workflow %s %s\n", w.ID, w.State)
	}
	if w.State != "succeeded" {
		return fmt.Errorf("workflow %s ended %s", w.ID, w.State)
	}
	return nil
}

func (c *cli) workflowCancel(ctx context.Context, args []string) error {
	id, err := parseWithArg(flag.NewFlagSet("workflow cancel", flag.ContinueOnError), args, "workflow cancel <workflow id>")
	if err != nil {
		return err
	}
	var out jobs.WorkflowCancelled
	if err := c.api.do(ctx, "POST", "/v1/workflows/"+url.PathEscape(id)+"/cancel", nil, nil, &out); err != nil {
		return err
	}
	if c.json {
		return c.emit(out)
	}
	fmt.Fprintf(c.out, "%s %s: %d jobs cancelled, %d running jobs stopping\n",
		out.Workflow.ID, out.Workflow.State, out.CancelledJobs, out.StoppingJobs)
	return nil
}

func (c *cli) workflowRetryStep(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("workflow retry-step", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		return usagef("workflow retry-step: %v", err)
	}
	if fs.NArg() != 2 {
		return usagef("usage: hopperctl workflow retry-step <workflow id> <step>")
	}
	id, step := fs.Arg(0), fs.Arg(1)
	var out jobs.WorkflowStepRetried
	if err := c.api.do(ctx, "POST", "/v1/workflows/"+url.PathEscape(id)+"/steps/"+url.PathEscape(step)+"/retry", nil, nil, &out); err != nil {
		return err
	}
	if c.json {
		return c.emit(out)
	}
	fmt.Fprintf(c.out, "%s %s: step %s queued again (%d jobs)\n", out.Workflow.ID, out.Workflow.State, step, len(out.Jobs))
	return nil
}
