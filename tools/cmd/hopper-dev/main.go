// Command hopper-dev runs the whole Hopper stack in the foreground for a
// laptop (`make run`): it migrates the database, starts the gateway and the
// three workers from -bin, prefixes their logs, prints where to reach them,
// and on Ctrl-C stops them all cleanly (SIGTERM, then SIGKILL after a grace).
package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

var services = []string{"gateway", "chat-worker", "document-worker", "maintenance-worker", "push-worker"}

func main() {
	bin := flag.String("bin", "bin", "directory holding the service binaries")
	grace := flag.Duration("grace", 30*time.Second, "how long services may take to stop before SIGKILL")
	flag.Parse()
	if err := run(*bin, *grace); err != nil {
		fmt.Fprintln(os.Stderr, "hopper-dev:", err)
		os.Exit(1)
	}
}

func run(bin string, grace time.Duration) error {
	env := os.Environ()
	token := os.Getenv("HOPPER_ADMIN_TOKEN")
	if token == "" {
		b := make([]byte, 24)
		if _, err := rand.Read(b); err != nil {
			return fmt.Errorf("generate admin token: %w", err)
		}
		token = "dev-" + hex.EncodeToString(b)
		env = append(env, "HOPPER_ADMIN_TOKEN="+token)
	}
	addr := os.Getenv("HOPPER_HTTP_ADDR")
	if addr == "" {
		addr = "127.0.0.1:8080"
	}
	// Push targets answering 202 call the gateway back here.
	if os.Getenv("HOPPER_PUSH_CALLBACK_URL") == "" {
		env = append(env, "HOPPER_PUSH_CALLBACK_URL=http://"+addr)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	// The gateway reads unacked counts and rates for GET /v1/queues from
	// the management API (scripts/deps.sh enables the plugin): point it
	// there when it answers, unless told otherwise.
	mgmt := os.Getenv("HOPPER_RABBITMQ_MANAGEMENT_URL")
	mgmtNote := "(set by you)"
	if mgmt == "" {
		mgmtNote = "(not answering: /v1/queues figures come over AMQP, without unacked counts and rates)"
		if u, err := managementURL(os.Getenv("HOPPER_AMQP_URL")); err == nil {
			mgmt = u
			if managementUp(ctx, u) {
				env = append(env, "HOPPER_RABBITMQ_MANAGEMENT_URL="+u)
				mgmtNote = "(HOPPER_RABBITMQ_MANAGEMENT_URL; user and password of HOPPER_AMQP_URL)"
			}
		}
	}

	migrate := exec.CommandContext(ctx, filepath.Join(bin, "gateway"), "migrate")
	migrate.Env, migrate.Stdout, migrate.Stderr = env, os.Stdout, os.Stderr
	if err := migrate.Run(); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}

	var out sync.Mutex
	procs := make([]*exec.Cmd, 0, len(services))
	exited := make(chan string, len(services))
	for _, name := range services {
		cmd := exec.Command(filepath.Join(bin, name))
		cmd.Env = env
		stdout, _ := cmd.StdoutPipe()
		stderr, _ := cmd.StderrPipe()
		if err := cmd.Start(); err != nil {
			terminate(procs, grace)
			return fmt.Errorf("start %s: %w", name, err)
		}
		go prefix(&out, name, stdout)
		go prefix(&out, name, stderr)
		procs = append(procs, cmd)
		go func(name string, cmd *exec.Cmd) {
			_ = cmd.Wait()
			exited <- name
		}(name, cmd)
	}

	out.Lock()
	fmt.Printf(`
  Hopper is running.
    API:                 http://%[1]s   (health: /healthz, /readyz)
    Admin token:         %[2]s
    RabbitMQ management: %[3]s   %[4]s
    Worker health:       http://127.0.0.1:9101/readyz (chat), :9102 (document), :9103 (maintenance)

  Create a user and a key:
    curl -s -H "Authorization: Bearer %[2]s" -d '{"email":"me@example.com"}' http://%[1]s/v1/admin/users
    curl -s -H "Authorization: Bearer %[2]s" -X POST http://%[1]s/v1/admin/users/<user id>/keys
  Dashboard: http://%[1]s/ui — sign in with a user's key (the admin token is not
    accepted there: for the admin pages create a user with "role":"admin")
  Press Ctrl-C to stop everything.

`, addr, token, withoutUser(mgmt), mgmtNote)
	out.Unlock()

	var failed error
	select {
	case <-ctx.Done():
		fmt.Println("hopper-dev: stopping…")
	case name := <-exited:
		failed = errors.New(name + " exited unexpectedly; stopping the rest")
		fmt.Fprintln(os.Stderr, "hopper-dev:", failed)
	}
	terminate(procs, grace)
	return failed
}

// terminate sends SIGTERM to every process, and SIGKILL to those still
// running after grace.
func terminate(procs []*exec.Cmd, grace time.Duration) {
	var wg sync.WaitGroup
	for _, p := range procs {
		if p.Process == nil {
			continue
		}
		_ = p.Process.Signal(syscall.SIGTERM)
		wg.Add(1)
		go func(p *exec.Cmd) {
			defer wg.Done()
			deadline := time.Now().Add(grace)
			for time.Now().Before(deadline) {
				if p.Process.Signal(syscall.Signal(0)) != nil {
					return
				}
				time.Sleep(100 * time.Millisecond)
			}
			_ = p.Process.Kill()
		}(p)
	}
	wg.Wait()
}

func prefix(mu *sync.Mutex, name string, r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		mu.Lock()
		fmt.Printf("%-19s| %s\n", name, sc.Text())
		mu.Unlock()
	}
}
