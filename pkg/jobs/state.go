package jobs

import "fmt"

// State is where a job is in its lifecycle. Postgres is the source of truth
// for it; see DESIGN §2.
type State string

// The job states.
const (
	StateScheduled State = "scheduled" // run_at is in the future
	StateQueued    State = "queued"    // published (or about to be) to its queue
	StateRunning   State = "running"   // claimed by a worker, under a lease
	StateRetrying  State = "retrying"  // failed an attempt, waiting for its backoff
	StateSucceeded State = "succeeded"
	StateFailed    State = "failed"
	StateCancelled State = "cancelled"
)

// AllStates lists every state, in lifecycle order.
var AllStates = []State{
	StateScheduled, StateQueued, StateRunning, StateRetrying,
	StateSucceeded, StateFailed, StateCancelled,
}

// transitions maps each state to the states it may move to.
var transitions = map[State][]State{
	StateScheduled: {StateQueued, StateCancelled},
	StateQueued:    {StateRunning, StateCancelled},
	StateRunning:   {StateSucceeded, StateFailed, StateRetrying, StateCancelled, StateQueued},
	StateRetrying:  {StateQueued, StateCancelled, StateFailed},
	// A terminal job moves again only through an explicit retry.
	StateFailed:    {StateQueued},
	StateCancelled: {StateQueued},
	StateSucceeded: {},
}

// Terminal reports whether no worker will touch a job in state s again.
func (s State) Terminal() bool {
	return s == StateSucceeded || s == StateFailed || s == StateCancelled
}

// Valid reports whether s is one of the known states.
func (s State) Valid() bool {
	_, ok := transitions[s]
	return ok
}

// CanTransition reports whether a job may move from one state to another.
// running → queued is a release (graceful shutdown) that charges no attempt.
func CanTransition(from, to State) bool {
	for _, s := range transitions[from] {
		if s == to {
			return true
		}
	}
	return false
}

// ParseState turns an API or database string into a State.
func ParseState(s string) (State, error) {
	st := State(s)
	if !st.Valid() {
		return "", fmt.Errorf("unknown state %q (valid: %v)", s, AllStates)
	}
	return st, nil
}
