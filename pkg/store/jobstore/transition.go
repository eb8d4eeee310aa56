package jobstore

import (
	"context"
	"strings"

	"gorm.io/gorm"

	"github.com/hopperq/hopper/pkg/jobs"
)

// A move is what a statement does to a job's state: a job in one of from
// ends in to (to among from: the state stays, another column changes).
// Every statement that changes jobs.state declares its moves, and its
// state test and assignment are built from them, so the pairs the tests
// hold to jobs.CanTransition are the statement's very SQL.
type move struct {
	from []jobs.State
	to   jobs.State
}

// transition is one state change of jobs rows: an UPDATE plus the
// timeline event each changed row appends, run as one statement so a
// transition can never lose its event. The state test (WHERE state IN
// every move's from) and assignment (SET state = to, a CASE for several
// moves) come from moves; set and where are the other SQL fragments,
// whose placeholders args fill in order; eventType and eventMsg are SQL
// expressions over the updated row whose placeholders eventArgs fill.
type transition struct {
	moves      []move
	set, where string
	args       []any
	eventType  string
	eventMsg   string
	eventArgs  []any
	orderBy    string // optional ORDER BY of the returned rows
}

// withEvent sets a fixed event type and message.
func (t transition) withEvent(typ, msg string) transition {
	t.eventType, t.eventMsg = "?::text", "?::text"
	t.eventArgs = []any{typ, msg}
	return t
}

func (t transition) sql() string {
	q := `WITH u AS (UPDATE jobs SET state = ` + t.stateSQL() + `, ` + t.set + `
	WHERE state IN (` + t.fromSQL() + `) AND ` + t.where + ` RETURNING *),
e AS (INSERT INTO job_events (job_id, type, state, attempt, message)
      SELECT id, ` + t.eventType + `, state, attempt, ` + t.eventMsg + ` FROM u)
SELECT * FROM u`
	if t.orderBy != "" {
		q += " ORDER BY " + t.orderBy
	}
	return q
}

// stateSQL is the new state: the one move's to, or by the old state.
func (t transition) stateSQL() string {
	if len(t.moves) == 1 {
		return quote(t.moves[0].to)
	}
	var b strings.Builder
	b.WriteString("CASE")
	for _, m := range t.moves {
		b.WriteString(" WHEN state IN (" + stateList(m.from...) + ") THEN " + quote(m.to))
	}
	b.WriteString(" END")
	return b.String()
}

// fromSQL lists every state a row may leave.
func (t transition) fromSQL() string {
	var all []jobs.State
	for _, m := range t.moves {
		all = append(all, m.from...)
	}
	return stateList(all...)
}

// stateList renders states as SQL literals, comma separated. States are
// the package's own constants, never input.
func stateList(states ...jobs.State) string {
	out := make([]string, len(states))
	for i, s := range states {
		out[i] = quote(s)
	}
	return strings.Join(out, ", ")
}

func quote(s jobs.State) string { return "'" + string(s) + "'" }

// run applies t with db (the Store's handle or a transaction) and returns
// the changed rows.
func (t transition) run(ctx context.Context, db *gorm.DB) ([]Job, error) {
	var out []Job
	args := append(append([]any{}, t.args...), t.eventArgs...)
	if err := db.WithContext(ctx).Raw(t.sql(), args...).Scan(&out).Error; err != nil {
		return nil, err
	}
	return out, nil
}

// runOne applies t, expected to match at most one row; ok is false when
// it matched none.
func (t transition) runOne(ctx context.Context, db *gorm.DB) (job Job, ok bool, err error) {
	rows, err := t.run(ctx, db)
	if err != nil || len(rows) == 0 {
		return Job{}, false, err
	}
	return rows[0], true, nil
}
