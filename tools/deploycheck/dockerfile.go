package deploycheck

import (
	"bufio"
	"fmt"
	"os"
	"strings"
)

// Dockerfile is the shape of a Dockerfile that the checks read: its
// instructions, continuation lines joined, comments dropped.
type Dockerfile struct {
	Path         string
	Instructions []Instruction
}

// Instruction is one Dockerfile instruction.
type Instruction struct {
	Cmd  string // upper case: FROM, RUN, USER…
	Args string
}

// LoadDockerfile reads and splits a Dockerfile.
func LoadDockerfile(path string) (*Dockerfile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open dockerfile: %w", err)
	}
	defer func() { _ = f.Close() }()
	df := &Dockerfile{Path: path}
	var cur strings.Builder
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		cont := strings.HasSuffix(line, "\\")
		cur.WriteString(strings.TrimSuffix(line, "\\"))
		cur.WriteString(" ")
		if cont {
			continue
		}
		cmd, args, _ := strings.Cut(strings.TrimSpace(cur.String()), " ")
		df.Instructions = append(df.Instructions, Instruction{Cmd: strings.ToUpper(cmd), Args: strings.TrimSpace(args)})
		cur.Reset()
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return df, nil
}

// finalStage returns the instructions after the last FROM.
func (d *Dockerfile) finalStage() (from string, rest []Instruction) {
	for i := len(d.Instructions) - 1; i >= 0; i-- {
		if d.Instructions[i].Cmd == "FROM" {
			return d.Instructions[i].Args, d.Instructions[i+1:]
		}
	}
	return "", nil
}

// CheckDockerfile: multi-stage, a static binary, a non-root final stage
// with a healthcheck that runs the binary itself.
func CheckDockerfile(d *Dockerfile, binary string) []error {
	var errs []error
	add := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{d.Path}, args...)...))
	}
	froms := 0
	static := false
	for _, in := range d.Instructions {
		switch in.Cmd {
		case "FROM":
			froms++
		case "ENV":
			static = static || strings.Contains(in.Args, "CGO_ENABLED=0")
		}
	}
	if froms < 2 {
		add("not multi-stage (%d FROM)", froms)
	}
	if !static {
		add("the build does not set CGO_ENABLED=0 (a static binary)")
	}
	from, final := d.finalStage()
	if strings.Contains(from, "golang") {
		add("the final stage is the Go toolchain image")
	}
	var user, health, entry string
	for _, in := range final {
		switch in.Cmd {
		case "USER":
			user = in.Args
		case "HEALTHCHECK":
			health = in.Args
		case "ENTRYPOINT":
			entry = in.Args
		}
	}
	if user == "" || user == "root" || strings.HasPrefix(user, "0") {
		add("the final stage runs as root (USER %q)", user)
	}
	if !strings.Contains(health, binary) || !strings.Contains(health, "healthcheck") {
		add("HEALTHCHECK must run %s healthcheck (got %q)", binary, health)
	}
	if !strings.Contains(entry, binary) {
		add("ENTRYPOINT does not run %s", binary)
	}
	return errs
}
