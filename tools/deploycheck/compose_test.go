package deploycheck_test

import (
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hopperq/hopper/pkg/config"
	"github.com/hopperq/hopper/tools/deploycheck"
)

const composeDir = "../../deployments/compose"

var hopperServices = []string{"gateway", "chat-worker", "document-worker", "maintenance-worker"}

// exampleServices are worker services of one's own shipped as examples:
// compose service → module folder (its Dockerfile builds the binary of
// the same name).
var exampleServices = map[string]string{"leaderboard": "../../examples/leaderboard"}

// TestComposeStack: every service has an image and a healthcheck, starts
// after what it needs, and the Hopper services' environment is one their
// configuration accepts.
func TestComposeStack(t *testing.T) {
	t.Parallel()
	c, err := deploycheck.LoadCompose(filepath.Join(composeDir, "compose.yaml"))
	require.NoError(t, err)
	assert.Empty(t, deploycheck.CheckCompose(c, composeDir))

	require.Subset(t, keys(c.Services), append([]string{"rabbitmq", "postgres", "migrate", "nginx", "prometheus", "grafana"}, hopperServices...))
	assert.Contains(t, c.Services["rabbitmq"].Image, "rabbitmq:3.13-management")
	assert.Contains(t, c.Services["postgres"].Image, "postgres:16")
	assert.NotEmpty(t, c.Services["postgres"].Volumes, "Postgres keeps its data in a volume")
	require.NotNil(t, c.Services["gateway"].Deploy)
	assert.Equal(t, 2, c.Services["gateway"].Deploy.Replicas, "two gateways behind nginx")
	for _, s := range []string{"prometheus", "grafana"} {
		assert.Equal(t, []string{"monitoring"}, c.Services[s].Profiles, "%s is optional", s)
	}
	plugins, err := os.ReadFile(filepath.Join(composeDir, "rabbitmq", "enabled_plugins"))
	require.NoError(t, err)
	assert.Contains(t, string(plugins), "rabbitmq_management")
	assert.Contains(t, string(plugins), "rabbitmq_prometheus")

	order := deploycheck.StartOrder(c)
	before := func(a, b string) {
		assert.Less(t, slices.Index(order, a), slices.Index(order, b), "%s starts before %s (order %v)", a, b, order)
	}
	for _, s := range hopperServices {
		before("postgres", s)
		before("rabbitmq", s)
		before("migrate", s)
		assert.Equal(t, "service_completed_successfully", c.Services[s].DependsOn["migrate"].Condition, s)
		assert.True(t, c.Services[s].ReadOnly, "%s runs with a read-only root filesystem", s)
		assert.Contains(t, c.Services[s].Healthcheck.Test, "healthcheck", s)

		env := c.Services[s].Environment
		_, err := config.Load(s, func(k string) string { return os.Expand(env[k], composeDefault) })
		assert.NoError(t, err, "%s: compose environment", s)
	}
	before("gateway", "nginx")

	// The examples start only with their profile, after what they need,
	// with the workers' environment and a metrics address of their own.
	for s := range exampleServices {
		svc := c.Services[s]
		assert.Equal(t, []string{"examples"}, svc.Profiles, s)
		assert.True(t, svc.Worker(), s)
		before("migrate", s)
		assert.Equal(t, "service_completed_successfully", svc.DependsOn["migrate"].Condition, s)
		assert.True(t, svc.ReadOnly, s)
		assert.Equal(t, []string{"CMD", "/usr/local/bin/" + s, "healthcheck"}, svc.Healthcheck.Test, s)
		for k, v := range c.Services["maintenance-worker"].Environment {
			if k != "HOPPER_METRICS_ADDR" {
				assert.Equal(t, v, svc.Environment[k], "%s: %s as the built-in workers have it", s, k)
			}
		}
		cfg, err := config.Load(s, func(k string) string { return os.Expand(svc.Environment[k], composeDefault) })
		require.NoError(t, err, "%s: compose environment", s)
		assert.Equal(t, ":9100", cfg.MetricsAddr, s)
	}
}

// composeDefault expands ${VAR:-default} as compose does with VAR unset.
func composeDefault(v string) string {
	if _, def, ok := strings.Cut(v, ":-"); ok {
		return def
	}
	return ""
}

// TestComposeCheckFails: a broken compose file is caught.
func TestComposeCheckFails(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, old, new, wantErr string }{
		{"no healthcheck", `      test: ["CMD", "/usr/local/bin/chat-worker", "healthcheck"]`, `      disable: true`, "chat-worker: a long-running service needs a healthcheck"},
		{"waits on a service without healthcheck", "      gateway: {condition: service_healthy}\n\n  chat-worker", "      migrate: {condition: service_healthy}\n\n  chat-worker", "nginx: waits for migrate to be healthy"},
		{"worker without a metrics address", "      HOPPER_METRICS_ADDR: \":9100\"\n", "", "leaderboard: a worker needs HOPPER_METRICS_ADDR"},
		{"worker metrics on loopback", `HOPPER_METRICS_ADDR: ":9100"`, `HOPPER_METRICS_ADDR: "127.0.0.1:9100"`, "leaderboard: HOPPER_METRICS_ADDR 127.0.0.1:9100 listens on 127.0.0.1 only"},
		{"example without its Dockerfile", "dockerfile: examples/leaderboard/Dockerfile", "dockerfile: examples/leaderboard/Dockerfil", "leaderboard: build dockerfile examples/leaderboard/Dockerfil"},
		{"admin token with a default", "${HOPPER_ADMIN_TOKEN:?set", "${HOPPER_ADMIN_TOKEN:-local-admin-token-change-me}${X:?set",
			"HOPPER_ADMIN_TOKEN must be required from the environment"},
		{"unknown dependency", "      postgres: {condition: service_healthy}\n\n  gateway:", "      postgis: {condition: service_healthy}\n\n  gateway:", "depends on unknown service postgis"},
	}
	orig, err := os.ReadFile(filepath.Join(composeDir, "compose.yaml"))
	require.NoError(t, err)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Contains(t, string(orig), tt.old)
			c, err := deploycheckLoad(t, strings.Replace(string(orig), tt.old, tt.new, 1))
			require.NoError(t, err)
			var all []string
			for _, e := range deploycheck.CheckCompose(c, composeDir) {
				all = append(all, e.Error())
			}
			assert.Contains(t, strings.Join(all, "\n"), tt.wantErr)
		})
	}
}

func deploycheckLoad(t *testing.T, text string) (*deploycheck.Compose, error) {
	path := filepath.Join(t.TempDir(), "compose.yaml")
	require.NoError(t, os.WriteFile(path, []byte(text), 0o644))
	return deploycheck.LoadCompose(path)
}

// TestDockerfiles: one multi-stage, non-root Dockerfile per service with a
// healthcheck that runs the binary.
func TestDockerfiles(t *testing.T) {
	t.Parallel()
	for _, s := range hopperServices {
		df, err := deploycheck.LoadDockerfile(filepath.Join("../../services", s, "Dockerfile"))
		require.NoError(t, err)
		assert.Empty(t, deploycheck.CheckDockerfile(df, s))
	}
	for s, dir := range exampleServices {
		df, err := deploycheck.LoadDockerfile(filepath.Join(dir, "Dockerfile"))
		require.NoError(t, err)
		assert.Empty(t, deploycheck.CheckDockerfile(df, s))
	}
	df := &deploycheck.Dockerfile{Path: "broken", Instructions: []deploycheck.Instruction{{Cmd: "FROM", Args: "golang:1.26"}, {Cmd: "ENTRYPOINT", Args: "x"}}}
	assert.Len(t, deploycheck.CheckDockerfile(df, "gateway"), 6, "single stage, cgo, toolchain image, root, no healthcheck, wrong entrypoint")
}

// TestServicesBuildLikeTheImages runs each Dockerfile's build step outside
// Docker: the service module alone (GOWORK=off), static, read-only modules.
func TestServicesBuildLikeTheImages(t *testing.T) {
	t.Parallel()
	out := t.TempDir()
	dirs := map[string]string{}
	for _, s := range hopperServices {
		dirs[s] = filepath.Join("../../services", s)
	}
	maps.Copy(dirs, exampleServices)
	for _, s := range slices.Sorted(maps.Keys(dirs)) {
		t.Run(s, func(t *testing.T) {
			cmd := exec.Command("go", "build", "-mod=readonly", "-trimpath", "-o", filepath.Join(out, s), ".")
			cmd.Dir = dirs[s]
			cmd.Env = append(os.Environ(), "GOWORK=off", "CGO_ENABLED=0")
			b, err := cmd.CombinedOutput()
			require.NoError(t, err, "%s: %s", s, b)
		})
	}
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
