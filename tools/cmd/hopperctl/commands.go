package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// cli runs commands and prints their results.
type cli struct {
	api    *api
	out    io.Writer
	errOut io.Writer
	json   bool
}

// job is the API's job view (fields hopperctl prints).
type job struct {
	ID            string          `json:"id"`
	Kind          string          `json:"kind"`
	State         string          `json:"state"`
	Priority      int             `json:"priority"`
	Progress      int             `json:"progress"`
	StatusMessage string          `json:"status_message"`
	Result        json.RawMessage `json:"result"`
	Error         *string         `json:"error"`
	Attempts      int             `json:"attempts"`
	MaxAttempts   int             `json:"max_attempts"`
	CreatedAt     string          `json:"created_at"`
	StartedAt     *string         `json:"started_at"`
	FinishedAt    *string         `json:"finished_at"`
	Events        []struct {
		At      string  `json:"at"`
		Type    string  `json:"type"`
		State   string  `json:"state"`
		Attempt int     `json:"attempt"`
		Message *string `json:"message"`
	} `json:"events"`
}

func terminal(state string) bool {
	return state == "succeeded" || state == "failed" || state == "cancelled"
}

// emit prints v as indented JSON.
func (c *cli) emit(v any) error {
	enc := json.NewEncoder(c.out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func (c *cli) submit(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("submit", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	payload := fs.String("payload", "{}", "JSON object")
	priority := fs.String("priority", "", "low, normal, high or 0-5")
	runAt := fs.String("run-at", "", "RFC 3339 time to run at")
	maxAttempts := fs.Int("max-attempts", 0, "attempts before failing")
	timeout := fs.String("timeout", "", "per-attempt timeout, e.g. 30s")
	idem := fs.String("idempotency-key", "", "Idempotency-Key header")
	wait := fs.Bool("wait", false, "follow the job until it ends")
	kind, err := parseWithArg(fs, args, "submit <kind>")
	if err != nil {
		return err
	}
	body := map[string]any{"kind": kind}
	if err := setPayloadAndPriority(body, *payload, *priority); err != nil {
		return err
	}
	if *runAt != "" {
		body["run_at"] = *runAt
	}
	if *maxAttempts > 0 {
		body["max_attempts"] = *maxAttempts
	}
	if *timeout != "" {
		body["timeout"] = *timeout
	}
	header := map[string]string{}
	if *idem != "" {
		header["Idempotency-Key"] = *idem
	}
	var accepted struct {
		ID    string `json:"id"`
		State string `json:"state"`
	}
	if err := c.api.do(ctx, "POST", "/v1/jobs", body, header, &accepted); err != nil {
		return err
	}
	if *wait {
		return c.follow(ctx, accepted.ID)
	}
	if c.json {
		return c.emit(accepted)
	}
	fmt.Fprintf(c.out, "%s\t%s\n", accepted.ID, accepted.State)
	return nil
}

// setPayloadAndPriority puts the -payload and -priority flags of a job
// (submit, schedules create) into a request body: the payload must be
// JSON; a numeric priority goes as a number, a name as a string, and an
// empty one not at all.
func setPayloadAndPriority(body map[string]any, payload, priority string) error {
	if !json.Valid([]byte(payload)) {
		return usagef("-payload is not valid JSON")
	}
	body["payload"] = json.RawMessage(payload)
	if priority != "" {
		if n, err := strconv.Atoi(priority); err == nil {
			body["priority"] = n
		} else {
			body["priority"] = priority
		}
	}
	return nil
}

// fetch sends a request for a command that prints a table. With -o json
// it prints the answer as it came and reports printed; otherwise it
// decodes the answer into out ("decode <what>: ..." when it cannot).
func (c *cli) fetch(ctx context.Context, method, path string, body any, what string, out any) (printed bool, err error) {
	var raw json.RawMessage
	if err := c.api.do(ctx, method, path, body, nil, &raw); err != nil {
		return false, err
	}
	if c.json {
		_, err := fmt.Fprintln(c.out, string(raw))
		return true, err
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return false, fmt.Errorf("decode %s: %w", what, err)
	}
	return false, nil
}

// parseWithArg parses flags around exactly one positional argument.
func parseWithArg(fs *flag.FlagSet, args []string, use string) (string, error) {
	var pos []string
	for len(args) > 0 {
		if err := fs.Parse(args); err != nil {
			return "", usagef("%s: %v", use, err)
		}
		args = fs.Args()
		if len(args) > 0 {
			pos = append(pos, args[0])
			args = args[1:]
		}
	}
	if len(pos) != 1 {
		return "", usagef("usage: hopperctl %s", use)
	}
	return pos[0], nil
}

func (c *cli) getJob(ctx context.Context, id string) (job, json.RawMessage, error) {
	var raw json.RawMessage
	if err := c.api.do(ctx, "GET", "/v1/jobs/"+url.PathEscape(id), nil, nil, &raw); err != nil {
		return job{}, nil, err
	}
	var j job
	if err := json.Unmarshal(raw, &j); err != nil {
		return job{}, nil, fmt.Errorf("decode job: %w", err)
	}
	return j, raw, nil
}

func (c *cli) get(ctx context.Context, args []string) error {
	id, err := parseWithArg(flag.NewFlagSet("get", flag.ContinueOnError), args, "get <job id>")
	if err != nil {
		return err
	}
	j, raw, err := c.getJob(ctx, id)
	if err != nil {
		return err
	}
	if c.json {
		_, err := fmt.Fprintln(c.out, string(raw))
		return err
	}
	w := tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "id\t%s\nkind\t%s\nstate\t%s\npriority\t%d\nprogress\t%d%% %s\nattempts\t%d/%d\ncreated\t%s\n",
		j.ID, j.Kind, j.State, j.Priority, j.Progress, j.StatusMessage, j.Attempts, j.MaxAttempts, j.CreatedAt)
	if len(j.Result) > 0 && string(j.Result) != "null" {
		fmt.Fprintf(w, "result\t%s\n", j.Result)
	}
	if j.Error != nil {
		fmt.Fprintf(w, "error\t%s\n", *j.Error)
	}
	_ = w.Flush()
	fmt.Fprintln(c.out, "\ntimeline:")
	w = tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
	for _, e := range j.Events {
		msg := ""
		if e.Message != nil {
			msg = *e.Message
		}
		fmt.Fprintf(w, "  %s\t%s\t%s\tattempt %d\t%s\n", e.At, e.Type, e.State, e.Attempt, msg)
	}
	return w.Flush()
}

func (c *cli) list(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("list", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	state := fs.String("state", "", "comma-separated states")
	kind := fs.String("kind", "", "kind")
	limit := fs.Int("limit", 50, "jobs per page")
	all := fs.Bool("all", false, "follow next_cursor to the end")
	if err := fs.Parse(args); err != nil {
		return usagef("list: %v", err)
	}
	q := url.Values{}
	if *state != "" {
		q.Set("state", *state)
	}
	if *kind != "" {
		q.Set("kind", *kind)
	}
	q.Set("limit", strconv.Itoa(*limit))
	var jobs []job
	for {
		var page struct {
			Jobs       []job   `json:"jobs"`
			NextCursor *string `json:"next_cursor"`
		}
		if err := c.api.do(ctx, "GET", "/v1/jobs?"+q.Encode(), nil, nil, &page); err != nil {
			return err
		}
		jobs = append(jobs, page.Jobs...)
		if !*all || page.NextCursor == nil {
			break
		}
		q.Set("cursor", *page.NextCursor)
	}
	if c.json {
		return c.emit(jobs)
	}
	w := tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tKIND\tSTATE\tPRIO\tPROGRESS\tATTEMPTS\tCREATED")
	for _, j := range jobs {
		fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%d%%\t%d/%d\t%s\n", j.ID, j.Kind, j.State, j.Priority, j.Progress, j.Attempts, j.MaxAttempts, j.CreatedAt)
	}
	return w.Flush()
}

func (c *cli) cancel(ctx context.Context, args []string) error {
	return c.jobAction(ctx, args, "DELETE", "", "cancel <job id>")
}

func (c *cli) retry(ctx context.Context, args []string) error {
	return c.jobAction(ctx, args, "POST", "/retry", "retry <job id>")
}

func (c *cli) jobAction(ctx context.Context, args []string, method, suffix, use string) error {
	id, err := parseWithArg(flag.NewFlagSet(use, flag.ContinueOnError), args, use)
	if err != nil {
		return err
	}
	var j job
	if err := c.api.do(ctx, method, "/v1/jobs/"+url.PathEscape(id)+suffix, nil, nil, &j); err != nil {
		return err
	}
	if c.json {
		return c.emit(j)
	}
	fmt.Fprintf(c.out, "%s\t%s\n", j.ID, j.State)
	return nil
}

// watch follows a job until it ends, drawing a progress bar.
func (c *cli) watch(ctx context.Context, args []string) error {
	id, err := parseWithArg(flag.NewFlagSet("watch", flag.ContinueOnError), args, "watch <job id>")
	if err != nil {
		return err
	}
	return c.follow(ctx, id)
}

// follow streams the job's events (GET /v1/jobs/{id}/events) and prints
// a progress line whenever it changes, until the job ends; a failed or
// cancelled job is an error exit. If the stream breaks it resumes with
// Last-Event-ID.
func (c *cli) follow(ctx context.Context, id string) error {
	j, _, err := c.getJob(ctx, id)
	if err != nil {
		return err
	}
	last := ""
	show := func() {
		if line := progressLine(j); line != last && !c.json {
			fmt.Fprintln(c.out, line)
			last = line
		}
	}
	show()
	lastEventID := ""
	for attempt := 0; !terminal(j.State); attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Second):
			}
		}
		err := c.api.stream(ctx, "/v1/jobs/"+url.PathEscape(id)+"/events", lastEventID, func(ev sseEvent) bool {
			var d struct {
				State         string  `json:"state"`
				Progress      *int    `json:"progress"`
				StatusMessage *string `json:"status_message"`
				Message       *string `json:"message"`
			}
			if json.Unmarshal([]byte(ev.data), &d) != nil {
				return true
			}
			if ev.id != "" {
				lastEventID = ev.id
			}
			if d.State != "" {
				j.State = d.State
			}
			if d.Progress != nil {
				j.Progress = *d.Progress
			}
			if d.StatusMessage != nil {
				j.StatusMessage = *d.StatusMessage
			}
			if terminal(j.State) {
				if j.State == "succeeded" {
					j.Progress = 100
				}
				if d.Message != nil && j.State != "succeeded" {
					j.Error = d.Message
				}
			}
			show()
			return !terminal(j.State)
		})
		if err != nil && attempt > 5 {
			return err
		}
	}
	final, raw, err := c.getJob(ctx, id)
	if err != nil {
		return err
	}
	if c.json {
		fmt.Fprintln(c.out, string(raw))
	}
	if final.State != "succeeded" {
		return fmt.Errorf("job %s ended %s", final.ID, final.State)
	}
	return nil
}

func progressLine(j job) string {
	const width = 30
	filled := j.Progress * width / 100
	bar := strings.Repeat("#", filled) + strings.Repeat(".", width-filled)
	line := fmt.Sprintf("[%s] %3d%% %-9s %s", bar, j.Progress, j.State, j.StatusMessage)
	if j.Error != nil && terminal(j.State) {
		line += " error: " + *j.Error
	}
	return strings.TrimRight(line, " ")
}

func (c *cli) queues(ctx context.Context, _ []string) error {
	var raw json.RawMessage
	if err := c.api.do(ctx, "GET", "/v1/queues", nil, nil, &raw); err != nil {
		return err
	}
	return c.printRaw(raw, "queues")
}

func (c *cli) workers(ctx context.Context, _ []string) error {
	var raw json.RawMessage
	if err := c.api.do(ctx, "GET", "/v1/workers", nil, nil, &raw); err != nil {
		return err
	}
	return c.printRaw(raw, "workers")
}

// printRaw prints a {"<field>": [ {...}, ... ]} answer as JSON or as a
// table of its objects' fields.
func (c *cli) printRaw(raw json.RawMessage, field string) error {
	if c.json {
		_, err := fmt.Fprintln(c.out, string(raw))
		return err
	}
	var body map[string][]map[string]any
	if err := json.Unmarshal(raw, &body); err != nil {
		_, err := fmt.Fprintln(c.out, string(raw))
		return err
	}
	rows := body[field]
	if len(rows) == 0 {
		fmt.Fprintf(c.out, "no %s\n", field)
		return nil
	}
	var cols []string
	for k := range rows[0] {
		cols = append(cols, k)
	}
	sort.Strings(cols)
	w := tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, strings.ToUpper(strings.Join(cols, "\t")))
	for _, r := range rows {
		vals := make([]string, len(cols))
		for i, k := range cols {
			vals[i] = fmt.Sprint(r[k])
		}
		fmt.Fprintln(w, strings.Join(vals, "\t"))
	}
	return w.Flush()
}

const usersUsage = "usage: hopperctl users create <email> [-plan PLAN] [-role user|admin] | users plan <user id> <plan> | " +
	"users keys <user id> | users deactivate <user id> | users activate <user id>"

func (c *cli) users(ctx context.Context, args []string) error {
	if len(args) > 0 {
		switch args[0] {
		case "plan":
			return c.userPlan(ctx, args[1:])
		case "keys":
			return c.userKeys(ctx, args[1:])
		case "deactivate", "activate":
			userID, err := parseWithArg(flag.NewFlagSet("users "+args[0], flag.ContinueOnError), args[1:], "users "+args[0]+" <user id>")
			if err != nil {
				return err
			}
			return c.sendUser(ctx, "POST", "/v1/admin/users/"+url.PathEscape(userID)+"/"+args[0], nil)
		}
	}
	if len(args) == 0 || args[0] != "create" {
		return usagef(usersUsage)
	}
	fs := flag.NewFlagSet("users create", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	plan := fs.String("plan", "free", "plan")
	role := fs.String("role", "user", "role")
	email, err := parseWithArg(fs, args[1:], "users create <email>")
	if err != nil {
		return err
	}
	return c.sendUser(ctx, "POST", "/v1/admin/users", map[string]any{"email": email, "plan": *plan, "role": *role})
}

// userKeys lists a user's API keys: ids, prefixes and times, no secrets.
func (c *cli) userKeys(ctx context.Context, args []string) error {
	userID, err := parseWithArg(flag.NewFlagSet("users keys", flag.ContinueOnError), args, "users keys <user id>")
	if err != nil {
		return err
	}
	var raw json.RawMessage
	if err := c.api.do(ctx, "GET", "/v1/admin/users/"+url.PathEscape(userID)+"/keys", nil, nil, &raw); err != nil {
		return err
	}
	return c.printRaw(raw, "keys")
}

// sendUser sends a request answered with a user (users create, plan,
// activate, deactivate) and prints the user: its id, email, role, plan
// and whether it is active.
func (c *cli) sendUser(ctx context.Context, method, path string, body any) error {
	var u map[string]any
	if err := c.api.do(ctx, method, path, body, nil, &u); err != nil {
		return err
	}
	if c.json {
		return c.emit(u)
	}
	state := "active"
	if u["active"] == false {
		state = "inactive"
	}
	fmt.Fprintf(c.out, "%v\t%v\t%v\t%v\t%s\n", u["id"], u["email"], u["role"], u["plan"], state)
	return nil
}

func (c *cli) keys(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return usagef("usage: hopperctl keys create <user id> | keys revoke <key id>")
	}
	switch args[0] {
	case "create":
		userID, err := parseWithArg(flag.NewFlagSet("keys create", flag.ContinueOnError), args[1:], "keys create <user id>")
		if err != nil {
			return err
		}
		var k map[string]any
		if err := c.api.do(ctx, "POST", "/v1/admin/users/"+url.PathEscape(userID)+"/keys", nil, nil, &k); err != nil {
			return err
		}
		if c.json {
			return c.emit(k)
		}
		fmt.Fprintf(c.out, "key id: %v\nkey:    %v\n(store the key now: it is not shown again)\n", k["id"], k["key"])
		return nil
	case "revoke":
		keyID, err := parseWithArg(flag.NewFlagSet("keys revoke", flag.ContinueOnError), args[1:], "keys revoke <key id>")
		if err != nil {
			return err
		}
		if err := c.api.do(ctx, "DELETE", "/v1/admin/keys/"+url.PathEscape(keyID), nil, nil, nil); err != nil {
			return err
		}
		if c.json {
			return c.emit(map[string]any{"id": keyID, "revoked": true})
		}
		fmt.Fprintf(c.out, "revoked %s\n", keyID)
		return nil
	default:
		return usagef("usage: hopperctl keys create <user id> | keys revoke <key id>")
	}
}
