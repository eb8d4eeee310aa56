package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	amqp "github.com/rabbitmq/amqp091-go"
)

// stack is one isolated Hopper (gateway + maintenance worker) on a fresh
// schema and AMQP prefix.
type stack struct {
	base   string
	key    string
	admin  string // the gateway's admin token
	userID string // the key's user
	dsn    string // the schema's database URL, as a service sharing Postgres uses it
	schema string
	prefix string
	db     *pgxpool.Pool
	procs  map[string]*exec.Cmd
	o      options
	client *http.Client
	pprof  map[string]string // service → pprof address, with -profile
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func withSchema(dsn, schema string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return dsn
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// startStack starts the binaries and waits until they are ready.
func startStack(ctx context.Context, o options, concurrency int) (*stack, error) {
	s := &stack{schema: "bench_" + randHex(4), prefix: "bench" + randHex(4), procs: map[string]*exec.Cmd{}, o: o,
		client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 256, MaxConnsPerHost: 256}}}
	admin, err := pgxpool.New(ctx, o.dbURL)
	if err != nil {
		return nil, fmt.Errorf("connect to postgres: %w", err)
	}
	defer admin.Close()
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+s.schema); err != nil {
		return nil, fmt.Errorf("create schema: %w", err)
	}
	dsn := withSchema(o.dbURL, s.schema)
	s.dsn = dsn
	api, err := freePort()
	if err != nil {
		return nil, err
	}
	metricsAddr, err := freePort()
	if err != nil {
		return nil, err
	}
	gatewayMetrics, err := freePort() // the gateway's /metrics: not the worker's port
	if err != nil {
		return nil, err
	}
	token := "bench-admin-" + randHex(12)
	s.admin = token
	env := append(os.Environ(), "HOPPER_DATABASE_URL="+dsn, "HOPPER_AMQP_URL="+o.amqpURL, "HOPPER_AMQP_PREFIX="+s.prefix,
		"HOPPER_ADMIN_TOKEN="+token, "HOPPER_ENV=prod", "HOPPER_SYSTEM_KINDS=true", "HOPPER_LOG_LEVEL=error", "HOPPER_HTTP_ADDR="+api,
		"HOPPER_METRICS_ADDR="+metricsAddr, fmt.Sprintf("HOPPER_CONCURRENCY=%d", concurrency), "HOPPER_DISPATCH_INTERVAL=200ms")
	s.pprof = map[string]string{}
	for _, name := range []string{"gateway", "maintenance-worker"} {
		cmd := exec.Command(filepath.Join(o.bin, name))
		cmd.Env = env
		if name == "gateway" {
			cmd.Env = append(append([]string(nil), env...), "HOPPER_METRICS_ADDR="+gatewayMetrics)
		}
		if o.profile != "" {
			addr, err := freePort()
			if err != nil {
				return nil, err
			}
			s.pprof[name] = addr
			cmd.Env = append(cmd.Env, "HOPPER_PPROF_ADDR="+addr)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			s.stop()
			return nil, fmt.Errorf("start %s (run make build first): %w", name, err)
		}
		s.procs[name] = cmd
	}
	s.base = "http://" + api
	for _, u := range []string{s.base + "/readyz", "http://" + metricsAddr + "/readyz"} {
		if err := waitReady(ctx, u); err != nil {
			s.stop()
			return nil, err
		}
	}
	if s.db, err = pgxpool.New(ctx, dsn); err != nil {
		s.stop()
		return nil, err
	}
	if s.key, err = s.newUser(ctx, token); err != nil {
		s.stop()
		return nil, err
	}
	return s, nil
}

func waitReady(ctx context.Context, u string) error {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(u)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s not ready within 60s", u)
}

func (s *stack) newUser(ctx context.Context, admin string) (string, error) {
	var u map[string]any
	if err := s.call(ctx, "POST", "/v1/admin/users", admin, map[string]any{"email": "bench-" + randHex(4) + "@example.com", "plan": "unlimited"}, &u); err != nil {
		return "", err
	}
	var k map[string]any
	if err := s.call(ctx, "POST", "/v1/admin/users/"+u["id"].(string)+"/keys", admin, nil, &k); err != nil {
		return "", err
	}
	s.userID = u["id"].(string)
	return k["key"].(string), nil
}

// waitLeading waits until the gateway's dispatcher leads, and so
// publishes transactionally enqueued jobs as they commit (W1t).
func (s *stack) waitLeading(ctx context.Context) error {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		var body struct {
			Leader bool `json:"dispatcher_leader"`
		}
		if err := s.call(ctx, "GET", "/readyz", "", nil, &body); err == nil && body.Leader {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("the gateway's dispatcher did not lead within 60s")
}

// call sends one API request and decodes the answer.
func (s *stack) call(ctx context.Context, method, path, key string, body, out any) error {
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.base+path, r)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, raw)
	}
	if out != nil {
		return json.Unmarshal(raw, out)
	}
	return nil
}

func (s *stack) pids() map[string]int {
	out := map[string]int{}
	for name, c := range s.procs {
		out[name] = c.Process.Pid
	}
	return out
}

// stop ends the processes and removes the schema and AMQP names.
func (s *stack) stop() {
	for _, c := range s.procs {
		_ = c.Process.Signal(syscall.SIGTERM)
	}
	for _, c := range s.procs {
		done := make(chan struct{})
		go func() { _ = c.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = c.Process.Kill()
		}
	}
	if s.db != nil {
		s.db.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if admin, err := pgxpool.New(ctx, s.o.dbURL); err == nil && !s.o.keep {
		_, _ = admin.Exec(ctx, "DROP SCHEMA IF EXISTS "+s.schema+" CASCADE")
		admin.Close()
	}
	if conn, err := amqp.Dial(s.o.amqpURL); err == nil {
		if ch, err := conn.Channel(); err == nil {
			for _, q := range []string{"chat", "document", "maintenance", "dead"} {
				_, _ = ch.QueueDelete(s.prefix+"."+q, false, false, false)
			}
			for _, x := range []string{"jobs", "dlx", "control"} {
				_ = ch.ExchangeDelete(s.prefix+"."+x, false, false)
			}
		}
		conn.Close()
	}
}

// waitDone polls until n jobs of the stack are succeeded and returns when
// the last of them finished, by Postgres's clock (the same host's), so the
// poll interval adds nothing to the measurement. It polls every 200 ms:
// each poll counts the whole table, and polling often would load the
// database under test.
func (s *stack) waitDone(ctx context.Context, n int, timeout time.Duration) (time.Time, error) {
	deadline := time.Now().Add(timeout)
	for {
		var (
			done int
			last *time.Time
		)
		err := s.db.QueryRow(ctx, "SELECT count(*), max(finished_at) FROM jobs WHERE state = 'succeeded'").Scan(&done, &last)
		if err != nil {
			return time.Time{}, err
		}
		if done >= n && last != nil {
			return *last, nil
		}
		if time.Now().After(deadline) {
			return time.Time{}, fmt.Errorf("only %d of %d jobs succeeded within %s", done, n, timeout)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// profileIf profiles the stack during workload when -profile is set, into
// <dir>/<workload>/, and reports the outcome on the channel it returns
// (at once, nil, when -profile is not set).
func (s *stack) profileIf(ctx context.Context, o options, workload string) <-chan error {
	done := make(chan error, 1)
	if o.profile == "" {
		done <- nil
		return done
	}
	go func() { done <- s.profile(ctx, filepath.Join(o.profile, workload), 8) }()
	return done
}

// profile saves a CPU profile of secs seconds and an allocation profile of
// each process into dir (files <service>.cpu.pprof, <service>.allocs.pprof).
func (s *stack) profile(ctx context.Context, dir string, secs int) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	errc := make(chan error, len(s.pprof))
	for name, addr := range s.pprof {
		go func() {
			errc <- fetch(ctx, fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, secs), filepath.Join(dir, name+".cpu.pprof"))
		}()
	}
	for range s.pprof {
		if err := <-errc; err != nil {
			return err
		}
	}
	for name, addr := range s.pprof {
		if err := fetch(ctx, "http://"+addr+"/debug/pprof/allocs", filepath.Join(dir, name+".allocs.pprof")); err != nil {
			return err
		}
	}
	return nil
}

func fetch(ctx context.Context, u, path string) error {
	req, err := http.NewRequestWithContext(ctx, "GET", u, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("fetch %s: %w", u, err)
	}
	defer resp.Body.Close()
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(f, resp.Body)
	return err
}
