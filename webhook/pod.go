package webhook

import (
	"encoding/json"
	"fmt"

	corev1 "k8s.io/api/core/v1"

	"prepuller.dev/prepuller/pkg/userpod"
)

// Annotations the webhook reads and writes on user pods.
const (
	// AnnotationSkip "true": the webhook neither learns from nor steers the
	// pod, and the puller's watch does not learn from it either.
	AnnotationSkip = userpod.AnnotationSkip
	// AnnotationSteer "false": learn the pod's images, do not steer it.
	AnnotationSteer = "prepuller.dev/steer"
	// AnnotationExtraImages lists more images to learn, comma-separated
	// (e.g. images the user's server starts later), at most
	// userpod.MaxExtraImages of them.
	AnnotationExtraImages = userpod.AnnotationExtraImages
	// AnnotationSteered is written by the webhook on the pods it steers:
	// what it did. A pod it does not steer gets nothing (docs/webhook.md).
	AnnotationSteered = "prepuller.dev/steered"
	// AnnotationUsername is KubeSpawner's raw user name.
	AnnotationUsername = userpod.AnnotationUsername
)

// podView is the part of a Pod the webhook reads. Decoding only these fields
// skips the rest of the spec (volumes, env, resources...) and most of the
// allocations a full corev1.Pod decode costs.
type podView struct {
	Metadata struct {
		Name         string            `json:"name"`
		GenerateName string            `json:"generateName"`
		Labels       map[string]string `json:"labels"`
		Annotations  map[string]string `json:"annotations"`
	} `json:"metadata"`
	Spec struct {
		InitContainers   []userpod.Container           `json:"initContainers"`
		Containers       []userpod.Container           `json:"containers"`
		ImagePullSecrets []corev1.LocalObjectReference `json:"imagePullSecrets"`
		Affinity         *affinityView                 `json:"affinity"`
	} `json:"spec"`
}

type affinityView struct {
	NodeAffinity *nodeAffinityView `json:"nodeAffinity"`
}

type nodeAffinityView struct {
	Preferred []corev1.PreferredSchedulingTerm `json:"preferredDuringSchedulingIgnoredDuringExecution"`
}

func decodePod(raw []byte) (*podView, error) {
	if len(raw) == 0 {
		return nil, fmt.Errorf("admission request has no object")
	}
	p := &podView{}
	if err := json.Unmarshal(raw, p); err != nil {
		return nil, fmt.Errorf("decoding pod: %w", err)
	}
	return p, nil
}

// displayName is the pod's name, or its generateName prefix when the API
// server has not named it yet (KubeSpawner names its pods; others may not).
func (p *podView) displayName() string {
	if p.Metadata.Name != "" {
		return p.Metadata.Name
	}
	return p.Metadata.GenerateName
}
