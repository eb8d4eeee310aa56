// Package testkit gives integration tests their own slice of the real
// infrastructure: a fresh Postgres schema and a unique AMQP name prefix per
// test, removed when the test ends, so tests run in parallel on one
// database and one broker without seeing each other's data.
//
// Tests reach the servers through HOPPER_TEST_DATABASE_URL and
// HOPPER_TEST_AMQP_URL, defaulting to the local servers scripts/deps.sh
// starts.
package testkit

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	// database/sql driver "pgx" for schema setup.
	_ "github.com/jackc/pgx/v5/stdlib"
	amqp "github.com/rabbitmq/amqp091-go"
)

// Default server addresses, matching scripts/deps.sh.
const (
	DefaultDatabaseURL = "postgres://postgres:postgres@127.0.0.1:5432/hopper?sslmode=disable"
	DefaultAMQPURL     = "amqp://guest:guest@127.0.0.1:5672/"
)

// BaseDatabaseURL is the database tests create their schemas in.
func BaseDatabaseURL() string {
	if v := os.Getenv("HOPPER_TEST_DATABASE_URL"); v != "" {
		return v
	}
	return DefaultDatabaseURL
}

// AMQPURL is the broker tests use.
func AMQPURL() string {
	if v := os.Getenv("HOPPER_TEST_AMQP_URL"); v != "" {
		return v
	}
	return DefaultAMQPURL
}

// UniqueName returns base followed by a short random suffix, lower case,
// safe as a Postgres identifier and inside AMQP names.
func UniqueName(base string) string {
	b := make([]byte, 5)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	return base + hex.EncodeToString(b)
}

// DatabaseURL creates an empty schema for t and returns a connection URL
// whose search_path points at it. The schema is dropped when t ends.
func DatabaseURL(t testing.TB) string {
	t.Helper()
	schema := UniqueName("t_")
	base := BaseDatabaseURL()
	db, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatalf("testkit: open %s: %v", base, err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := db.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("testkit: create schema (is Postgres running? run scripts/deps.sh): %v", err)
	}
	t.Cleanup(func() {
		db, err := sql.Open("pgx", base)
		if err != nil {
			return
		}
		defer db.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := db.ExecContext(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Logf("testkit: drop schema %s: %v", schema, err)
		}
	})
	return WithSearchPath(base, schema)
}

// WithSearchPath returns dsn with its search_path set to schema.
func WithSearchPath(dsn, schema string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return dsn
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// Prefix returns an AMQP name prefix unique to t. Queues and exchanges
// under it are deleted when t ends.
func Prefix(t testing.TB) string {
	t.Helper()
	prefix := UniqueName("t")
	t.Cleanup(func() { DeleteTopology(t, prefix) })
	return prefix
}

// DeleteTopology removes the standard queues and exchanges named with
// prefix (see pkg/broker), ignoring ones that do not exist.
func DeleteTopology(t testing.TB, prefix string) {
	conn, err := amqp.Dial(AMQPURL())
	if err != nil {
		t.Logf("testkit: delete topology %s: %v", prefix, err)
		return
	}
	defer conn.Close()
	for _, q := range []string{"chat", "document", "maintenance", "dead"} {
		ch, err := conn.Channel()
		if err != nil {
			return
		}
		_, _ = ch.QueueDelete(prefix+"."+q, false, false, false)
		_ = ch.Close()
	}
	for _, x := range []string{"jobs", "dlx", "control"} {
		ch, err := conn.Channel()
		if err != nil {
			return
		}
		_ = ch.ExchangeDelete(prefix+"."+x, false, false)
		_ = ch.Close()
	}
}

// QueueName joins prefix and a short queue name the way pkg/broker does.
func QueueName(prefix, name string) string {
	return strings.TrimSuffix(prefix, ".") + "." + name
}

// Deadline is how long Eventually-style waits in integration tests may
// take before failing. Generous, because CI machines are slow; tests poll
// conditions and return as soon as they hold.
const Deadline = 60 * time.Second

// WaitFor polls cond every interval until it returns true or the deadline
// passes, then fails t with msg.
func WaitFor(t testing.TB, timeout time.Duration, cond func() bool, format string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("testkit: timed out after %s waiting for: %s", timeout, fmt.Sprintf(format, args...))
		}
		time.Sleep(20 * time.Millisecond)
	}
}
