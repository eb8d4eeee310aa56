package jobs

import "fmt"

// PlanPriority applies a plan to a submission's priority: a priority the
// caller asked for above the plan's maximum is refused (a ValidationError
// naming the maximum, so a free user asking for high knows why), then the
// plan's boost is added to the asked-for or kind-default priority, capped
// at MaxPriority. A kind's default is never refused: the maximum bounds
// what a caller may ask for, not what Hopper picks.
func PlanPriority(p Priority, asked bool, plan string, maxPriority, boost int) (Priority, error) {
	if asked && int(p) > maxPriority {
		return 0, &ValidationError{Field: "priority", Message: fmt.Sprintf(
			"%s (%d) is above the %s plan's maximum priority %s (%d)", p, int(p), plan, Priority(max(maxPriority, 0)), maxPriority)}
	}
	out := int(p) + max(boost, 0)
	if out > int(MaxPriority) {
		out = int(MaxPriority)
	}
	return Priority(out), nil
}

// PlanAttempts applies a plan's bound on attempts (maxAttempts; 0: only
// MaxAttemptsLimit) to a submission: more attempts than the bound asked
// for by the caller are refused (a ValidationError naming the plan's
// maximum, like the priority bound); a kind's default above it is lowered
// to it, since the bound is on the work one job may cost, whoever picked
// the number.
func PlanAttempts(n int, asked bool, plan string, maxAttempts int) (int, error) {
	if maxAttempts <= 0 || n <= maxAttempts {
		return n, nil
	}
	if asked {
		return 0, &ValidationError{Field: "max_attempts", Message: fmt.Sprintf(
			"%d is above the %s plan's maximum of %d attempts", n, plan, maxAttempts)}
	}
	return maxAttempts, nil
}
