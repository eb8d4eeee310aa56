package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/url"
	"strings"
	"text/tabwriter"
)

const workerTokensUsage = "usage: hopperctl worker-tokens create <name> -queues q1,q2 [-max-in-flight N] | list | revoke <token id>"

// workerToken is the API's worker token view (fields hopperctl prints).
type workerToken struct {
	ID          string   `json:"id"`
	Name        string   `json:"name"`
	Prefix      string   `json:"prefix"`
	Queues      []string `json:"queues"`
	MaxInFlight int      `json:"max_in_flight"`
	CreatedAt   string   `json:"created_at"`
	RevokedAt   *string  `json:"revoked_at"`
	Token       string   `json:"token"`
}

// workerTokens manages the pull protocol's worker tokens (admin).
func (c *cli) workerTokens(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return usagef(workerTokensUsage)
	}
	switch args[0] {
	case "create":
		return c.createWorkerToken(ctx, args[1:])
	case "list":
		if len(args) > 1 {
			return usagef("usage: hopperctl worker-tokens list")
		}
		return c.listWorkerTokens(ctx)
	case "revoke":
		id, err := parseWithArg(flag.NewFlagSet("worker-tokens revoke", flag.ContinueOnError), args[1:], "worker-tokens revoke <token id>")
		if err != nil {
			return err
		}
		if err := c.api.do(ctx, "DELETE", "/v1/admin/worker-tokens/"+url.PathEscape(id), nil, nil, nil); err != nil {
			return err
		}
		if c.json {
			return c.emit(map[string]any{"id": id, "revoked": true})
		}
		fmt.Fprintf(c.out, "revoked %s\n", id)
		return nil
	default:
		return usagef(workerTokensUsage)
	}
}

func (c *cli) createWorkerToken(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("worker-tokens create", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	queues := fs.String("queues", "", "comma-separated queues the token may serve")
	maxInFlight := fs.Int("max-in-flight", 0, "jobs held plus claims waiting (default 16)")
	name, err := parseWithArg(fs, args, "worker-tokens create <name> -queues q1,q2 [-max-in-flight N]")
	if err != nil {
		return err
	}
	var qs []string
	for _, q := range strings.Split(*queues, ",") {
		if q = strings.TrimSpace(q); q != "" {
			qs = append(qs, q)
		}
	}
	if len(qs) == 0 {
		return usagef("usage: hopperctl worker-tokens create <name> -queues q1,q2 [-max-in-flight N]")
	}
	body := map[string]any{"name": name, "queues": qs}
	if *maxInFlight > 0 {
		body["max_in_flight"] = *maxInFlight
	}
	var t workerToken
	if printed, err := c.fetch(ctx, "POST", "/v1/admin/worker-tokens", body, "worker token", &t); printed || err != nil {
		return err
	}
	fmt.Fprintf(c.out, "id:     %s\nname:   %s\nqueues: %s\ntoken:  %s\n(store the token now: it is not shown again)\n",
		t.ID, t.Name, strings.Join(t.Queues, ","), t.Token)
	return nil
}

func (c *cli) listWorkerTokens(ctx context.Context) error {
	var body struct {
		Tokens []workerToken `json:"tokens"`
	}
	if printed, err := c.fetch(ctx, "GET", "/v1/admin/worker-tokens", nil, "worker tokens", &body); printed || err != nil {
		return err
	}
	w := tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tNAME\tPREFIX\tQUEUES\tMAX IN FLIGHT\tCREATED\tREVOKED")
	for _, t := range body.Tokens {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", t.ID, t.Name, t.Prefix, strings.Join(t.Queues, ","),
			t.MaxInFlight, t.CreatedAt, orDash(t.RevokedAt))
	}
	return w.Flush()
}
