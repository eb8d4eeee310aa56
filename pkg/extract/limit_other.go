//go:build !linux

package extract

// pdfLimitsSupported reports whether limitProcess sets rlimits here: only
// on Linux (prlimit(2)). Elsewhere pdftotext runs with the timeout and the
// minimal environment only.
const pdfLimitsSupported = false

func limitProcess(int, uint64, uint64) error { return nil }

func killedForCPU(error) bool { return false }
