package deploycheck

import (
	"fmt"
	"net/netip"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// backendPorts are where a worker may go by port alone: DNS, Postgres,
// RabbitMQ (AMQP, AMQPS, management API). The database and the broker
// often sit at private addresses (a managed service, another namespace),
// so those ports stay open to them.
var backendPorts = map[int]bool{53: true, 5432: true, 5671: true, 5672: true, 15672: true}

// forbiddenEgress are the addresses a worker must not reach on any other
// port: a job's payload names the URLs it calls (webhooks, pages to
// fetch), so a worker open to these is an SSRF step into the cloud's
// metadata service (credentials) and the cluster's own services.
var forbiddenEgress = []netip.Prefix{
	netip.MustParsePrefix("169.254.169.254/32"),
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.168.0.0/16"),
}

// egressIntoClusterAnnotation on a NetworkPolicy says, with a reason as
// its value, that it admits a worker into the cluster on purpose (the push
// worker delivers to in-cluster targets its own allow-list names); its
// selector peers are then accepted. Its ipBlocks are checked all the
// same: the metadata service is no delivery target.
const egressIntoClusterAnnotation = "hopper.dev/egress-into-cluster"

// checkWorkerEgress: every Egress rule of a policy selecting a worker's
// pods that opens a port other than the backends' reaches only ipBlocks
// whose exceptions cover the metadata address and the private ranges, or
// pods named by labels (an in-cluster provider) — never any destination,
// nor every pod of a namespace.
func (s *Set) checkWorkerEgress(podLabels map[string]string, ref string) []error {
	var errs []error
	for _, np := range s.NetPolicies {
		sel, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
		if err != nil || !sel.Matches(labels.Set(podLabels)) || !policiesEgress(np) {
			continue
		}
		for i, rule := range np.Spec.Egress {
			if onlyBackendPorts(rule.Ports) {
				continue
			}
			where := fmt.Sprintf("%s: NetworkPolicy/%s egress[%d]", ref, np.Name, i)
			if len(rule.To) == 0 {
				errs = append(errs, fmt.Errorf("%s opens %s to every address, the metadata service (169.254.169.254) and cluster ranges included: "+
					"use ipBlock 0.0.0.0/0 with except [169.254.169.254/32, 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16]", where, portList(rule.Ports)))
				continue
			}
			for _, peer := range rule.To {
				if peer.IPBlock == nil {
					// Named pods (an in-cluster provider) are a choice;
					// every pod of a namespace, or of all, is the cluster.
					if strings.TrimSpace(np.Annotations[egressIntoClusterAnnotation]) != "" {
						continue
					}
					if peer.PodSelector == nil || (len(peer.PodSelector.MatchLabels) == 0 && len(peer.PodSelector.MatchExpressions) == 0) {
						errs = append(errs, fmt.Errorf("%s reaches every pod of the selected namespaces on %s: name the pods (podSelector with labels), "+
							"or say why with the annotation %s", where, portList(rule.Ports), egressIntoClusterAnnotation))
					}
					continue
				}
				if missing := uncovered(*peer.IPBlock); len(missing) > 0 {
					errs = append(errs, fmt.Errorf("%s: ipBlock %s does not except %s", where, peer.IPBlock.CIDR, strings.Join(missing, ", ")))
				}
			}
		}
	}
	return errs
}

func policiesEgress(np *networkingv1.NetworkPolicy) bool {
	for _, t := range np.Spec.PolicyTypes {
		if t == networkingv1.PolicyTypeEgress {
			return true
		}
	}
	return len(np.Spec.Egress) > 0 // the API server adds Egress then
}

func onlyBackendPorts(ports []networkingv1.NetworkPolicyPort) bool {
	if len(ports) == 0 {
		return false // every port
	}
	for _, p := range ports {
		if p.Port == nil || p.EndPort != nil || !backendPorts[containerPort(corev1.Container{}, *p.Port)] {
			return false
		}
	}
	return true
}

// uncovered lists the forbidden prefixes inside b's CIDR that no
// exception of b covers.
func uncovered(b networkingv1.IPBlock) []string {
	cidr, err := netip.ParsePrefix(b.CIDR)
	if err != nil {
		return []string{"(unparsable cidr " + b.CIDR + ")"}
	}
	var missing []string
	for _, f := range forbiddenEgress {
		if cidr.Addr().Is4() != f.Addr().Is4() || !cidr.Overlaps(f) {
			continue
		}
		covered := false
		for _, e := range b.Except {
			ex, err := netip.ParsePrefix(e)
			if err == nil && ex.Bits() <= f.Bits() && ex.Contains(f.Addr()) {
				covered = true
				break
			}
		}
		if !covered {
			missing = append(missing, f.String())
		}
	}
	return missing
}

func portList(ports []networkingv1.NetworkPolicyPort) string {
	if len(ports) == 0 {
		return "every port"
	}
	var out []string
	for _, p := range ports {
		if p.Port == nil {
			out = append(out, "every port")
			continue
		}
		out = append(out, p.Port.String())
	}
	return "ports " + strings.Join(out, ", ")
}
