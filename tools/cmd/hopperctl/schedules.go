package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/url"
	"text/tabwriter"
)

const schedulesUsage = "usage: hopperctl schedules list | create <name> -spec S -kind K [flags] | enable|disable|trigger|delete <name>"

// schedule is the API's schedule view (fields hopperctl prints).
type schedule struct {
	Name           string  `json:"name"`
	Spec           string  `json:"spec"`
	Timezone       string  `json:"timezone"`
	Kind           string  `json:"kind"`
	Enabled        bool    `json:"enabled"`
	DisabledReason *string `json:"disabled_reason"`
	NextRunAt      *string `json:"next_run_at"`
	LastRunAt      *string `json:"last_run_at"`
}

// schedules manages cron schedules (admin).
func (c *cli) schedules(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return usagef(schedulesUsage)
	}
	sub, rest := args[0], args[1:]
	switch sub {
	case "list":
		return c.listSchedules(ctx, rest)
	case "create":
		return c.createSchedule(ctx, rest)
	case "enable", "disable", "trigger":
		return c.scheduleAction(ctx, sub, rest)
	case "delete":
		return c.deleteNamed(ctx, "schedules", "/v1/admin/schedules/", rest)
	default:
		return usagef(schedulesUsage)
	}
}

func (c *cli) listSchedules(ctx context.Context, args []string) error {
	if len(args) > 0 {
		return usagef("usage: hopperctl schedules list")
	}
	var body struct {
		Schedules []schedule `json:"schedules"`
	}
	if printed, err := c.fetch(ctx, "GET", "/v1/admin/schedules", nil, "schedules", &body); printed || err != nil {
		return err
	}
	w := tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "NAME\tSPEC\tTIMEZONE\tKIND\tENABLED\tNEXT RUN\tLAST RUN")
	for _, s := range body.Schedules {
		enabled := "yes"
		if !s.Enabled {
			enabled = "no"
			if s.DisabledReason != nil {
				enabled += " (" + *s.DisabledReason + ")"
			}
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.Name, s.Spec, s.Timezone, s.Kind, enabled, orDash(s.NextRunAt), orDash(s.LastRunAt))
	}
	return w.Flush()
}

func orDash(s *string) string {
	if s == nil {
		return "-"
	}
	return *s
}

func (c *cli) createSchedule(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("schedules create", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	spec := fs.String("spec", "", `cron spec: five fields ("0 2 * * *") or @hourly, @daily, @every 10m`)
	kind := fs.String("kind", "", "job kind")
	payload := fs.String("payload", "{}", "JSON object")
	priority := fs.String("priority", "", "low, normal, high or 0-5 (default: the kind's)")
	timezone := fs.String("timezone", "", "IANA time zone (default UTC)")
	owner := fs.String("owner", "", "user id owning the jobs (default: the system user)")
	disabled := fs.Bool("disabled", false, "create it disabled")
	name, err := parseWithArg(fs, args, "schedules create <name> -spec S -kind K")
	if err != nil {
		return err
	}
	if *spec == "" || *kind == "" {
		return usagef("usage: hopperctl schedules create <name> -spec S -kind K [-payload JSON] [-priority P] [-timezone TZ] [-owner ID] [-disabled]")
	}
	body := map[string]any{"name": name, "spec": *spec, "kind": *kind, "enabled": !*disabled}
	if err := setPayloadAndPriority(body, *payload, *priority); err != nil {
		return err
	}
	if *timezone != "" {
		body["timezone"] = *timezone
	}
	if *owner != "" {
		body["owner_id"] = *owner
	}
	return c.printSchedule(ctx, "POST", "/v1/admin/schedules", body)
}

// scheduleAction runs enable, disable or trigger on one schedule.
func (c *cli) scheduleAction(ctx context.Context, action string, args []string) error {
	use := "schedules " + action + " <name>"
	name, err := parseWithArg(flag.NewFlagSet(use, flag.ContinueOnError), args, use)
	if err != nil {
		return err
	}
	path := "/v1/admin/schedules/" + url.PathEscape(name) + "/" + action
	if action != "trigger" {
		return c.printSchedule(ctx, "POST", path, nil)
	}
	var j job
	if printed, err := c.fetch(ctx, "POST", path, nil, "job", &j); printed || err != nil {
		return err
	}
	fmt.Fprintf(c.out, "%s\t%s\t%s\n", j.ID, j.Kind, j.State)
	return nil
}

func (c *cli) printSchedule(ctx context.Context, method, path string, body any) error {
	var s schedule
	if printed, err := c.fetch(ctx, method, path, body, "schedule", &s); printed || err != nil {
		return err
	}
	state := "enabled, next run " + orDash(s.NextRunAt)
	if !s.Enabled {
		state = "disabled"
	}
	fmt.Fprintf(c.out, "%s\t%s\t%s\t%s\n", s.Name, s.Spec, s.Kind, state)
	return nil
}

// deleteNamed runs "<noun> delete <name>": DELETE base+name.
func (c *cli) deleteNamed(ctx context.Context, noun, base string, args []string) error {
	name, err := parseWithArg(flag.NewFlagSet(noun+" delete", flag.ContinueOnError), args, noun+" delete <name>")
	if err != nil {
		return err
	}
	if err := c.api.do(ctx, "DELETE", base+url.PathEscape(name), nil, nil, nil); err != nil {
		return err
	}
	if c.json {
		return c.emit(map[string]any{"name": name, "deleted": true})
	}
	fmt.Fprintf(c.out, "deleted %s\n", name)
	return nil
}
