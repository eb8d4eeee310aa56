package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"text/tabwriter"
	"time"
)

const kindsUsage = "usage: hopperctl kinds [name]"

// kindInfo is the API's kind view (GET /v1/kinds), the fields hopperctl
// prints.
type kindInfo struct {
	Name               string          `json:"name"`
	Queue              string          `json:"queue"`
	Service            string          `json:"service"`
	Description        string          `json:"description"`
	DefaultPriority    int             `json:"default_priority"`
	MaxAttempts        int             `json:"max_attempts"`
	TimeoutSeconds     float64         `json:"timeout_seconds"`
	MaxTimeoutSeconds  float64         `json:"max_timeout_seconds"`
	BackoffBaseSeconds float64         `json:"backoff_base_seconds"`
	BackoffCapSeconds  float64         `json:"backoff_cap_seconds"`
	PayloadSchema      json.RawMessage `json:"payload_schema"`
	Version            string          `json:"version"`
	Workers            int             `json:"workers"`
}

// kinds lists the kind catalogue, or shows one kind with its payload
// schema.
func (c *cli) kinds(ctx context.Context, args []string) error {
	switch len(args) {
	case 0:
		var body struct {
			Kinds []kindInfo `json:"kinds"`
		}
		if printed, err := c.fetch(ctx, "GET", "/v1/kinds", nil, "kinds", &body); printed || err != nil {
			return err
		}
		w := tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "NAME\tQUEUE\tSERVICE\tWORKERS\tATTEMPTS\tTIMEOUT")
		for _, k := range body.Kinds {
			fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%d\t%s\n", k.Name, k.Queue, orNone(k.Service), k.Workers, k.MaxAttempts, seconds(k.TimeoutSeconds))
		}
		return w.Flush()
	case 1:
		var k kindInfo
		if printed, err := c.fetch(ctx, "GET", "/v1/kinds/"+url.PathEscape(args[0]), nil, "kind", &k); printed || err != nil {
			return err
		}
		return c.printKind(k)
	default:
		return usagef(kindsUsage)
	}
}

func (c *cli) printKind(k kindInfo) error {
	field := func(name, format string, args ...any) {
		fmt.Fprintf(c.out, "%-12s "+format+"\n", append([]any{name + ":"}, args...)...)
	}
	field("name", "%s", k.Name)
	if k.Description != "" {
		field("description", "%s", k.Description)
	}
	field("queue", "%s", k.Queue)
	field("service", "%s", orNone(k.Service))
	field("workers", "%d", k.Workers)
	field("priority", "%d (default)", k.DefaultPriority)
	field("attempts", "%d", k.MaxAttempts)
	field("timeout", "%s (at most %s)", seconds(k.TimeoutSeconds), seconds(k.MaxTimeoutSeconds))
	field("backoff", "%s to %s", seconds(k.BackoffBaseSeconds), seconds(k.BackoffCapSeconds))
	if k.Version != "" {
		field("version", "%s", k.Version)
	}
	if len(k.PayloadSchema) == 0 || string(k.PayloadSchema) == "null" {
		field("schema", "none (any JSON object)")
		return nil
	}
	var schema bytes.Buffer
	if err := json.Indent(&schema, k.PayloadSchema, "", "  "); err != nil {
		return fmt.Errorf("kind %s: payload schema: %w", k.Name, err)
	}
	_, err := fmt.Fprintf(c.out, "schema:\n%s\n", schema.String())
	return err
}

// seconds prints a number of seconds as a duration ("30s", "2m0s").
func seconds(s float64) string {
	return time.Duration(s * float64(time.Second)).String()
}

func orNone(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
