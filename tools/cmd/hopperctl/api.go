package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// api is a small client of the gateway's HTTP API.
type api struct {
	base  string
	token string
	http  *http.Client
}

func newAPI(base, token string) *api {
	return &api{base: strings.TrimRight(base, "/"), token: token, http: &http.Client{Timeout: 30 * time.Second}}
}

// apiError is the gateway's error body, with the HTTP status.
type apiError struct {
	Status  int
	Code    string         `json:"code"`
	Message string         `json:"message"`
	Details map[string]any `json:"details"`
}

func (e *apiError) Error() string {
	msg := fmt.Sprintf("%s (HTTP %d)", e.Message, e.Status)
	if kinds, ok := e.Details["valid_kinds"]; ok {
		msg += fmt.Sprintf("; valid kinds: %v", kinds)
	}
	return msg
}

// do sends a request and decodes a JSON answer into out (when not nil).
func (a *api) do(ctx context.Context, method, path string, body any, header map[string]string, out any) error {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("encode request: %w", err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, r)
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if a.token != "" {
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := a.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("read answer: %w", err)
	}
	if resp.StatusCode >= 400 {
		var eb struct {
			Error apiError `json:"error"`
		}
		if json.Unmarshal(raw, &eb) != nil || eb.Error.Message == "" {
			return &apiError{Status: resp.StatusCode, Message: strings.TrimSpace(string(raw))}
		}
		eb.Error.Status = resp.StatusCode
		return &eb.Error
	}
	if out == nil || len(raw) == 0 {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("decode answer of %s %s: %w", method, path, err)
	}
	return nil
}

// sseEvent is one Server-Sent Events message.
type sseEvent struct {
	id, event, data string
}

// stream reads an SSE endpoint, calling on for each message until it
// returns false, the server ends the stream, or ctx ends.
func (a *api) stream(ctx context.Context, path, lastEventID string, on func(sseEvent) bool) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.base+path, nil)
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Accept", "text/event-stream")
	if a.token != "" {
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	if lastEventID != "" {
		req.Header.Set("Last-Event-ID", lastEventID)
	}
	// No client timeout: a stream lasts as long as the job.
	resp, err := (&http.Client{}).Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		raw, _ := io.ReadAll(resp.Body)
		return &apiError{Status: resp.StatusCode, Message: strings.TrimSpace(string(raw))}
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var ev sseEvent
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if ev.data != "" && !on(ev) {
				return nil
			}
			ev = sseEvent{}
		case strings.HasPrefix(line, ":"):
		case strings.HasPrefix(line, "id:"):
			ev.id = strings.TrimSpace(line[3:])
		case strings.HasPrefix(line, "event:"):
			ev.event = strings.TrimSpace(line[6:])
		case strings.HasPrefix(line, "data:"):
			ev.data += strings.TrimPrefix(line[5:], " ")
		}
	}
	return sc.Err()
}
