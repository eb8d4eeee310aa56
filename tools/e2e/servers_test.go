package e2e

// How the fault suite (fault_test.go) stops and starts this machine's
// RabbitMQ and PostgreSQL, as root or as a user with sudo. The pure parts
// are tested in servers_unit_test.go without the fault build tag.

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// Where Debian and Ubuntu put rabbitmqctl: /usr/sbin (not on a non-root
// user's PATH) holds the wrapper that, run as root, switches to the
// rabbitmq user whose Erlang cookie the CLI needs.
var rabbitmqctlPaths = []string{"/usr/sbin/rabbitmqctl", "/usr/lib/rabbitmq/bin/rabbitmqctl"}

// asUser is argv run as user, from a process running as uid euid whose
// user name is self: as it is when it already runs as that user; through
// runuser when root; through sudo -n otherwise, which never prompts (a
// test cannot type a password) and fails at once when sudo would ask.
func asUser(euid int, self, user string, argv []string) []string {
	switch {
	case user == self || (user == "root" && euid == 0):
		return argv
	case euid == 0:
		return append([]string{"runuser", "-u", user, "--"}, argv...)
	case user == "root":
		return append([]string{"sudo", "-n", "--"}, argv...)
	default:
		return append([]string{"sudo", "-n", "-u", user, "--"}, argv...)
	}
}

// findRabbitmqctl is rabbitmqctl's path: the Debian wrapper in /usr/sbin
// first, then the PATH's, then the CLI itself in /usr/lib/rabbitmq/bin.
func findRabbitmqctl(lookPath func(string) (string, error), exists func(string) bool) (string, bool) {
	if exists(rabbitmqctlPaths[0]) {
		return rabbitmqctlPaths[0], true
	}
	if p, err := lookPath("rabbitmqctl"); err == nil {
		return p, true
	}
	if exists(rabbitmqctlPaths[1]) {
		return rabbitmqctlPaths[1], true
	}
	return "", false
}

// newestVersion is the highest PostgreSQL major version among dirs (names
// under /etc/postgresql: "15", "16", "9.6"), compared as numbers.
func newestVersion(dirs []string) (string, bool) {
	num := func(v string) float64 {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return -1
		}
		return f
	}
	best := ""
	for _, d := range dirs {
		if num(d) >= 0 && (best == "" || num(d) > num(best)) {
			best = d
		}
	}
	return best, best != ""
}

// serverControl runs the commands that stop and start the local servers.
type serverControl struct {
	rabbitmqctl []string // argv prefix: rabbitmqctl, as root
	pgctl       []string // argv prefix: pg_ctlcluster … <version> main, as the cluster's owner
}

var (
	serversOnce sync.Once
	servers     *serverControl
	serversErr  error
)

// localServers finds how to control this machine's RabbitMQ and
// PostgreSQL, once. Its error says in one message why the fault suite
// cannot, and what would let it.
func localServers() (*serverControl, error) {
	serversOnce.Do(func() { servers, serversErr = findServerControl() })
	return servers, serversErr
}

func findServerControl() (*serverControl, error) {
	const why = "the fault suite stops and starts this machine's RabbitMQ and PostgreSQL (the ones scripts/deps.sh installs)"
	euid := os.Geteuid()
	self := ""
	if u, err := user.Current(); err == nil {
		self = u.Username
	}
	var problems []string

	ctl, ok := findRabbitmqctl(exec.LookPath, func(p string) bool { _, err := os.Stat(p); return err == nil })
	if !ok {
		problems = append(problems, "rabbitmqctl is neither on PATH nor in "+strings.Join(rabbitmqctlPaths, " or ")+
			" (a RabbitMQ in Docker cannot be restarted by it)")
	}
	var version, owner string
	entries, err := os.ReadDir("/etc/postgresql")
	var versions []string
	for _, e := range entries {
		if _, err := os.Stat(filepath.Join("/etc/postgresql", e.Name(), "main", "postgresql.conf")); err == nil {
			versions = append(versions, e.Name())
		}
	}
	if version, ok = newestVersion(versions); !ok {
		problems = append(problems, fmt.Sprintf("no local PostgreSQL cluster <version>/main under /etc/postgresql (%v; a PostgreSQL in Docker cannot be restarted by pg_ctlcluster)", err))
	} else {
		owner, err = fileOwner(filepath.Join("/etc/postgresql", version, "main", "postgresql.conf"))
		if err != nil {
			problems = append(problems, err.Error())
		}
	}
	if _, err := exec.LookPath("pg_ctlcluster"); err != nil {
		problems = append(problems, "pg_ctlcluster is not on PATH (postgresql-common)")
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("%s, and cannot: %s", why, strings.Join(problems, "; "))
	}

	c := &serverControl{
		rabbitmqctl: asUser(euid, self, "root", []string{ctl}),
		pgctl:       asUser(euid, self, owner, []string{"pg_ctlcluster", "--skip-systemctl-redirect", version, "main"}),
	}
	// Without root, sudo must let this user run both without a password.
	for _, prefix := range [][]string{c.rabbitmqctl, c.pgctl} {
		probe, ok := sudoProbe(prefix)
		if !ok {
			continue
		}
		if _, err := exec.LookPath("sudo"); err != nil {
			return nil, fmt.Errorf("%s, which needs root or sudo, and sudo is not installed: run the tests as root, or install sudo and give %s sudo rights", why, self)
		}
		if out, err := command(probe).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("%s, which needs root or sudo, and `%s` failed (%v: %s): run `sudo -v` just before the tests, or run them as root",
				why, strings.Join(probe, " "), err, strings.TrimSpace(string(out)))
		}
	}
	return c, nil
}

// sudoProbe is the command checking that sudo runs prefix (one asUser
// made) without asking for a password: the same sudo options, running
// true. Not ok when prefix does not use sudo.
func sudoProbe(prefix []string) ([]string, bool) {
	i := slices.Index(prefix, "--")
	if len(prefix) == 0 || prefix[0] != "sudo" || i < 0 {
		return nil, false
	}
	return append(slices.Clone(prefix[:i+1]), "true"), true
}

// fileOwner is the name of the user owning path.
func fileOwner(path string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return "", fmt.Errorf("%s: no owner", path)
	}
	u, err := user.LookupId(strconv.Itoa(int(st.Uid)))
	if err != nil {
		return "", fmt.Errorf("owner of %s: %w", path, err)
	}
	return u.Username, nil
}

// command is argv run from /: a server's own user may not be allowed into
// the current directory (postgres in /root/…).
func command(argv []string) *exec.Cmd {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = "/"
	return cmd
}

// rabbitctl runs rabbitmqctl args and returns its output.
func rabbitctl(args ...string) (string, error) {
	s, err := localServers()
	if err != nil {
		return "", err
	}
	argv := append(slices.Clone(s.rabbitmqctl), args...)
	out, err := command(argv).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s: %v: %s", strings.Join(argv, " "), err, out)
	}
	return string(out), nil
}

// pgctl runs pg_ctlcluster action (start, stop, restart) on the local
// cluster.
func pgctl(action string) error {
	s, err := localServers()
	if err != nil {
		return err
	}
	argv := append(slices.Clone(s.pgctl), action)
	if out, err := command(argv).CombinedOutput(); err != nil {
		return fmt.Errorf("%s: %v: %s", strings.Join(argv, " "), err, out)
	}
	return nil
}
