package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/url"
	"text/tabwriter"
)

const plansUsage = "usage: hopperctl plans list | create <name> [limit flags] | update <name> [limit flags] | delete <name>\n" +
	"limit flags: -jobs-per-hour N -documents N -max-concurrent N -max-priority 0-5 -boost 0-5 -max-attempts 0-25 (0 = unlimited for the first three, the global 25 for attempts)"

// plan is the API's plan view.
type plan struct {
	Name             string `json:"name"`
	JobsPerHour      int    `json:"jobs_per_hour"`
	DocumentsPerUser int    `json:"documents_per_user"`
	MaxConcurrent    int    `json:"max_concurrent"`
	MaxPriority      int    `json:"max_priority"`
	PriorityBoost    int    `json:"priority_boost"`
	MaxAttempts      int    `json:"max_attempts"`
}

// plans manages plans (admin).
func (c *cli) plans(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return usagef(plansUsage)
	}
	sub, rest := args[0], args[1:]
	switch sub {
	case "list":
		if len(rest) > 0 {
			return usagef("usage: hopperctl plans list")
		}
		return c.listPlans(ctx)
	case "create", "update":
		fs := flag.NewFlagSet("plans "+sub, flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		body := map[string]any{}
		intFlag := func(name, field, help string) {
			fs.Func(name, help, func(v string) error {
				var n int
				if _, err := fmt.Sscan(v, &n); err != nil {
					return fmt.Errorf("-%s: want an integer", name)
				}
				body[field] = n
				return nil
			})
		}
		intFlag("jobs-per-hour", "jobs_per_hour", "jobs per sliding hour (0 = unlimited)")
		intFlag("documents", "documents_per_user", "documents per user (0 = unlimited)")
		intFlag("max-concurrent", "max_concurrent", "running jobs per user per queue (0 = unlimited)")
		intFlag("max-priority", "max_priority", "highest priority a caller may ask for (0-5)")
		intFlag("boost", "priority_boost", "added to every job's priority (0-5)")
		intFlag("max-attempts", "max_attempts", "attempts one job may run, retries included (0 = the global 25)")
		name, err := parseWithArg(fs, rest, "plans "+sub+" <name> [limit flags]")
		if err != nil {
			return err
		}
		var p plan
		if sub == "create" {
			body["name"] = name
			err = c.api.do(ctx, "POST", "/v1/admin/plans", body, nil, &p)
		} else {
			if len(body) == 0 {
				return usagef("plans update %s: give at least one limit flag", name)
			}
			err = c.api.do(ctx, "PUT", "/v1/admin/plans/"+url.PathEscape(name), body, nil, &p)
		}
		if err != nil {
			return err
		}
		if c.json {
			return c.emit(p)
		}
		return c.printPlans([]plan{p})
	case "delete":
		return c.deleteNamed(ctx, "plans", "/v1/admin/plans/", rest)
	default:
		return usagef(plansUsage)
	}
}

func (c *cli) listPlans(ctx context.Context) error {
	var body struct {
		Plans []plan `json:"plans"`
	}
	if printed, err := c.fetch(ctx, "GET", "/v1/admin/plans", nil, "plans", &body); printed || err != nil {
		return err
	}
	return c.printPlans(body.Plans)
}

func (c *cli) printPlans(plans []plan) error {
	unlimited := func(n int) string {
		if n == 0 {
			return "unlimited"
		}
		return fmt.Sprint(n)
	}
	w := tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "NAME\tJOBS/HOUR\tDOCUMENTS\tMAX CONCURRENT\tMAX PRIORITY\tBOOST\tMAX ATTEMPTS")
	for _, p := range plans {
		attempts := fmt.Sprint(p.MaxAttempts)
		if p.MaxAttempts == 0 {
			attempts = "25"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\t%d\t%s\n", p.Name, unlimited(p.JobsPerHour), unlimited(p.DocumentsPerUser),
			unlimited(p.MaxConcurrent), p.MaxPriority, p.PriorityBoost, attempts)
	}
	return w.Flush()
}

// userPlan moves a user to a plan: users plan <user id> <plan>.
func (c *cli) userPlan(ctx context.Context, args []string) error {
	if len(args) != 2 {
		return usagef("usage: hopperctl users plan <user id> <plan>")
	}
	return c.sendUser(ctx, "PUT", "/v1/admin/users/"+url.PathEscape(args[0])+"/plan", map[string]any{"plan": args[1]})
}

// limits shows the caller's plan, limits and usage.
func (c *cli) limits(ctx context.Context, args []string) error {
	if len(args) > 0 {
		return usagef("usage: hopperctl limits")
	}
	var body struct {
		Plan   string `json:"plan"`
		Limits struct {
			JobsPerHour struct {
				Max        int    `json:"max"`
				Used       int    `json:"used"`
				Remaining  *int   `json:"remaining"`
				NextSlotAt string `json:"next_slot_at"`
				RetryAfter int    `json:"retry_after_seconds"`
			} `json:"jobs_per_hour"`
			Documents struct {
				Max       int  `json:"max"`
				Used      int  `json:"used"`
				Remaining *int `json:"remaining"`
			} `json:"documents_per_user"`
		} `json:"limits"`
		Priority struct {
			Max   int `json:"max_priority"`
			Boost int `json:"priority_boost"`
		} `json:"priority"`
	}
	if printed, err := c.fetch(ctx, "GET", "/v1/users/me/limits", nil, "limits", &body); printed || err != nil {
		return err
	}
	rem := func(max int, r *int) string {
		if max == 0 || r == nil {
			return "unlimited"
		}
		return fmt.Sprintf("%d of %d left", *r, max)
	}
	j, d := body.Limits.JobsPerHour, body.Limits.Documents
	fmt.Fprintf(c.out, "plan:          %s\n", body.Plan)
	fmt.Fprintf(c.out, "jobs/hour:     %d used, %s", j.Used, rem(j.Max, j.Remaining))
	if j.RetryAfter > 0 {
		fmt.Fprintf(c.out, " (next job fits in %d s)", j.RetryAfter)
	}
	fmt.Fprintln(c.out)
	fmt.Fprintf(c.out, "documents:     %d used, %s\n", d.Used, rem(d.Max, d.Remaining))
	fmt.Fprintf(c.out, "priority:      max %d, boost +%d\n", body.Priority.Max, body.Priority.Boost)
	return nil
}
