package deploycheck

import (
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The custom resources Hopper ships, typed as far as our manifests use
// them, so strict decoding catches a misspelt field in them too. Their
// full Go types live in large operator modules (KEDA, the RabbitMQ and
// CloudNativePG operators) not worth importing for a check; field names
// follow their v1 CRDs.

// ScaledObject is KEDA's keda.sh/v1alpha1 ScaledObject.
type ScaledObject struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              ScaledObjectSpec `json:"spec"`
}

// ScaledObjectSpec is the part of KEDA's spec Hopper sets.
type ScaledObjectSpec struct {
	ScaleTargetRef  ScaleTarget    `json:"scaleTargetRef"`
	MinReplicaCount *int32         `json:"minReplicaCount,omitempty"`
	MaxReplicaCount *int32         `json:"maxReplicaCount,omitempty"`
	PollingInterval *int32         `json:"pollingInterval,omitempty"`
	CooldownPeriod  *int32         `json:"cooldownPeriod,omitempty"`
	Advanced        *KedaAdvanced  `json:"advanced,omitempty"`
	Triggers        []ScaleTrigger `json:"triggers"`
}

// ScaleTarget names the scaled Deployment.
type ScaleTarget struct {
	Name       string `json:"name"`
	Kind       string `json:"kind,omitempty"`
	APIVersion string `json:"apiVersion,omitempty"`
}

// KedaAdvanced carries the HPA behaviour KEDA passes through.
type KedaAdvanced struct {
	HorizontalPodAutoscalerConfig *struct {
		Behavior *autoscalingv2.HorizontalPodAutoscalerBehavior `json:"behavior,omitempty"`
	} `json:"horizontalPodAutoscalerConfig,omitempty"`
}

// ScaleTrigger is one KEDA trigger.
type ScaleTrigger struct {
	Type              string            `json:"type"`
	Name              string            `json:"name,omitempty"`
	Metadata          map[string]string `json:"metadata"`
	AuthenticationRef *struct {
		Name string `json:"name"`
		Kind string `json:"kind,omitempty"`
	} `json:"authenticationRef,omitempty"`
}

// TriggerAuthentication is KEDA's keda.sh/v1alpha1 TriggerAuthentication.
type TriggerAuthentication struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		SecretTargetRef []struct {
			Parameter string `json:"parameter"`
			Name      string `json:"name"`
			Key       string `json:"key"`
		} `json:"secretTargetRef"`
	} `json:"spec"`
}

// RabbitmqCluster is the RabbitMQ Cluster Operator's rabbitmq.com/v1beta1 kind.
type RabbitmqCluster struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		Replicas    *int32         `json:"replicas,omitempty"`
		Image       string         `json:"image,omitempty"`
		Resources   map[string]any `json:"resources,omitempty"`
		Persistence *struct {
			Storage          string  `json:"storage,omitempty"`
			StorageClassName *string `json:"storageClassName,omitempty"`
		} `json:"persistence,omitempty"`
		Rabbitmq *struct {
			AdditionalPlugins []string `json:"additionalPlugins,omitempty"`
			AdditionalConfig  string   `json:"additionalConfig,omitempty"`
		} `json:"rabbitmq,omitempty"`
	} `json:"spec"`
}

// CNPGCluster is CloudNativePG's postgresql.cnpg.io/v1 Cluster.
type CNPGCluster struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		Instances int    `json:"instances"`
		ImageName string `json:"imageName,omitempty"`
		Storage   struct {
			Size         string  `json:"size"`
			StorageClass *string `json:"storageClass,omitempty"`
		} `json:"storage"`
		Resources map[string]any `json:"resources,omitempty"`
		Bootstrap *struct {
			Initdb *struct {
				Database string `json:"database"`
				Owner    string `json:"owner"`
			} `json:"initdb,omitempty"`
		} `json:"bootstrap,omitempty"`
		PostgreSQL *struct {
			Parameters map[string]string `json:"parameters,omitempty"`
		} `json:"postgresql,omitempty"`
	} `json:"spec"`
}
