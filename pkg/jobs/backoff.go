package jobs

import "time"

// Backoff is the delay before retrying after the given failed attempt
// (1-based): exponential with full jitter, rnd in [0, 1) picks the point in
// [0, min(cap, base·2^(attempt-1))). The caller supplies rnd so this stays
// pure and testable.
func Backoff(k Kind, attempt int, rnd float64) time.Duration {
	if attempt < 1 {
		attempt = 1
	}
	ceiling := k.BackoffBase
	for i := 1; i < attempt && ceiling < k.BackoffCap; i++ {
		ceiling *= 2
	}
	if ceiling > k.BackoffCap {
		ceiling = k.BackoffCap
	}
	if rnd < 0 {
		rnd = 0
	}
	if rnd >= 1 {
		rnd = 0.999999
	}
	return time.Duration(rnd * float64(ceiling))
}
