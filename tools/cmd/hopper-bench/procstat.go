package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// clockTicks is USER_HZ, 100 on every Linux this runs on.
const clockTicks = 100

// cpuSeconds is the user+system CPU time a process has used.
func cpuSeconds(pid int) (float64, error) {
	st, err := readProcStat(pid)
	return st.own, err
}

// procStat is what the bench reads of /proc/<pid>/stat: the command name,
// the process's own user+system CPU seconds, and those of its children it
// has reaped.
type procStat struct {
	comm        string
	own, reaped float64
}

// readProcStat reads pid's procStat.
func readProcStat(pid int) (procStat, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procStat{}, fmt.Errorf("read stat of %d: %w", pid, err)
	}
	// The command name is in parentheses and may hold spaces; the other
	// fields follow the last ')'.
	s := string(b)
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || end < open || end+2 > len(s) {
		return procStat{}, fmt.Errorf("stat of %d: no command name", pid)
	}
	fields := strings.Fields(s[end+2:])
	if len(fields) < 15 {
		return procStat{}, fmt.Errorf("stat of %d: %d fields", pid, len(fields))
	}
	ticks := make([]float64, 4) // utime, stime, cutime, cstime
	for i := range ticks {
		ticks[i], _ = strconv.ParseFloat(fields[11+i], 64)
	}
	return procStat{comm: s[open+1 : end], own: (ticks[0] + ticks[1]) / clockTicks,
		reaped: (ticks[2] + ticks[3]) / clockTicks}, nil
}

// peakRSSMiB is the process's peak resident set (VmHWM) since start or the
// last resetPeak.
func peakRSSMiB(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("read status of %d: %w", pid, err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb / 1024, nil
		}
	}
	return 0, fmt.Errorf("no VmHWM for %d", pid)
}

// resetPeak resets VmHWM to the current RSS (Linux clear_refs "5").
func resetPeak(pid int) {
	_ = os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
}

// cpuUse is the CPU time (seconds) used so far by RabbitMQ's processes,
// Postgres's processes (with their reaped children: backends that
// exited) and the whole machine (every busy CPU state).
type cpuUse struct {
	RabbitMQ, Postgres, Machine float64
}

// takeCPU reads cpuUse from /proc. Processes are found by command name,
// so the broker and the database count wherever they were started from.
func takeCPU() cpuUse {
	var u cpuUse
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, err := readProcStat(pid)
		if err != nil {
			continue // gone meanwhile
		}
		switch st.comm {
		case "beam.smp":
			u.RabbitMQ += st.own + st.reaped
		case "postgres":
			u.Postgres += st.own + st.reaped
		}
	}
	u.Machine = machineBusySeconds()
	return u
}

// sub is the CPU used between b and u.
func (u cpuUse) sub(b cpuUse) cpuUse {
	return cpuUse{RabbitMQ: u.RabbitMQ - b.RabbitMQ, Postgres: u.Postgres - b.Postgres, Machine: u.Machine - b.Machine}
}

// machineBusySeconds is the CPU time all CPUs have spent busy (not idle
// and not waiting for I/O) since boot.
func machineBusySeconds() float64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	fields := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal ...
	if len(fields) < 9 || fields[0] != "cpu" {
		return 0
	}
	var ticks float64
	for i, f := range fields[1:9] {
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		v, _ := strconv.ParseFloat(f, 64)
		ticks += v
	}
	return ticks / clockTicks
}
