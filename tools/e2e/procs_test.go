package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hopperq/hopper/pkg/testkit"
)

var services = []string{"gateway", "chat-worker", "document-worker", "maintenance-worker"}

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// binaries builds the four service binaries and hopperctl once per test
// run.
func binaries(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "hopper-e2e-bin-")
		if buildErr != nil {
			return
		}
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Join(filepath.Dir(file), "..", "..")
		pkgs := map[string]string{"hopperctl": "./tools/cmd/hopperctl"}
		for _, s := range services {
			pkgs[s] = "./services/" + s
		}
		for s, pkg := range pkgs {
			cmd := exec.Command("go", "build", "-o", filepath.Join(binDir, s), pkg)
			cmd.Dir = root
			if out, err := cmd.CombinedOutput(); err != nil {
				buildErr = fmt.Errorf("build %s: %v\n%s", s, err, out)
				return
			}
		}
	})
	require.NoError(t, buildErr)
	return binDir
}

// proc is one running service binary.
type proc struct {
	// metrics is a gateway's metrics server (http://host:port).
	metrics string
	name    string
	cmd     *exec.Cmd
	log     *bytes.Buffer
	mu      *sync.Mutex
	done    chan struct{}
}

// env is the environment shared by one test's services.
type env map[string]string

func newEnv(t *testing.T) env {
	return env{
		"HOPPER_DATABASE_URL":   testkit.DatabaseURL(t),
		"HOPPER_AMQP_URL":       testkit.AMQPURL(),
		"HOPPER_AMQP_PREFIX":    testkit.Prefix(t),
		"HOPPER_ADMIN_TOKEN":    testkit.UniqueName("e2e-admin-token-"),
		"HOPPER_SHUTDOWN_GRACE": "10s",
		"HOPPER_ENV":            "stage",
		// The tests submit system.noop and system.sleep, which stage
		// refuses unless enabled (TestSystemKindsOff runs without it).
		"HOPPER_SYSTEM_KINDS": "true",
	}
}

// start runs service with e plus extra variables; it is stopped with
// SIGTERM when the test ends.
func start(t *testing.T, service string, e env, extra env) *proc {
	t.Helper()
	return startBinary(t, service, filepath.Join(binaries(t), service), e, extra)
}

// startBinary runs the program at path as name, with e plus extra.
func startBinary(t *testing.T, name, path string, e env, extra env) *proc {
	t.Helper()
	cmd := exec.Command(path)
	cmd.Env = os.Environ()
	for k, v := range e {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	for k, v := range extra {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	// A gateway serves /metrics on a port of its own; tests scrape it
	// fresh (no cache) unless they say otherwise.
	metrics := ""
	if name == "gateway" {
		addr, set := extra["HOPPER_METRICS_ADDR"]
		if !set {
			addr, set = e["HOPPER_METRICS_ADDR"]
		}
		if !set {
			addr = freeAddr(t)
			cmd.Env = append(cmd.Env, "HOPPER_METRICS_ADDR="+addr)
		}
		metrics = "http://" + addr
		if _, ok := extra["HOPPER_METRICS_CACHE"]; !ok {
			cmd.Env = append(cmd.Env, "HOPPER_METRICS_CACHE=0s")
		}
	}
	p := startCmd(t, name, cmd)
	p.metrics = metrics
	return p
}

// startCmd starts cmd as the process name; it is stopped with SIGTERM
// when the test ends.
func startCmd(t *testing.T, name string, cmd *exec.Cmd) *proc {
	t.Helper()
	p := &proc{name: name, cmd: cmd, log: &bytes.Buffer{}, mu: &sync.Mutex{}, done: make(chan struct{})}
	w := &lockedWriter{mu: p.mu, w: p.log}
	cmd.Stdout, cmd.Stderr = w, w
	require.NoError(t, cmd.Start())
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.stop(t)
		if t.Failed() {
			t.Logf("--- %s log (last 4KB) ---\n%s", name, p.tail(4096))
		}
	})
	return p
}

func (p *proc) stop(t *testing.T) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Errorf("%s did not stop within 30s of SIGTERM", p.name)
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// kill ends the process with SIGKILL: no drain, no goodbye.
func (p *proc) kill(t *testing.T) {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Errorf("%s survived SIGKILL", p.name)
	}
}

func (p *proc) tail(n int) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	b := p.log.Bytes()
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// freeAddr returns a loopback address with a port free right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	addrMu.Lock()
	defer addrMu.Unlock()
	for range 1000 {
		port := addrLow + rand.IntN(addrHigh-addrLow)
		if addrGiven[port] {
			continue
		}
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue // taken
		}
		addr := ln.Addr().String()
		_ = ln.Close()
		addrGiven[port] = true
		return addr
	}
	t.Fatal("no free port between 20000 and 32000")
	return ""
}

// The ports freeAddr hands out lie below the kernel's ephemeral range
// (32768-60999 here): a port the kernel picked for ":0" was free when
// asked but could be the local port of any outgoing connection (to
// Postgres, RabbitMQ) by the time the child process bound it, and a
// child then failed with "address already in use" (seen in CI). Ports
// below the range are only ever taken by listeners, which the probe
// sees; addrGiven keeps one test process from handing a port out twice.
const addrLow, addrHigh = 20000, 32000

var (
	addrMu    sync.Mutex
	addrGiven = map[int]bool{}
)

// waitReady polls url until it answers 200 with status ready.
func waitReady(t *testing.T, url string, p *proc) {
	t.Helper()
	testkit.WaitFor(t, testkit.Deadline, func() bool {
		select {
		case <-p.done:
			t.Fatalf("%s exited:\n%s", p.name, p.tail(4096))
		default:
		}
		resp, err := http.Get(url)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var body map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode == 200 && body["status"] == "ready"
	}, "%s ready at %s", p.name, url)
}

// client talks to the gateway over HTTP.
type client struct {
	t    *testing.T
	base string
	// metrics is its gateway's metrics server (http://host:port), where
	// the test knows it.
	metrics string
	http    *http.Client
}

func (c *client) do(method, path, key string, body any) (int, map[string]any) {
	c.t.Helper()
	var r io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		require.NoError(c.t, err)
		r = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, c.base+path, r)
	require.NoError(c.t, err)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := c.http.Do(req)
	require.NoError(c.t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(c.t, err)
	out := map[string]any{}
	if len(strings.TrimSpace(string(raw))) > 0 {
		require.NoError(c.t, json.Unmarshal(raw, &out), "%s %s: %s", method, path, raw)
	}
	return resp.StatusCode, out
}
