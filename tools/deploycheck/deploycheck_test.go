package deploycheck_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"

	"github.com/hopperq/hopper/tools/deploycheck"
)

const k8sRoot = "../../deployments/k8s"

// TestK8sOverlaysValid: every overlay renders, decodes strictly and
// follows the rules.
func TestK8sOverlaysValid(t *testing.T) {
	t.Parallel()
	results, err := deploycheck.ValidateK8s(k8sRoot)
	require.NoError(t, err)
	var names []string
	for _, r := range results {
		names = append(names, filepath.Base(r.Overlay))
		assert.Empty(t, r.Errors, r.Summary())
		assert.Greater(t, r.Objects, 20, r.Overlay)
	}
	assert.Subset(t, names, []string{"dev", "stage", "prod"})
}

// TestK8sOverlaysDiffer: the environments are isolated and sized apart.
func TestK8sOverlaysDiffer(t *testing.T) {
	t.Parallel()
	load := func(name string) *deploycheck.Set {
		set, errs := deploycheck.Load(filepath.Join(k8sRoot, "overlays", name))
		require.Empty(t, errs)
		return set
	}
	dev, prod, ops := load("dev"), load("prod"), load("prod-operators")

	gw := func(s *deploycheck.Set) (int32, string, string) {
		for _, d := range s.Deployments {
			if d.Name == "gateway" {
				return *d.Spec.Replicas, d.Namespace, d.Spec.Template.Spec.Containers[0].Resources.Limits.Memory().String()
			}
		}
		t.Fatalf("%s: no gateway", s.Name)
		return 0, "", ""
	}
	devReplicas, devNS, devMem := gw(dev)
	prodReplicas, prodNS, prodMem := gw(prod)
	assert.NotEqual(t, devNS, prodNS)
	assert.Less(t, devReplicas, prodReplicas)
	assert.NotEqual(t, devMem, prodMem)

	assert.Empty(t, dev.Scaled, "dev runs without KEDA: CPU autoscalers instead")
	assert.Len(t, prod.Scaled, 4)
	for _, so := range prod.Scaled {
		assert.Equal(t, "hopper-prod", so.Spec.Triggers[0].Metadata["vhostName"], so.Name)
		if so.Name == "maintenance-worker" {
			assert.Equal(t, int32(0), *so.Spec.MinReplicaCount, "the maintenance worker may scale to zero")
		}
	}

	quorum := false
	for _, cm := range ops.ConfigMaps {
		quorum = quorum || cm.Data["HOPPER_QUEUE_TYPE"] == "quorum"
	}
	assert.True(t, quorum, "the operator variant declares quorum queues")
}

// TestK8sValidateFails: each broken manifest is caught, by the rule that
// names the problem.
func TestK8sValidateFails(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		file    string
		old     string
		new     string
		wantErr string
	}{
		{"unknown field", "base/chat-worker.yaml", "revisionHistoryLimit: 5", "revisionHistoryLimit: 5\n  replicaz: 3", `unknown field "spec.replicaz"`},
		{"misspelt nested field", "base/gateway.yaml", "initialDelaySeconds: 10", "initialDelaySecond: 10", "unknown field"},
		{"no readiness probe", "base/document-worker.yaml", "readinessProbe:", "startupProbe:", "readinessProbe must GET /readyz"},
		{"no memory limit", "base/gateway.yaml", `limits: {cpu: 500m, memory: 128Mi}`, `limits: {cpu: 500m}`, "container migrate: no memory limit"},
		{"runs as root", "base/maintenance-worker.yaml", "runAsNonRoot: true", "runAsNonRoot: false", "runAsNonRoot is not set"},
		{"writable root fs", "base/gateway.yaml", "readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false", "readOnlyRootFilesystem must be true"},
		{"autoscaler on the wrong queue", "base/document-worker.yaml", "queueName: hopper.document", "queueName: hopper.chat", `scales on queue "hopper.chat"`},
		{"no autoscaler", "base/chat-worker.yaml", "kind: ScaledObject\nmetadata:\n  name: chat-worker", "kind: ScaledObject\nmetadata:\n  name: chat-worker-x\nspec:\n  scaleTargetRef: {name: nothing}\n  triggers: []\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: unused", "no autoscaler"},
		{"grace period too short", "base/maintenance-worker.yaml", "terminationGracePeriodSeconds: 40", "terminationGracePeriodSeconds: 20", "leaves no room for HOPPER_SHUTDOWN_GRACE"},
		{"committed secret", "base/keda-auth.yaml", "apiVersion: keda.sh/v1alpha1", "apiVersion: v1\nkind: Secret\nmetadata:\n  name: oops\nstringData: {password: hunter2}\n---\napiVersion: keda.sh/v1alpha1", "secrets are never committed"},
		{"metrics on loopback", "components/custom-worker/template/worker.yaml", `value: "0.0.0.0:9100"`, `value: "127.0.0.1:9100"`, "Deployment/leaderboard: HOPPER_METRICS_ADDR 127.0.0.1:9100 listens on 127.0.0.1 only"},
		{"no metrics address", "components/custom-worker/template/worker.yaml", "- name: HOPPER_METRICS_ADDR\n              value: \"0.0.0.0:9100\"\n", "", "Deployment/leaderboard: HOPPER_METRICS_ADDR is not set"},
		{"probes on another port", "base/chat-worker.yaml", `value: ":9101"`, `value: ":9111"`, "Deployment/chat-worker: readinessProbe GETs port metrics (9101), but HOPPER_METRICS_ADDR listens on 9111"},
		{"metrics port closed", "components/custom-worker/template/worker.yaml", "- {port: 9100, protocol: TCP}", "- {port: 9200, protocol: TCP}", "Deployment/leaderboard: NetworkPolicies isolate its pods and none admits port 9100"},
		{"worker on another vhost", "examples/leaderboard/worker-values.yaml", "vhost: hopper-prod", "vhost: /", `ScaledObjects read different RabbitMQ vhosts: "/" (leaderboard), "hopper-prod" (chat-worker, document-worker, maintenance-worker, push-worker)`},
		{"worker egress reaches the metadata service", "base/networkpolicies.yaml", "              - 169.254.0.0/16   # link-local: the metadata service 169.254.169.254\n", "",
			"Deployment/chat-worker: NetworkPolicy/hopper-workers-egress-providers egress[0]: ipBlock 0.0.0.0/0 does not except 169.254.169.254/32"},
		{"worker egress reaches the cluster", "base/networkpolicies.yaml", "              - 10.0.0.0/8\n", "", "ipBlock 0.0.0.0/0 does not except 10.0.0.0/8"},
		{"worker egress to any address", "base/networkpolicies.yaml", "    - to:\n        - ipBlock:\n            cidr: 0.0.0.0/0", "    - to:\n        - namespaceSelector: {}\n        - ipBlock:\n            cidr: 0.0.0.0/0",
			"reaches every pod of the selected namespaces on ports 443, 80, 587, 465"},
		{"worker egress into the cluster without a reason", "base/networkpolicies.yaml", `hopper.dev/egress-into-cluster: "push targets`, `hopper.dev/not-a-reason: "push targets`,
			"Deployment/push-worker: NetworkPolicy/push-worker-egress-targets egress[0] reaches every pod of the selected namespaces on ports 1024"},
		{"unknown kind", "base/keda-auth.yaml", "apiVersion: keda.sh/v1alpha1", "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n---\napiVersion: keda.sh/v1alpha1", "unknown type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			root := copyTree(t, k8sRoot)
			path := filepath.Join(root, tt.file)
			b, err := os.ReadFile(path)
			require.NoError(t, err)
			require.Contains(t, string(b), tt.old, "the mutation must apply")
			require.NoError(t, os.WriteFile(path, []byte(strings.Replace(string(b), tt.old, tt.new, 1)), 0o644))

			results, err := deploycheck.ValidateK8s(root)
			require.NoError(t, err)
			require.Positive(t, deploycheck.Failed(results))
			var all []string
			for _, r := range results {
				for _, e := range r.Errors {
					all = append(all, e.Error())
				}
			}
			assert.Contains(t, strings.Join(all, "\n"), tt.wantErr)
		})
	}
}

// TestCustomWorkerExample: components/custom-worker adds the leaderboard
// example to prod under its own name, image and queue, and leaves the
// rest of prod as it was.
func TestCustomWorkerExample(t *testing.T) {
	t.Parallel()
	prod, errs := deploycheck.Load(filepath.Join(k8sRoot, "overlays", "prod"))
	require.Empty(t, errs)
	objs, err := deploycheck.Render(filepath.Join(k8sRoot, "examples", "leaderboard"))
	require.NoError(t, err)
	set, errs := deploycheck.Load(filepath.Join(k8sRoot, "examples", "leaderboard"))
	require.Empty(t, errs)
	require.Empty(t, set.Check())

	var added []string
	for _, o := range objs {
		assert.NotContains(t, string(o.JSON), "custom-worker", "%s: a placeholder (or the values) left in the output", o)
		if o.Name == "leaderboard" {
			added = append(added, o.Kind)
		}
	}
	assert.ElementsMatch(t, []string{"ServiceAccount", "Deployment", "Service", "PodDisruptionBudget", "ScaledObject", "NetworkPolicy"}, added)
	assert.Equal(t, prod.Count+len(added), set.Count, "prod's objects, plus the worker's")

	var d *appsv1.Deployment
	for _, x := range set.Deployments {
		assert.Equal(t, "hopper", x.Namespace, x.Name)
		if x.Name == "leaderboard" {
			d = x
		}
	}
	require.NotNil(t, d)
	c := d.Spec.Template.Spec.Containers[0]
	assert.Equal(t, "hopper/leaderboard:0.1.0", c.Image)
	assert.Equal(t, "worker", d.Spec.Template.Labels["app.kubernetes.io/component"])
	assert.Equal(t, "hopper", d.Spec.Template.Labels["app.kubernetes.io/part-of"], "under the base's default-deny and egress policies")
	assert.Equal(t, "prod", d.Spec.Template.Labels["hopper.dev/environment"])
	env := map[string]string{}
	for _, e := range c.Env {
		env[e.Name] = e.Value
	}
	assert.Equal(t, "leaderboard", env["HOPPER_QUEUES"])
	assert.Equal(t, "0.0.0.0:9100", env["HOPPER_METRICS_ADDR"])
	require.Len(t, c.EnvFrom, 1)
	assert.True(t, strings.HasPrefix(c.EnvFrom[0].ConfigMapRef.Name, "hopper-config-"), "the overlay's generated hopper-config: %s", c.EnvFrom[0].ConfigMapRef.Name)

	for _, so := range set.Scaled {
		if so.Name == "leaderboard" {
			assert.Equal(t, "leaderboard", so.Spec.ScaleTargetRef.Name)
			assert.Equal(t, "hopper.leaderboard", so.Spec.Triggers[0].Metadata["queueName"])
			assert.Equal(t, "hopper-prod", so.Spec.Triggers[0].Metadata["vhostName"])
		}
	}
	grace, period, err := set.WorkerDrain("leaderboard")
	require.NoError(t, err)
	assert.GreaterOrEqual(t, period, grace+5*time.Second)
}

// TestWorkerDrainFitsGrace: the drain window the manifests give matches
// what TestManifestDrain (tools/e2e) runs the real binary with.
func TestWorkerDrainFitsGrace(t *testing.T) {
	t.Parallel()
	set, errs := deploycheck.Load(filepath.Join(k8sRoot, "overlays", "prod"))
	require.Empty(t, errs)
	for _, w := range []string{"chat-worker", "document-worker", "maintenance-worker"} {
		grace, period, err := set.WorkerDrain(w)
		require.NoError(t, err)
		assert.Equal(t, 25*time.Second, grace, w)
		assert.GreaterOrEqual(t, period, grace+5*time.Second, w)
	}
}

func copyTree(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.WalkDir(src, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	require.NoError(t, err)
	return dst
}
