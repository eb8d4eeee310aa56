package dispatch

import (
	"context"
	"database/sql"
	"fmt"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/hopperq/hopper/pkg/clock"
)

// leader holds a session-level Postgres advisory lock on one dedicated
// connection. Postgres releases the lock when that connection dies, so a
// standby takes over as soon as the leader's process or network goes away.
type leader struct {
	// conn takes the dedicated connection the lock is held on.
	conn    func(ctx context.Context) (*sql.Conn, error)
	role    string // names the loop in logs: "dispatcher"
	key     string
	retry   time.Duration
	log     *zap.Logger
	leading *atomic.Bool
}

// Run calls lead with a context that lives while this process holds the
// lock, and retries the lock every l.retry while it does not.
func (l *leader) Run(ctx context.Context, lead func(ctx context.Context) error) error {
	for ctx.Err() == nil {
		conn, held, err := l.tryLock(ctx)
		if err != nil {
			l.log.Warn("leader election failed", zap.Error(err))
		}
		if held {
			l.log.Info(l.role + " leading")
			l.leading.Store(true)
			err := l.hold(ctx, conn, lead)
			l.leading.Store(false)
			l.log.Info(l.role+" no longer leading", zap.Error(err))
		}
		_ = clock.Sleep(ctx, l.retry)
	}
	return nil
}

func (l *leader) tryLock(ctx context.Context) (*sql.Conn, bool, error) {
	conn, err := l.conn(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("leader connection: %w", err)
	}
	var held bool
	// The key includes the schema so environments and tests sharing one
	// database elect their own leaders.
	err = conn.QueryRowContext(ctx, "SELECT pg_try_advisory_lock(hashtext(current_schema() || ':' || $1))", l.key).Scan(&held)
	if err != nil || !held {
		_ = conn.Close()
		if err != nil {
			return nil, false, fmt.Errorf("try advisory lock: %w", err)
		}
		return nil, false, nil
	}
	return conn, true, nil
}

// hold runs lead while the locked connection stays healthy.
func (l *leader) hold(ctx context.Context, conn *sql.Conn, lead func(ctx context.Context) error) error {
	leadCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- lead(leadCtx) }()

	t := time.NewTicker(l.retry)
	defer t.Stop()
	defer func() {
		// Unlock explicitly on a clean stop; closing the connection would
		// release it too.
		unlockCtx, c := context.WithTimeout(context.Background(), 2*time.Second)
		defer c()
		_, _ = conn.ExecContext(unlockCtx, "SELECT pg_advisory_unlock(hashtext(current_schema() || ':' || $1))", l.key)
		_ = conn.Close()
	}()
	for {
		select {
		case err := <-done:
			return err
		case <-ctx.Done():
			cancel()
			<-done
			return nil
		case <-t.C:
			if err := conn.PingContext(ctx); err != nil && ctx.Err() == nil {
				cancel()
				<-done
				return fmt.Errorf("lock connection lost: %w", err)
			}
		}
	}
}
