package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/hopperq/hopper/pkg/hopper"
)

// Recalculate is the payload of leaderboard.recalculate. Its JSON Schema,
// which the gateway checks every submit against, is derived from it:
// board is required (no omitempty), the rest optional, nothing else
// allowed.
type Recalculate struct {
	// Board names the leaderboard.
	Board string `json:"board" jsonschema:"minLength=1,maxLength=100"`
	// Players is how many players to rank (default 1,000).
	Players int `json:"players,omitempty" jsonschema:"minimum=1,maximum=1000000"`
	// Top is how many leaders the result lists (default 10).
	Top int `json:"top,omitempty" jsonschema:"minimum=1,maximum=100"`
	// StepMS paces the ten steps of the work, to watch its progress.
	StepMS int `json:"step_ms,omitempty" jsonschema:"minimum=0,maximum=60000"`
	// FailFirst makes the first N attempts fail, to watch retries.
	FailFirst int `json:"fail_first,omitempty" jsonschema:"minimum=0,maximum=10"`
	// Frozen marks a board that can never be recalculated: the job fails
	// at once, without retries.
	Frozen bool `json:"frozen,omitempty"`
}

// Kind defines leaderboard.recalculate: its queue ("leaderboard", from
// the name), attempts, timeout and backoff.
func (Recalculate) Kind() hopper.KindSpec {
	return hopper.KindSpec{
		Name:        "leaderboard.recalculate",
		Description: "rank a leaderboard's players",
		MaxAttempts: 5,
		Timeout:     2 * time.Minute,
		MaxTimeout:  10 * time.Minute,
		BackoffBase: 200 * time.Millisecond,
		BackoffCap:  2 * time.Second,
	}
}

// Entry is one leader.
type Entry struct {
	Rank   int    `json:"rank"`
	Player string `json:"player"`
	Score  int    `json:"score"`
}

// Result is the job's result.
type Result struct {
	Board   string  `json:"board"`
	Players int     `json:"players"`
	Leaders []Entry `json:"leaders"`
	Attempt int     `json:"attempt"`
}

var errFrozen = errors.New("board is frozen")

// recalculate ranks the board's players (scores drawn from the board's
// name, so a board always ranks the same way) in ten steps.
func recalculate(ctx context.Context, job *hopper.Job[Recalculate]) (Result, error) {
	a := job.Args
	if a.Frozen {
		return Result{}, hopper.Permanent(fmt.Errorf("%s: %w", a.Board, errFrozen))
	}
	if job.Attempt <= a.FailFirst {
		return Result{}, fmt.Errorf("scores of %s not ready (attempt %d)", a.Board, job.Attempt)
	}
	players := cmp.Or(a.Players, 1000)
	h := fnv.New64a()
	_, _ = h.Write([]byte(a.Board))
	rng := rand.New(rand.NewPCG(h.Sum64(), 0))
	scores := make([]Entry, players)
	for i := range scores {
		scores[i] = Entry{Player: fmt.Sprintf("player-%d", i+1), Score: rng.IntN(100000)}
	}
	log := job.Logger()
	for step := 1; step <= 10; step++ {
		// A cancel or the timeout ends ctx: stop at once.
		select {
		case <-ctx.Done():
			return Result{}, ctx.Err()
		case <-time.After(time.Duration(a.StepMS) * time.Millisecond):
		}
		if err := job.Progress(ctx, step*10, fmt.Sprintf("ranked %d of %d players", players*step/10, players)); err != nil {
			log.Warn("progress not recorded")
		}
	}
	slices.SortStableFunc(scores, func(x, y Entry) int { return cmp.Compare(y.Score, x.Score) })
	top := min(cmp.Or(a.Top, 10), players)
	leaders := scores[:top]
	for i := range leaders {
		leaders[i].Rank = i + 1
	}
	return Result{Board: a.Board, Players: players, Leaders: leaders, Attempt: job.Attempt}, nil
}
