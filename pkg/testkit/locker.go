package testkit

import (
	"database/sql"
	"testing"
)

// Locker is a test's own transaction on dsn, holding row locks so that a
// write under test has to wait, and telling when one does. It rolls back
// when the test ends, if Release did not come first.
type Locker struct {
	t   testing.TB
	db  *sql.DB
	tx  *sql.Tx
	xid string
}

// NewLocker opens a connection to dsn and begins the locking transaction.
func NewLocker(t testing.TB, dsn string) *Locker {
	t.Helper()
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatalf("testkit: open %s: %v", dsn, err)
	}
	t.Cleanup(func() { _ = db.Close() })
	tx, err := db.BeginTx(t.Context(), nil)
	if err != nil {
		t.Fatalf("testkit: begin locking transaction: %v", err)
	}
	t.Cleanup(func() { _ = tx.Rollback() })
	l := &Locker{t: t, db: db, tx: tx}
	if err := tx.QueryRowContext(t.Context(), "SELECT pg_current_xact_id()::text").Scan(&l.xid); err != nil {
		t.Fatalf("testkit: locking transaction id: %v", err)
	}
	return l
}

// Lock runs query (a SELECT … FOR UPDATE) in the locking transaction. It
// reports errors with t.Errorf, so a handler goroutine may call it.
func (l *Locker) Lock(query string, args ...any) {
	if _, err := l.tx.ExecContext(l.t.Context(), query, args...); err != nil {
		l.t.Errorf("testkit: lock: %v", err)
	}
}

// Blocking reports whether another transaction waits for a lock it holds.
func (l *Locker) Blocking() bool {
	l.t.Helper()
	var waiting bool
	err := l.db.QueryRowContext(l.t.Context(), `SELECT EXISTS (SELECT 1 FROM pg_locks
		WHERE locktype = 'transactionid' AND NOT granted AND transactionid::text = $1)`, l.xid).Scan(&waiting)
	if err != nil {
		l.t.Fatalf("testkit: read pg_locks: %v", err)
	}
	return waiting
}

// Release rolls the transaction back, freeing its locks.
func (l *Locker) Release() {
	l.t.Helper()
	if err := l.tx.Rollback(); err != nil {
		l.t.Fatalf("testkit: release locks: %v", err)
	}
}
