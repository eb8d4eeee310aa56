package e2e

import (
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hopperq/hopper/pkg/testkit"
)

// TestPipelineEndToEnd starts the four real binaries and pushes 500 mixed
// jobs from two users through HTTP: every job succeeds, every timeline is
// complete, and each user's list shows exactly their own jobs.
func TestPipelineEndToEnd(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	api := freeAddr(t)
	gw := start(t, "gateway", e, env{"HOPPER_HTTP_ADDR": api})
	waitReady(t, "http://"+api+"/readyz", gw)

	// system.* routes to the maintenance queue; the other two workers
	// consume it too, next to their own queue (HOPPER_QUEUES lists both).
	workers := map[string]string{
		"maintenance-worker": "maintenance",
		"chat-worker":        "chat,maintenance",
		"document-worker":    "document,maintenance",
	}
	for name, queues := range workers {
		addr := freeAddr(t)
		p := start(t, name, e, env{"HOPPER_METRICS_ADDR": addr, "HOPPER_QUEUES": queues, "HOPPER_CONCURRENCY": "8"})
		waitReady(t, "http://"+addr+"/readyz", p)
	}

	c := &client{t: t, base: "http://" + api, http: &http.Client{Timeout: 30 * time.Second}}
	keys := map[string]string{}
	for _, name := range []string{"alice", "bob"} {
		code, u := c.do("POST", "/v1/admin/users", e["HOPPER_ADMIN_TOKEN"], map[string]any{"email": name + "@example.com", "plan": "unlimited"})
		require.Equal(t, 201, code, u)
		code, k := c.do("POST", "/v1/admin/users/"+u["id"].(string)+"/keys", e["HOPPER_ADMIN_TOKEN"], nil)
		require.Equal(t, 201, code, k)
		keys[name] = k["key"].(string)
	}

	const total = 500
	priorities := []any{"low", "normal", "high", 0, 2, 4}
	owned := map[string]map[string]bool{"alice": {}, "bob": {}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i := 0; i < total; i++ {
		user := "alice"
		if i%2 == 1 {
			user = "bob"
		}
		body := map[string]any{"kind": "system.noop", "priority": priorities[i%len(priorities)]}
		if i%3 == 0 {
			body = map[string]any{"kind": "system.sleep", "payload": map[string]any{"ms": i % 40}, "priority": priorities[i%len(priorities)]}
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			code, out := c.do("POST", "/v1/jobs", keys[user], body)
			if !assert.Equal(t, 202, code, out) {
				return
			}
			mu.Lock()
			owned[user][out["id"].(string)] = true
			mu.Unlock()
		}()
	}
	wg.Wait()
	require.Len(t, owned["alice"], total/2)
	require.Len(t, owned["bob"], total/2)

	for user, ids := range owned {
		testkit.WaitFor(t, 2*testkit.Deadline, func() bool {
			return len(listAll(t, c, keys[user], "state=succeeded")) == len(ids)
		}, "all of %s's jobs to succeed", user)

		listed := listAll(t, c, keys[user], "")
		assert.Equal(t, ids, listed, "%s's list shows exactly their own jobs", user)

		for id := range ids {
			code, job := c.do("GET", "/v1/jobs/"+id, keys[user], nil)
			require.Equal(t, 200, code)
			assert.Equal(t, "succeeded", job["state"])
			assert.Equal(t, []string{"created", "started", "succeeded"}, types(job), "timeline of %s", id)
			assert.Equal(t, float64(100), job["progress"])
		}
	}

	// The other user's job is invisible.
	for id := range owned["alice"] {
		code, _ := c.do("GET", "/v1/jobs/"+id, keys["bob"], nil)
		assert.Equal(t, 404, code)
		break
	}
	assert.NotContains(t, gw.output(), e["HOPPER_ADMIN_TOKEN"], "the admin token is never logged")
}

func listAll(t *testing.T, c *client, key, query string) map[string]bool {
	seen := map[string]bool{}
	cursor := ""
	for {
		path := "/v1/jobs?limit=200"
		if query != "" {
			path += "&" + query
		}
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		code, page := c.do("GET", path, key, nil)
		require.Equal(t, 200, code, page)
		for _, j := range page["jobs"].([]any) {
			seen[j.(map[string]any)["id"].(string)] = true
		}
		next, _ := page["next_cursor"].(string)
		if next == "" {
			return seen
		}
		cursor = next
	}
}

func types(job map[string]any) []string {
	var out []string
	for _, e := range job["events"].([]any) {
		out = append(out, e.(map[string]any)["type"].(string))
	}
	return out
}

// TestBadConfigFailsFast: a service given a bad variable exits at once with
// one line naming it.
func TestBadConfigFailsFast(t *testing.T) {
	t.Parallel()
	bin := binaries(t)
	tests := []struct {
		service, key, value string
	}{
		{"gateway", "HOPPER_HTTP_ADDR", "not-an-address"},
		{"chat-worker", "HOPPER_CONCURRENCY", "zero"},
		{"document-worker", "HOPPER_QUEUE_TYPE", "stream"},
		{"maintenance-worker", "HOPPER_DATABASE_URL", "mysql://db/hopper"},
	}
	for _, tt := range tests {
		t.Run(tt.service, func(t *testing.T) {
			cmd := exec.Command(filepath.Join(bin, tt.service))
			cmd.Env = []string{tt.key + "=" + tt.value}
			out, err := cmd.CombinedOutput()
			require.Error(t, err, "must exit non-zero")
			lines := strings.Split(strings.TrimSpace(string(out)), "\n")
			assert.Len(t, lines, 1, "one line: %s", out)
			assert.Contains(t, lines[0], tt.key, fmt.Sprintf("names the variable: %s", out))
		})
	}
}
