package main

import (
	"os"
	"testing"
)

// TestTakeCPUFindsBrokerAndDatabase reads the CPU time of the RabbitMQ
// and Postgres every test run has, and of this process, from /proc.
func TestTakeCPUFindsBrokerAndDatabase(t *testing.T) {
	u := takeCPU()
	if u.RabbitMQ <= 0 || u.Postgres <= 0 || u.Machine <= 0 {
		t.Fatalf("takeCPU() = %+v, want RabbitMQ's, Postgres's and the machine's CPU time above 0", u)
	}
	burn := 0
	for i := range 20_000_000 {
		burn += i % 7
	}
	st, err := readProcStat(os.Getpid())
	if err != nil || st.comm == "" || st.own <= 0 {
		t.Fatalf("readProcStat(self) = %+v, %v (burn %d), want a name and CPU time above 0", st, err, burn)
	}
	if d := takeCPU().sub(u); d.Machine < 0 || d.Postgres < 0 || d.RabbitMQ < 0 {
		t.Fatalf("CPU went backwards: %+v", d)
	}
}
