package metrics_test

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hopperq/hopper/pkg/metrics"
)

// known lists every series name Hopper exports.
func known(t *testing.T) map[string]bool {
	m := metrics.New("test")
	names := map[string]bool{metrics.QueueWaitingJobs: true, metrics.QueueOldestWaitSeconds: true, metrics.QueueHeldJobs: true,
		metrics.QueueDepth: true, metrics.QueueConsumers: true}
	fqName := regexp.MustCompile(`fqName: "([a-z_]+)"`)
	v := reflect.ValueOf(m).Elem()
	for i := 0; i < v.NumField(); i++ {
		if !v.Type().Field(i).IsExported() || v.Type().Field(i).Name == "Registry" {
			continue
		}
		c, ok := v.Field(i).Interface().(prometheus.Collector)
		if !ok || v.Field(i).IsNil() {
			continue
		}
		ch := make(chan *prometheus.Desc, 64)
		c.Describe(ch)
		close(ch)
		for d := range ch {
			match := fqName.FindStringSubmatch(d.String())
			require.NotNil(t, match, d.String())
			names[match[1]] = true
		}
	}
	return names
}

// TestDashboardsAndAlertsUseRealMetrics fails when the Grafana dashboard or
// the alert rules name a series Hopper does not export.
func TestDashboardsAndAlertsUseRealMetrics(t *testing.T) {
	names := known(t)
	require.Contains(t, names, "hopper_jobs_finished_total")
	series := regexp.MustCompile(`hopper_[a-z_]+`)
	for _, file := range []string{"grafana-dashboard.json", "alerts.yaml"} {
		raw, err := os.ReadFile(filepath.Join("..", "..", "deployments", "monitoring", file))
		require.NoError(t, err)
		var used []string
		for _, s := range series.FindAllString(string(raw), -1) {
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				if base, ok := strings.CutSuffix(s, suffix); ok && names[base] {
					s = base
				}
			}
			if strings.HasPrefix(s, "hopper_") && s != "hopper" {
				used = append(used, s)
			}
		}
		sort.Strings(used)
		require.NotEmpty(t, used, file)
		for _, s := range used {
			assert.True(t, names[s], "%s uses %s, which Hopper does not export", file, s)
		}
	}
}
