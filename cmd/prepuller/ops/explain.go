package ops

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"prepuller.dev/prepuller/pkg/imageref"
	"prepuller.dev/prepuller/pkg/userpod"
	"prepuller.dev/prepuller/webhook"
)

// Explanation says why a user pod was or was not steered and where its
// image is.
type Explanation struct {
	Pod string `json:"pod"`
	// Decision is the webhook's prepuller.dev/steered annotation, recorded
	// at admission. The webhook writes it only on pods it steers: with
	// neither it nor the webhook's term, NotSteered says why, as far as
	// the pod and the configuration tell.
	Decision   string `json:"decision"`
	NotSteered string `json:"notSteered,omitempty"`
	// Term is the webhook's own preferred affinity term: "In" the holders
	// or "NotIn" the eligible nodes lacking the image; when every holder
	// was busy with a burst, "NotIn" them or "In" nodes lacking it.
	TermOperator string   `json:"termOperator,omitempty"`
	TermNodes    []string `json:"termNodes,omitempty"`
	Image        string   `json:"image,omitempty"`
	// Holders are the eligible nodes holding Image now.
	Holders  []string `json:"holders"`
	Eligible int      `json:"eligible"`
	Node     string   `json:"node,omitempty"`
	// NodeHoldsNow: the pod's node lists the image in status.images now,
	// or a puller pod there pulled it (the inventory's two sources).
	NodeHoldsNow bool `json:"nodeHoldsNow"`
	// HeldAtStart is what the kubelet's events say: "present" (Pulled,
	// already present on machine), "pulled" (the kubelet pulled it for this
	// pod), or "unknown" (events expired or not yet written).
	HeldAtStart string `json:"heldAtStart"`
}

// Explain reads the pod, its events and the snapshot's inventory.
func Explain(ctx context.Context, c client.Reader, s *Snapshot, namespace, name string) (Explanation, error) {
	var pod corev1.Pod
	if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, &pod); err != nil {
		return Explanation{}, fmt.Errorf("reading pod %s/%s: %w", namespace, name, err)
	}
	ex := Explanation{Pod: namespace + "/" + name, Decision: pod.Annotations[webhook.AnnotationSteered], Node: pod.Spec.NodeName, HeldAtStart: "unknown"}
	if a := pod.Spec.Affinity; a != nil && a.NodeAffinity != nil {
		for _, t := range a.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution {
			for _, r := range t.Preference.MatchExpressions {
				if r.Key == webhook.MarkerLabel {
					ex.TermOperator, ex.TermNodes = ownTerm(t)
				}
			}
		}
	}
	raw, _ := userpod.SteeringImageOf(&pod, s.Config.Webhook.SteeringContainer)
	img, err := imageref.Normalize(raw)
	if ex.Decision == "" && ex.TermOperator == "" {
		ex.NotSteered = notSteered(s.Scope, &pod, raw, err)
	}
	if raw == "" {
		return ex, nil
	}
	if err != nil {
		ex.Image = raw
		return ex, nil
	}
	ex.Image = img
	ex.Holders = s.Inventory.Holders(img)
	if ex.Holders == nil {
		ex.Holders = []string{}
	}
	ex.Eligible = s.Inventory.EligibleNodes()
	if ex.Node == "" {
		return ex, nil
	}
	ex.NodeHoldsNow = slices.Contains(ex.Holders, ex.Node)
	var node corev1.Node
	if err := c.Get(ctx, client.ObjectKey{Name: ex.Node}, &node); err == nil {
		for _, ni := range node.Status.Images {
			for _, n := range ni.Names {
				if m, err := imageref.Normalize(n); err == nil && m == img {
					ex.NodeHoldsNow = true
				}
			}
		}
	}
	var events corev1.EventList
	if err := c.List(ctx, &events, client.InNamespace(namespace),
		// By UID too: JupyterHub reuses a user's pod name, and an
		// earlier pod's events would speak for this one.
		client.MatchingFields{"involvedObject.name": name, "involvedObject.uid": string(pod.UID)}); err != nil {
		return ex, fmt.Errorf("listing events of pod %s/%s: %w", namespace, name, err)
	}
	ex.HeldAtStart = heldAtStart(events.Items, raw)
	return ex, nil
}

// notSteered says why a pod carries nothing of the webhook's: what the
// pod and the configuration tell, else the reasons they cannot tell apart.
// raw is the steering container's image ("" when the pod has none) and
// imgErr its normalization's error.
func notSteered(scope *userpod.Scope, pod *corev1.Pod, raw string, imgErr error) string {
	verdict := userpod.In
	if scope != nil {
		verdict = scope.Check(pod.Namespace, pod.Labels, pod.Annotations)
	}
	switch {
	case verdict == userpod.OtherNamespace:
		return "not steered: prepuller does not look at its namespace (userPods.namespaces, userPods.excludedNamespaces, or prepuller's own)"
	case verdict == userpod.NotSelected:
		return "not steered: not a user pod (userPods.podSelector does not select it)"
	case verdict == userpod.OptedOut:
		return "not steered: " + userpod.AnnotationSkip + " is \"true\""
	case pod.Annotations[webhook.AnnotationSteer] == "false":
		return "not steered: " + webhook.AnnotationSteer + " is \"false\""
	case raw == "":
		return "not steered: the pod has no container"
	case imgErr != nil:
		return "not steered: invalid image reference " + strconv.Quote(raw)
	}
	return "not steered: at admission no eligible node held the image, every one did, or none was known; " +
		"or the webhook did not answer (down, unreachable or timed out: the pod was admitted as it was), " +
		"or the pod predates prepuller. It annotates only the pods it steers"
}

// ownTerm reads the webhook's term back: the hostname requirement next to
// the marker.
func ownTerm(t corev1.PreferredSchedulingTerm) (string, []string) {
	for _, r := range t.Preference.MatchExpressions {
		if r.Key != webhook.MarkerLabel {
			return string(r.Operator), r.Values
		}
	}
	return "", nil
}

// heldAtStart reads the kubelet's Pulled/Pulling events for the steering
// container's image. The kubelet's "already present on machine" is the
// only record of whether the node held the image when the pod started;
// events expire after an hour by default, so an older pod says unknown.
func heldAtStart(events []corev1.Event, image string) string {
	out := "unknown"
	for _, e := range events {
		if e.Source.Component != "" && e.Source.Component != "kubelet" && e.ReportingController != "kubelet" {
			continue
		}
		if image == "" || !strings.Contains(e.Message, `"`+image+`"`) {
			continue
		}
		switch {
		case e.Reason == "Pulled" && strings.Contains(e.Message, "already present on machine"):
			if out == "unknown" {
				out = "present"
			}
		case e.Reason == "Pulling", e.Reason == "Pulled":
			out = "pulled"
		}
	}
	return out
}

// PrintExplanation writes ex for a person.
func PrintExplanation(w io.Writer, ex Explanation) error {
	fmt.Fprintf(w, "Pod:        %s\n", ex.Pod)
	switch {
	case ex.TermOperator != "":
		decision := ex.Decision
		if decision == "" {
			decision = "no " + webhook.AnnotationSteered + " annotation"
		}
		fmt.Fprintf(w, "Admission:  steered: %s (preferred affinity %s %s)\n", decision, ex.TermOperator, strings.Join(ex.TermNodes, ","))
	case ex.Decision == "":
		fmt.Fprintf(w, "Admission:  %s\n", ex.NotSteered)
	default:
		fmt.Fprintf(w, "Admission:  %s\n", ex.Decision)
	}
	if ex.Image != "" {
		fmt.Fprintf(w, "Image:      %s\n", ex.Image)
		fmt.Fprintf(w, "Now:        %d/%d eligible nodes hold it", len(ex.Holders), ex.Eligible)
		if len(ex.Holders) > 0 && len(ex.Holders) <= 10 {
			fmt.Fprintf(w, " (%s)", strings.Join(ex.Holders, ", "))
		}
		fmt.Fprintln(w)
	}
	if ex.Node == "" {
		_, err := fmt.Fprintln(w, "Scheduled:  not yet")
		return err
	}
	fmt.Fprintf(w, "Scheduled:  %s (holds the image now: %t)\n", ex.Node, ex.NodeHoldsNow)
	var at string
	switch ex.HeldAtStart {
	case "present":
		at = "yes: the kubelet found it already present on the node"
	case "pulled":
		at = "no: the kubelet pulled it for this pod"
	default:
		at = "unknown: no kubelet Pulling/Pulled event for it (events expire, after 1h by default; simulated nodes write none)"
	}
	_, err := fmt.Fprintf(w, "At start:   %s\n", at)
	return err
}
