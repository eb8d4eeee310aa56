package deploycheck

import (
	"errors"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	kjson "sigs.k8s.io/json"
)

// knownTypes maps apiVersion/kind to a fresh typed object. Anything else
// is refused: a manifest of a kind we do not know is a mistake here.
var knownTypes = map[string]func() any{
	"v1/ConfigMap":                           func() any { return &corev1.ConfigMap{} },
	"v1/Secret":                              func() any { return &corev1.Secret{} },
	"v1/Service":                             func() any { return &corev1.Service{} },
	"v1/ServiceAccount":                      func() any { return &corev1.ServiceAccount{} },
	"v1/Namespace":                           func() any { return &corev1.Namespace{} },
	"apps/v1/Deployment":                     func() any { return &appsv1.Deployment{} },
	"batch/v1/Job":                           func() any { return &batchv1.Job{} },
	"policy/v1/PodDisruptionBudget":          func() any { return &policyv1.PodDisruptionBudget{} },
	"autoscaling/v2/HorizontalPodAutoscaler": func() any { return &autoscalingv2.HorizontalPodAutoscaler{} },
	"networking.k8s.io/v1/NetworkPolicy":     func() any { return &networkingv1.NetworkPolicy{} },
	"keda.sh/v1alpha1/ScaledObject":          func() any { return &ScaledObject{} },
	"keda.sh/v1alpha1/TriggerAuthentication": func() any { return &TriggerAuthentication{} },
	"rabbitmq.com/v1beta1/RabbitmqCluster":   func() any { return &RabbitmqCluster{} },
	"postgresql.cnpg.io/v1/Cluster":          func() any { return &CNPGCluster{} },
}

// Decode turns a rendered object into its typed form, strictly: unknown
// fields, duplicate fields and case-mismatched field names are errors, as
// the API server's strict field validation reports them.
func Decode(o Object) (any, error) {
	newObj, ok := knownTypes[o.APIVersion+"/"+o.Kind]
	if !ok {
		return nil, fmt.Errorf("%s: unknown type %s %s", o, o.APIVersion, o.Kind)
	}
	obj := newObj()
	strictErrs, err := kjson.UnmarshalStrict(o.JSON, obj, kjson.DisallowUnknownFields)
	if err != nil {
		return nil, fmt.Errorf("%s: decode: %w", o, err)
	}
	if len(strictErrs) > 0 {
		return nil, fmt.Errorf("%s: %w", o, errors.Join(strictErrs...))
	}
	return obj, nil
}
