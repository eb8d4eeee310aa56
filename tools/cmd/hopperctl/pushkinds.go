package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"text/tabwriter"
)

const pushKindsUsage = "usage: hopperctl push-kinds list | get <name> | create <name> -url URL [flags] | update <name> [flags] | rotate-secret <name> [-overlap 86400] | delete <name>\n" +
	"flags: -url URL -description D -timeout SECONDS -attempts N -backoff-base SECONDS -backoff-cap SECONDS -concurrency N -rate PER_SECOND -priority 0-5 -schema JSON -visibility public|admin|internal"

// pushKind is the API's push kind view (fields hopperctl prints).
type pushKind struct {
	Name           string  `json:"name"`
	URL            string  `json:"url"`
	TimeoutSeconds float64 `json:"timeout_seconds"`
	MaxAttempts    int     `json:"max_attempts"`
	Concurrency    int     `json:"concurrency"`
	RatePerSecond  float64 `json:"rate_per_second"`
	Secrets        []struct {
		Prefix    string  `json:"prefix"`
		ExpiresAt *string `json:"expires_at"`
	} `json:"secrets"`
	Secret string `json:"secret,omitempty"`
}

// pushKinds manages push kinds: kinds whose handler is an HTTP endpoint
// (admin).
func (c *cli) pushKinds(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return usagef(pushKindsUsage)
	}
	sub, rest := args[0], args[1:]
	switch sub {
	case "list":
		var body struct {
			PushKinds []pushKind `json:"push_kinds"`
		}
		if printed, err := c.fetch(ctx, "GET", "/v1/admin/push-kinds", nil, "push_kinds", &body); printed || err != nil {
			return err
		}
		return c.printPushKinds(body.PushKinds)
	case "get":
		name, err := parseWithArg(flag.NewFlagSet("push-kinds get", flag.ContinueOnError), rest, "push-kinds get <name>")
		if err != nil {
			return err
		}
		return c.sendPushKind(ctx, "GET", "/v1/admin/push-kinds/"+url.PathEscape(name), nil)
	case "create", "update":
		fs := flag.NewFlagSet("push-kinds "+sub, flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		body := map[string]any{}
		str := func(name, field string) {
			fs.Func(name, field, func(v string) error { body[field] = v; return nil })
		}
		num := func(name, field string) {
			fs.Func(name, field, func(v string) error {
				f, err := strconv.ParseFloat(v, 64)
				if err != nil {
					return fmt.Errorf("-%s: want a number", name)
				}
				body[field] = f
				return nil
			})
		}
		str("url", "url")
		str("description", "description")
		str("visibility", "visibility")
		num("timeout", "timeout_seconds")
		num("attempts", "max_attempts")
		num("backoff-base", "backoff_base_seconds")
		num("backoff-cap", "backoff_cap_seconds")
		num("concurrency", "concurrency")
		num("rate", "rate_per_second")
		num("priority", "default_priority")
		fs.Func("schema", "payload JSON Schema", func(v string) error {
			if !json.Valid([]byte(v)) {
				return fmt.Errorf("-schema: not JSON")
			}
			body["payload_schema"] = json.RawMessage(v)
			return nil
		})
		name, err := parseWithArg(fs, rest, "push-kinds "+sub+" <name> [flags]")
		if err != nil {
			return err
		}
		if sub == "create" {
			if body["url"] == nil {
				return usagef(pushKindsUsage)
			}
			body["name"] = name
			return c.sendPushKind(ctx, "POST", "/v1/admin/push-kinds", body)
		}
		return c.sendPushKind(ctx, "PATCH", "/v1/admin/push-kinds/"+url.PathEscape(name), body)
	case "rotate-secret":
		fs := flag.NewFlagSet("push-kinds rotate-secret", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		overlap := fs.Int("overlap", 86400, "seconds the older secrets keep signing")
		name, err := parseWithArg(fs, rest, "push-kinds rotate-secret <name> [-overlap SECONDS]")
		if err != nil {
			return err
		}
		var out map[string]any
		if err := c.api.do(ctx, "POST", "/v1/admin/push-kinds/"+url.PathEscape(name)+"/rotate-secret",
			map[string]any{"overlap_seconds": *overlap}, nil, &out); err != nil {
			return err
		}
		if c.json {
			return c.emit(out)
		}
		fmt.Fprintf(c.out, "new secret (shown once): %v\nolder secrets sign until %v\n", out["secret"], out["others_expire_at"])
		return nil
	case "delete":
		return c.deleteNamed(ctx, "push-kinds", "/v1/admin/push-kinds/", rest)
	default:
		return usagef(pushKindsUsage)
	}
}

func (c *cli) sendPushKind(ctx context.Context, method, path string, body any) error {
	var pk pushKind
	var raw json.RawMessage
	if err := c.api.do(ctx, method, path, body, nil, &raw); err != nil {
		return err
	}
	if c.json {
		return c.emit(raw)
	}
	if err := json.Unmarshal(raw, &pk); err != nil {
		return fmt.Errorf("decode push kind: %w", err)
	}
	if err := c.printPushKinds([]pushKind{pk}); err != nil {
		return err
	}
	if pk.Secret != "" {
		fmt.Fprintf(c.out, "signing secret (shown once): %s\n", pk.Secret)
	}
	return nil
}

func (c *cli) printPushKinds(list []pushKind) error {
	w := tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "NAME\tURL\tTIMEOUT\tATTEMPTS\tCONCURRENCY\tRATE/S\tSECRETS")
	for _, p := range list {
		fmt.Fprintf(w, "%s\t%s\t%gs\t%d\t%d\t%g\t%d\n", p.Name, p.URL, p.TimeoutSeconds, p.MaxAttempts, p.Concurrency, p.RatePerSecond, len(p.Secrets))
	}
	return w.Flush()
}
