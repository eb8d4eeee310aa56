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
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("read stat of %d: %w", pid, err)
	}
	// Fields after the command name (which may hold spaces) start after ')'.
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	utime, _ := strconv.ParseFloat(fields[11], 64)
	stime, _ := strconv.ParseFloat(fields[12], 64)
	return (utime + stime) / clockTicks, nil
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
		comm, secs, ok := procCPU(pid)
		if !ok {
			continue
		}
		switch comm {
		case "beam.smp":
			u.RabbitMQ += secs
		case "postgres":
			u.Postgres += secs
		}
	}
	u.Machine = machineBusySeconds()
	return u
}

// sub is the CPU used between b and u.
func (u cpuUse) sub(b cpuUse) cpuUse {
	return cpuUse{RabbitMQ: u.RabbitMQ - b.RabbitMQ, Postgres: u.Postgres - b.Postgres, Machine: u.Machine - b.Machine}
}

// procCPU is a process's command name and its user+system CPU time with
// that of its reaped children.
func procCPU(pid int) (comm string, secs float64, ok bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", 0, false
	}
	s := string(b)
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || end < open || end+2 > len(s) {
		return "", 0, false
	}
	fields := strings.Fields(s[end+2:])
	if len(fields) < 15 {
		return "", 0, false
	}
	var ticks float64
	for _, f := range fields[11:15] { // utime, stime, cutime, cstime
		v, _ := strconv.ParseFloat(f, 64)
		ticks += v
	}
	return s[open+1 : end], ticks / clockTicks, true
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
