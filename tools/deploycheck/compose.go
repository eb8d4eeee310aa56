package deploycheck

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Compose is the part of a compose file Hopper's checks read.
type Compose struct {
	Name     string                    `yaml:"name"`
	Services map[string]ComposeService `yaml:"services"`
	Volumes  map[string]any            `yaml:"volumes"`
}

// ComposeService is one service of the compose file.
type ComposeService struct {
	Image       string            `yaml:"image"`
	Build       *ComposeBuild     `yaml:"build"`
	Command     []string          `yaml:"command"`
	Environment map[string]string `yaml:"environment"`
	Healthcheck *struct {
		Test    []string `yaml:"test"`
		Disable bool     `yaml:"disable"`
	} `yaml:"healthcheck"`
	DependsOn map[string]struct {
		Condition string `yaml:"condition"`
	} `yaml:"depends_on"`
	Deploy *struct {
		Replicas int `yaml:"replicas"`
	} `yaml:"deploy"`
	Restart  string   `yaml:"restart"`
	Profiles []string `yaml:"profiles"`
	Volumes  []string `yaml:"volumes"`
	ReadOnly bool     `yaml:"read_only"`
}

// ComposeBuild is a service's build section.
type ComposeBuild struct {
	Context    string `yaml:"context"`
	Dockerfile string `yaml:"dockerfile"`
}

// LoadCompose parses a compose file (YAML anchors and merge keys resolved).
func LoadCompose(path string) (*Compose, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read compose file: %w", err)
	}
	var c Compose
	if err := yaml.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	return &c, nil
}

// OneShot reports whether a service runs once and exits (migrations).
func (s ComposeService) OneShot() bool { return s.Restart == "no" }

// Worker reports whether a service is a Hopper worker: it reaches the
// broker, runs on, and serves no API.
func (s ComposeService) Worker() bool {
	_, amqp := s.Environment["HOPPER_AMQP_URL"]
	_, api := s.Environment["HOPPER_HTTP_ADDR"]
	return amqp && !api && !s.OneShot()
}

// checkComposeWorker: a worker's health server listens on a fixed port on
// every interface (a service that is not built in otherwise picks a free
// loopback port), and its healthcheck asks the binary to probe it.
func checkComposeWorker(name string, svc ComposeService) []error {
	var errs []error
	addr := svc.Environment["HOPPER_METRICS_ADDR"]
	host, port, err := net.SplitHostPort(addr)
	switch {
	case addr == "":
		errs = append(errs, fmt.Errorf("%s: a worker needs HOPPER_METRICS_ADDR (e.g. \":9100\"): without it a service that is not built in serves /healthz on a free loopback port", name))
	case err != nil || port == "0" || port == "":
		errs = append(errs, fmt.Errorf("%s: HOPPER_METRICS_ADDR %q is not host:port with a fixed port", name, addr))
	case host != "" && host != "0.0.0.0" && host != "::":
		errs = append(errs, fmt.Errorf("%s: HOPPER_METRICS_ADDR %s listens on %s only: Prometheus reaches the container's address", name, addr, host))
	}
	if svc.Healthcheck != nil && !slices.Contains(svc.Healthcheck.Test, "healthcheck") {
		errs = append(errs, fmt.Errorf("%s: the healthcheck must run the binary's healthcheck subcommand (distroless has no curl), got %v", name, svc.Healthcheck.Test))
	}
	return errs
}

// checkComposeSecret: the admin token comes from the operator, required
// (${HOPPER_ADMIN_TOKEN:?message}, so compose refuses to start without
// it), never a value or default written in the file, which every reader
// of the repository would know.
func checkComposeSecret(name, v string) error {
	if v == "" {
		return nil
	}
	if !strings.HasPrefix(v, "${HOPPER_ADMIN_TOKEN:?") || !strings.HasSuffix(v, "}") {
		return fmt.Errorf("%s: HOPPER_ADMIN_TOKEN must be required from the environment (${HOPPER_ADMIN_TOKEN:?message}), not %q", name, v)
	}
	return nil
}

// CheckCompose checks images, healthchecks, the dependency order, the
// workers' metrics address and the files the compose file mounts; dir is
// the compose file's directory.
func CheckCompose(c *Compose, dir string) []error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	names := make([]string, 0, len(c.Services))
	for n := range c.Services {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		svc := c.Services[name]
		if svc.Image == "" {
			add("%s: no image", name)
		}
		if svc.Build != nil {
			df := filepath.Join(dir, svc.Build.Context, svc.Build.Dockerfile)
			if _, err := os.Stat(df); err != nil {
				add("%s: build dockerfile %s: %v", name, svc.Build.Dockerfile, err)
			}
		}
		hasHealth := svc.Healthcheck != nil && !svc.Healthcheck.Disable && len(svc.Healthcheck.Test) > 0
		if !svc.OneShot() && !hasHealth {
			add("%s: a long-running service needs a healthcheck", name)
		}
		for dep, cond := range svc.DependsOn {
			target, ok := c.Services[dep]
			switch {
			case !ok:
				add("%s: depends on unknown service %s", name, dep)
			case cond.Condition == "service_healthy" && (target.Healthcheck == nil || target.Healthcheck.Disable):
				add("%s: waits for %s to be healthy, but %s has no healthcheck", name, dep, dep)
			case cond.Condition == "service_completed_successfully" && !target.OneShot():
				add("%s: waits for %s to complete, but %s keeps running", name, dep, dep)
			case cond.Condition == "" || cond.Condition == "service_started":
				add("%s: depends on %s without waiting for it to be healthy or complete", name, dep)
			}
		}
		if svc.Worker() {
			errs = append(errs, checkComposeWorker(name, svc)...)
		}
		if err := checkComposeSecret(name, svc.Environment["HOPPER_ADMIN_TOKEN"]); err != nil {
			errs = append(errs, err)
		}
		for _, v := range svc.Volumes {
			src, _, _ := strings.Cut(v, ":")
			if strings.HasPrefix(src, ".") {
				if _, err := os.Stat(filepath.Join(dir, src)); err != nil {
					add("%s: mounts %s: %v", name, src, err)
				}
			}
		}
	}
	if cycle := dependencyCycle(c); cycle != "" {
		add("depends_on cycle: %s", cycle)
	}
	return errs
}

// StartOrder returns the services in an order compose may start them.
func StartOrder(c *Compose) []string {
	var order []string
	done := map[string]bool{}
	var visit func(string)
	visit = func(n string) {
		if done[n] {
			return
		}
		done[n] = true
		deps := make([]string, 0, len(c.Services[n].DependsOn))
		for d := range c.Services[n].DependsOn {
			deps = append(deps, d)
		}
		sort.Strings(deps)
		for _, d := range deps {
			visit(d)
		}
		order = append(order, n)
	}
	names := make([]string, 0, len(c.Services))
	for n := range c.Services {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		visit(n)
	}
	return order
}

func dependencyCycle(c *Compose) string {
	const (
		white = iota
		grey
		black
	)
	color := map[string]int{}
	var path []string
	var found string
	var visit func(string) bool
	visit = func(n string) bool {
		color[n] = grey
		path = append(path, n)
		for d := range c.Services[n].DependsOn {
			if color[d] == grey {
				found = strings.Join(append(path, d), " → ")
				return true
			}
			if color[d] == white && visit(d) {
				return true
			}
		}
		path = path[:len(path)-1]
		color[n] = black
		return false
	}
	for n := range c.Services {
		if color[n] == white && visit(n) {
			return found
		}
	}
	return ""
}
