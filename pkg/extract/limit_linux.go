package extract

import (
	"errors"
	"os/exec"
	"syscall"

	"golang.org/x/sys/unix"
)

// pdfLimitsSupported reports whether limitProcess sets rlimits here.
const pdfLimitsSupported = true

// limitProcess sets the address-space and CPU-time limits of a started
// process with prlimit(2), and forbids core dumps. The CPU hard limit is a
// second above the soft one, so the process gets SIGXCPU (which says why)
// before SIGKILL.
func limitProcess(pid int, memBytes uint64, cpuSeconds uint64) error {
	limits := []struct {
		resource int
		lim      unix.Rlimit
	}{
		{unix.RLIMIT_AS, unix.Rlimit{Cur: memBytes, Max: memBytes}},
		{unix.RLIMIT_CPU, unix.Rlimit{Cur: cpuSeconds, Max: cpuSeconds + 1}},
		{unix.RLIMIT_CORE, unix.Rlimit{}},
	}
	for _, l := range limits {
		if err := unix.Prlimit(pid, l.resource, &l.lim, nil); err != nil {
			return err
		}
	}
	return nil
}

// killedForCPU reports whether err is a process ending on SIGXCPU, the
// signal of the CPU-time limit.
func killedForCPU(err error) bool {
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) {
		return false
	}
	ws, ok := exitErr.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGXCPU
}
