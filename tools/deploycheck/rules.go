package deploycheck

import (
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// drainMargin is what a worker needs past HOPPER_SHUTDOWN_GRACE to release
// unfinished jobs and close its connections before SIGKILL.
const drainMargin = 5 * time.Second

// workerLabel marks the Deployments that consume a queue.
const workerLabel = "app.kubernetes.io/component"

// Set is one rendered overlay, decoded.
type Set struct {
	Name        string
	Deployments []*appsv1.Deployment
	Jobs        []*batchv1.Job
	ConfigMaps  map[string]*corev1.ConfigMap
	Secrets     []*corev1.Secret
	Services    []*corev1.Service
	PDBs        []*policyv1.PodDisruptionBudget
	HPAs        []*autoscalingv2.HorizontalPodAutoscaler
	Scaled      []*ScaledObject
	TriggerAuth map[string]*TriggerAuthentication
	NetPolicies []*networkingv1.NetworkPolicy
	Count       int
}

// Load renders dir and decodes every object; decode errors are returned
// together so one run shows every problem.
func Load(dir string) (*Set, []error) {
	objs, err := Render(dir)
	if err != nil {
		return nil, []error{err}
	}
	s := &Set{Name: dir, ConfigMaps: map[string]*corev1.ConfigMap{}, TriggerAuth: map[string]*TriggerAuthentication{}, Count: len(objs)}
	var errs []error
	for _, o := range objs {
		typed, err := Decode(o)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		switch t := typed.(type) {
		case *appsv1.Deployment:
			s.Deployments = append(s.Deployments, t)
		case *batchv1.Job:
			s.Jobs = append(s.Jobs, t)
		case *corev1.ConfigMap:
			s.ConfigMaps[t.Name] = t
		case *corev1.Secret:
			s.Secrets = append(s.Secrets, t)
		case *corev1.Service:
			s.Services = append(s.Services, t)
		case *policyv1.PodDisruptionBudget:
			s.PDBs = append(s.PDBs, t)
		case *autoscalingv2.HorizontalPodAutoscaler:
			s.HPAs = append(s.HPAs, t)
		case *ScaledObject:
			s.Scaled = append(s.Scaled, t)
		case *TriggerAuthentication:
			s.TriggerAuth[t.Name] = t
		case *networkingv1.NetworkPolicy:
			s.NetPolicies = append(s.NetPolicies, t)
		}
	}
	return s, errs
}

// Check applies Hopper's rules to a decoded set.
func (s *Set) Check() []error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	for _, sec := range s.Secrets {
		add("Secret/%s: secrets are never committed; reference hopper-secrets instead", sec.Name)
	}
	if len(s.Deployments) == 0 {
		add("no Deployments rendered")
	}
	for _, d := range s.Deployments {
		ref := "Deployment/" + d.Name
		errs = append(errs, checkPod(ref, &d.Spec.Template.Spec, true)...)
		if !s.hasPDB(d) {
			add("%s: no PodDisruptionBudget selects its pods", ref)
		}
		if len(d.Spec.Template.Spec.TopologySpreadConstraints) == 0 {
			add("%s: no topologySpreadConstraints", ref)
		}
		if d.Spec.Template.Labels[workerLabel] == "worker" {
			errs = append(errs, s.checkWorker(d)...)
			errs = append(errs, s.checkWorkerEgress(d.Spec.Template.Labels, ref)...)
		} else if !s.hasHPA(d.Name) {
			add("%s: no HorizontalPodAutoscaler targets it", ref)
		}
	}
	for _, j := range s.Jobs {
		errs = append(errs, checkPod("Job/"+j.Name, &j.Spec.Template.Spec, false)...)
	}
	for _, so := range s.Scaled {
		for _, tr := range so.Spec.Triggers {
			if tr.AuthenticationRef != nil && s.TriggerAuth[tr.AuthenticationRef.Name] == nil {
				add("ScaledObject/%s: authenticationRef %q names no TriggerAuthentication", so.Name, tr.AuthenticationRef.Name)
			}
		}
	}
	errs = append(errs, s.checkVhosts()...)
	for _, svc := range s.Services {
		if !s.selectsDeployment(svc.Spec.Selector) {
			add("Service/%s: selector %v matches no Deployment", svc.Name, svc.Spec.Selector)
		}
	}
	return errs
}

// checkPod: probes (long-running pods only), requests and limits, and a
// non-root, read-only, unprivileged security context on every container.
func checkPod(ref string, pod *corev1.PodSpec, serving bool) []error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(ref+": "+format, args...)) }
	psc := pod.SecurityContext
	podNonRoot := psc != nil && psc.RunAsNonRoot != nil && *psc.RunAsNonRoot
	if psc != nil && psc.RunAsUser != nil && *psc.RunAsUser == 0 {
		add("runs as uid 0")
	}
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		add("automountServiceAccountToken is not false (no Hopper service talks to the API server)")
	}
	all := append(append([]corev1.Container{}, pod.InitContainers...), pod.Containers...)
	for i, c := range all {
		cref := "container " + c.Name
		isInit := i < len(pod.InitContainers)
		if serving && !isInit {
			if c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz" {
				add("%s: readinessProbe must GET /readyz", cref)
			}
			if c.LivenessProbe == nil || c.LivenessProbe.HTTPGet == nil || c.LivenessProbe.HTTPGet.Path != "/healthz" {
				add("%s: livenessProbe must GET /healthz", cref)
			}
		}
		for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			if _, ok := c.Resources.Requests[r]; !ok {
				add("%s: no %s request", cref, r)
			}
			if _, ok := c.Resources.Limits[r]; !ok {
				add("%s: no %s limit", cref, r)
			}
		}
		if req, lim := c.Resources.Requests.Memory(), c.Resources.Limits.Memory(); req != nil && lim != nil && !lim.IsZero() && req.Cmp(*lim) > 0 {
			add("%s: memory request %s above limit %s", cref, req, lim)
		}
		sc := c.SecurityContext
		nonRoot := podNonRoot || (sc != nil && sc.RunAsNonRoot != nil && *sc.RunAsNonRoot)
		if !nonRoot {
			add("%s: runAsNonRoot is not set", cref)
		}
		if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			add("%s: allowPrivilegeEscalation must be false", cref)
		}
		if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			add("%s: readOnlyRootFilesystem must be true", cref)
		}
		if sc != nil && sc.Privileged != nil && *sc.Privileged {
			add("%s: privileged", cref)
		}
		if sc == nil || sc.Capabilities == nil || !dropsAll(sc.Capabilities.Drop) {
			add("%s: capabilities must drop ALL", cref)
		}
	}
	return errs
}

func dropsAll(caps []corev1.Capability) bool {
	for _, c := range caps {
		if c == "ALL" {
			return true
		}
	}
	return false
}

// checkWorker: an autoscaler on this worker's own queue, and a drain that
// fits the termination grace period.
func (s *Set) checkWorker(d *appsv1.Deployment) []error {
	var errs []error
	ref := "Deployment/" + d.Name
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(ref+": "+format, args...)) }
	if len(d.Spec.Template.Spec.Containers) == 0 {
		return []error{fmt.Errorf("%s: no containers", ref)}
	}
	c := d.Spec.Template.Spec.Containers[0]
	prefix := s.envValue(c, "HOPPER_AMQP_PREFIX", "hopper")
	queues := s.envValue(c, "HOPPER_QUEUES", "")
	if queues == "" {
		add("HOPPER_QUEUES is not set: say which queue this worker consumes")
	}
	want := map[string]bool{}
	for _, q := range strings.Split(queues, ",") {
		name, _, _ := strings.Cut(strings.TrimSpace(q), "=")
		if name != "" {
			want[prefix+"."+name] = true
		}
	}

	so := s.scaledObjectFor(d.Name)
	switch {
	case so != nil:
		found := false
		for _, tr := range so.Spec.Triggers {
			if tr.Type != "rabbitmq" {
				continue
			}
			q := tr.Metadata["queueName"]
			if !want[q] {
				add("ScaledObject/%s scales on queue %q, but the worker consumes %v", so.Name, q, keys(want))
			}
			if tr.Metadata["protocol"] != "http" {
				add("ScaledObject/%s: rabbitmq trigger must use protocol http (the management API counts unacked messages)", so.Name)
			}
			if tr.AuthenticationRef == nil {
				add("ScaledObject/%s: rabbitmq trigger has no authenticationRef", so.Name)
			}
			found = true
		}
		if !found {
			add("ScaledObject/%s has no rabbitmq trigger", so.Name)
		}
	case s.hasHPA(d.Name):
	default:
		add("no autoscaler: neither a KEDA ScaledObject nor a HorizontalPodAutoscaler targets it")
	}

	errs = append(errs, s.checkMetrics(d, c)...)

	grace, err := time.ParseDuration(s.envValue(c, "HOPPER_SHUTDOWN_GRACE", "25s"))
	if err != nil {
		add("HOPPER_SHUTDOWN_GRACE: %v", err)
		return errs
	}
	period := 30 * time.Second // Kubernetes' default
	if p := d.Spec.Template.Spec.TerminationGracePeriodSeconds; p != nil {
		period = time.Duration(*p) * time.Second
	}
	if grace+drainMargin > period {
		add("terminationGracePeriodSeconds %s leaves no room for HOPPER_SHUTDOWN_GRACE %s + %s to release jobs", period, grace, drainMargin)
	}
	return errs
}

// checkMetrics: the worker's health server listens where the kubelet and
// Prometheus reach it. A service that is not built in listens on a free
// loopback port unless HOPPER_METRICS_ADDR says otherwise, so a worker
// must set it, on every interface, on the port its probes GET; the
// scrape annotation and the NetworkPolicies must agree with that port.
func (s *Set) checkMetrics(d *appsv1.Deployment, c corev1.Container) []error {
	var errs []error
	ref := "Deployment/" + d.Name
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(ref+": "+format, args...)) }
	addr := s.envValue(c, "HOPPER_METRICS_ADDR", "")
	if addr == "" {
		return []error{fmt.Errorf("%s: HOPPER_METRICS_ADDR is not set: a worker service that is not built in serves /healthz on a loopback port the probes cannot reach (set :<port>)", ref)}
	}
	host, portText, err := net.SplitHostPort(addr)
	port, perr := strconv.Atoi(portText)
	if err != nil || perr != nil || port <= 0 || port > 65535 {
		return []error{fmt.Errorf("%s: HOPPER_METRICS_ADDR %q is not host:port with a fixed port", ref, addr)}
	}
	if host != "" && host != "0.0.0.0" && host != "::" {
		add("HOPPER_METRICS_ADDR %s listens on %s only: the probes and Prometheus reach the pod's IP (use :%d)", addr, host, port)
	}
	for name, p := range map[string]*corev1.Probe{"readinessProbe": c.ReadinessProbe, "livenessProbe": c.LivenessProbe} {
		if p == nil || p.HTTPGet == nil {
			continue
		}
		if got := containerPort(c, p.HTTPGet.Port); got != port {
			add("%s GETs port %s (%d), but HOPPER_METRICS_ADDR listens on %d", name, p.HTTPGet.Port.String(), got, port)
		}
	}
	if a, ok := d.Spec.Template.Annotations["prometheus.io/port"]; ok && a != portText {
		add("annotation prometheus.io/port %q, but HOPPER_METRICS_ADDR listens on %d", a, port)
	}
	if !s.ingressAllowed(d.Spec.Template.Labels, c, port) {
		add("NetworkPolicies isolate its pods and none admits port %d (its metrics): Prometheus cannot scrape it", port)
	}
	return errs
}

// containerPort resolves a probe's port, by number or by name.
func containerPort(c corev1.Container, p intstr.IntOrString) int {
	if p.Type == intstr.Int {
		return p.IntValue()
	}
	for _, cp := range c.Ports {
		if cp.Name == p.StrVal {
			return int(cp.ContainerPort)
		}
	}
	return 0
}

// ingressAllowed reports whether traffic to port reaches pods labelled
// podLabels, as Kubernetes decides: open unless an Ingress policy selects
// them, then only through a rule that admits the port.
func (s *Set) ingressAllowed(podLabels map[string]string, c corev1.Container, port int) bool {
	isolated := false
	for _, np := range s.NetPolicies {
		sel, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
		if err != nil || !sel.Matches(labels.Set(podLabels)) || !policiesIngress(np) {
			continue
		}
		isolated = true
		for _, rule := range np.Spec.Ingress {
			if len(rule.Ports) == 0 {
				return true
			}
			for _, rp := range rule.Ports {
				if rp.Port == nil {
					return true
				}
				lo := containerPort(c, *rp.Port)
				hi := lo
				if rp.EndPort != nil {
					hi = int(*rp.EndPort)
				}
				if lo <= port && port <= hi {
					return true
				}
			}
		}
	}
	return !isolated
}

func policiesIngress(np *networkingv1.NetworkPolicy) bool {
	if len(np.Spec.PolicyTypes) == 0 {
		return true // the API server defaults to Ingress
	}
	for _, t := range np.Spec.PolicyTypes {
		if t == networkingv1.PolicyTypeIngress {
			return true
		}
	}
	return false
}

// checkVhosts: every rabbitmq trigger of a set reads one vhost, the one
// hopper-secrets' amqp-url names; a worker added to an overlay that kept
// the base's "/" would scale on a queue nobody uses.
func (s *Set) checkVhosts() []error {
	seen := map[string][]string{}
	for _, so := range s.Scaled {
		for _, tr := range so.Spec.Triggers {
			if tr.Type == "rabbitmq" {
				v := tr.Metadata["vhostName"]
				seen[v] = append(seen[v], so.Name)
			}
		}
	}
	if len(seen) < 2 {
		return nil
	}
	var parts []string
	for v, names := range seen {
		parts = append(parts, fmt.Sprintf("%q (%s)", v, strings.Join(names, ", ")))
	}
	sort.Strings(parts)
	return []error{fmt.Errorf("ScaledObjects read different RabbitMQ vhosts: %s; one overlay has one vhost, the one in hopper-secrets' amqp-url", strings.Join(parts, ", "))}
}

// WorkerDrain returns a worker Deployment's HOPPER_SHUTDOWN_GRACE and
// terminationGracePeriodSeconds, for the test that drains the real binary.
func (s *Set) WorkerDrain(name string) (grace, period time.Duration, err error) {
	for _, d := range s.Deployments {
		if d.Name != name || len(d.Spec.Template.Spec.Containers) == 0 {
			continue
		}
		grace, err = time.ParseDuration(s.envValue(d.Spec.Template.Spec.Containers[0], "HOPPER_SHUTDOWN_GRACE", "25s"))
		if err != nil {
			return 0, 0, fmt.Errorf("HOPPER_SHUTDOWN_GRACE: %w", err)
		}
		period = 30 * time.Second
		if p := d.Spec.Template.Spec.TerminationGracePeriodSeconds; p != nil {
			period = time.Duration(*p) * time.Second
		}
		return grace, period, nil
	}
	return 0, 0, fmt.Errorf("no Deployment %q", name)
}

// envValue resolves a container variable the way the kubelet does: env
// wins over envFrom ConfigMaps.
func (s *Set) envValue(c corev1.Container, name, def string) string {
	for _, e := range c.Env {
		if e.Name == name && e.ValueFrom == nil {
			return e.Value
		}
	}
	for _, from := range c.EnvFrom {
		if from.ConfigMapRef == nil {
			continue
		}
		if cm := s.ConfigMaps[from.ConfigMapRef.Name]; cm != nil {
			if v, ok := cm.Data[name]; ok {
				return v
			}
		}
	}
	return def
}

func (s *Set) scaledObjectFor(name string) *ScaledObject {
	for _, so := range s.Scaled {
		if so.Spec.ScaleTargetRef.Name == name {
			return so
		}
	}
	return nil
}

func (s *Set) hasHPA(name string) bool {
	for _, h := range s.HPAs {
		if h.Spec.ScaleTargetRef.Kind == "Deployment" && h.Spec.ScaleTargetRef.Name == name {
			return true
		}
	}
	return false
}

func (s *Set) hasPDB(d *appsv1.Deployment) bool {
	for _, p := range s.PDBs {
		sel, err := metav1.LabelSelectorAsSelector(p.Spec.Selector)
		if err == nil && !sel.Empty() && sel.Matches(labels.Set(d.Spec.Template.Labels)) {
			return true
		}
	}
	return false
}

func (s *Set) selectsDeployment(selector map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	sel := labels.SelectorFromSet(selector)
	for _, d := range s.Deployments {
		if sel.Matches(labels.Set(d.Spec.Template.Labels)) {
			return true
		}
	}
	return false
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
