package pg

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/zap"
)

// Reconnect delays of a dedicated connection's loop: a Postgres restart
// costs a moment; a long outage does not become a connection storm from
// every replica.
const (
	reconnectMinBackoff = 100 * time.Millisecond
	reconnectMaxBackoff = 5 * time.Second
)

// RunReconnecting runs session — one dedicated connection's life — until
// ctx ends, again after each failure with capped, jittered exponential
// backoff (reset when the session reports it had connected). down runs
// after every session, before the wait. It returns when ctx ends: a
// database outage is no reason to stop the process. what names the loop
// in the log.
func RunReconnecting(ctx context.Context, log *zap.Logger, what string,
	session func(ctx context.Context) (connected bool, err error), down func()) {
	next := time.Duration(0)
	for ctx.Err() == nil {
		connected, err := session(ctx)
		if down != nil {
			down()
		}
		if ctx.Err() != nil {
			return
		}
		if connected {
			next = 0
		}
		next = min(max(2*next, reconnectMinBackoff), reconnectMaxBackoff)
		delay := next + rand.N(next/5+1)
		log.Warn(what+" interrupted; reconnecting", zap.Duration("in", delay), zap.Error(err))
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
	}
}

// Dial opens a dedicated connection (for LISTEN or a polling loop) and
// returns it with the function that closes it, which waits at most 2 s
// for a goodbye even after ctx ended.
func Dial(ctx context.Context, dsn string) (*pgx.Conn, func(), error) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return nil, nil, fmt.Errorf("connect: %w", err)
	}
	return conn, func() {
		closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		_ = conn.Close(closeCtx)
	}, nil
}
