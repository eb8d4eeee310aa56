package e2e

import (
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestAsUser: the fault suite's server commands run as they are when the
// process already is the user they need, through runuser as root, and
// through sudo -n (never a password prompt) otherwise.
func TestAsUser(t *testing.T) {
	t.Parallel()
	argv := []string{"pg_ctlcluster", "--skip-systemctl-redirect", "16", "main", "restart"}
	tests := []struct {
		name       string
		euid       int
		self, user string
		want       []string
	}{
		{"root needing root", 0, "root", "root", argv},
		{"root needing the cluster owner", 0, "root", "postgres", append([]string{"runuser", "-u", "postgres", "--"}, argv...)},
		{"the cluster owner itself", 101, "postgres", "postgres", argv},
		{"a user needing root", 1000, "ada", "root", append([]string{"sudo", "-n", "--"}, argv...)},
		{"a user needing the cluster owner", 1000, "ada", "postgres", append([]string{"sudo", "-n", "-u", "postgres", "--"}, argv...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.want, asUser(tt.euid, tt.self, tt.user, slices.Clone(argv)))
		})
	}
}

// TestSudoProbe: without root, the suite first checks that sudo runs
// as the same user without a password, with `true`.
func TestSudoProbe(t *testing.T) {
	t.Parallel()
	probe, ok := sudoProbe([]string{"sudo", "-n", "-u", "postgres", "--", "pg_ctlcluster", "16", "main"})
	assert.True(t, ok)
	assert.Equal(t, []string{"sudo", "-n", "-u", "postgres", "--", "true"}, probe)
	probe, ok = sudoProbe([]string{"sudo", "-n", "--", "/usr/sbin/rabbitmqctl"})
	assert.True(t, ok)
	assert.Equal(t, []string{"sudo", "-n", "--", "true"}, probe)
	_, ok = sudoProbe([]string{"runuser", "-u", "postgres", "--", "pg_ctlcluster"})
	assert.False(t, ok, "root needs no sudo")
	_, ok = sudoProbe([]string{"/usr/sbin/rabbitmqctl"})
	assert.False(t, ok)
}

// TestFindRabbitmqctl: Debian's wrapper in /usr/sbin (off a user's PATH)
// wins, then the PATH's, then the CLI in /usr/lib/rabbitmq/bin.
func TestFindRabbitmqctl(t *testing.T) {
	t.Parallel()
	onPath := func(string) (string, error) { return "/opt/rabbitmq/sbin/rabbitmqctl", nil }
	notOnPath := func(string) (string, error) { return "", exec.ErrNotFound }
	only := func(paths ...string) func(string) bool {
		return func(p string) bool { return slices.Contains(paths, p) }
	}
	got, ok := findRabbitmqctl(notOnPath, only("/usr/sbin/rabbitmqctl", "/usr/lib/rabbitmq/bin/rabbitmqctl"))
	assert.True(t, ok)
	assert.Equal(t, "/usr/sbin/rabbitmqctl", got)
	got, _ = findRabbitmqctl(onPath, only("/usr/lib/rabbitmq/bin/rabbitmqctl"))
	assert.Equal(t, "/opt/rabbitmq/sbin/rabbitmqctl", got)
	got, _ = findRabbitmqctl(notOnPath, only("/usr/lib/rabbitmq/bin/rabbitmqctl"))
	assert.Equal(t, "/usr/lib/rabbitmq/bin/rabbitmqctl", got)
	_, ok = findRabbitmqctl(notOnPath, only())
	assert.False(t, ok)
}

// TestNewestVersion: PostgreSQL majors compare as numbers (9.6 < 15 <
// 16), not as strings.
func TestNewestVersion(t *testing.T) {
	t.Parallel()
	v, ok := newestVersion([]string{"9.6", "16", "15"})
	assert.True(t, ok)
	assert.Equal(t, "16", v)
	_, ok = newestVersion([]string{"README", ""})
	assert.False(t, ok)
}

// TestServerControlWorksHere: on a machine whose servers the fault suite
// can control, the commands it built run (read-only status queries; the
// suite's stops and restarts use the same prefixes).
func TestServerControlWorksHere(t *testing.T) {
	t.Parallel()
	s, err := localServers()
	if err != nil {
		t.Skipf("the fault suite will fail on this machine: %v", err)
	}
	out, err := rabbitctl("status")
	require.NoError(t, err)
	assert.Contains(t, out, "Status of node")
	argv := append(slices.Clone(s.pgctl), "status")
	b, err := command(argv).CombinedOutput()
	require.NoError(t, err, "%s: %s", strings.Join(argv, " "), b)
	assert.Contains(t, string(b), "server is running")
}
