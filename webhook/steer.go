package webhook

import (
	"strconv"
	"strings"

	"gomodules.xyz/jsonpatch/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"

	"prepuller.dev/prepuller/pkg/inventory"
	"prepuller.dev/prepuller/pkg/userpod"
)

// MarkerLabel makes the webhook's own affinity term recognizable: the term
// carries a "MarkerLabel DoesNotExist" requirement, true on every node (no
// node has this label; do not add it to one), so it changes nothing about
// which nodes match but tells the webhook, when reinvoked, which term is its
// own to replace. The pod's other terms are never touched.
const MarkerLabel = "prepuller.dev/steering-term"

const preferredPath = "/spec/affinity/nodeAffinity/preferredDuringSchedulingIgnoredDuringExecution"

// decision is what steering concluded for one pod.
type decision struct {
	reason  reason
	term    *corev1.PreferredSchedulingTerm // nil: the pod should carry no term of ours
	message string                          // value of AnnotationSteered
}

// decide looks the image up in the inventory and chooses the term. It never
// names more than MaxAffinityNodes nodes: the holders when few hold it, the
// eligible nodes lacking it when few lack it, otherwise a window of
// MaxAffinityNodes holders chosen by the pod's key (steerKey). Holders busy
// with a burst of the image are left out, and when all are, the term keeps
// the pod off them (inventory.Presence).
func (h *Handler) decide(p *podView, key uint64) decision {
	if p.Metadata.Annotations[AnnotationSteer] == "false" {
		return decision{reason: reasonSteerOff, message: "not steered: " + AnnotationSteer + " is \"false\""}
	}
	raw, ok := userpod.SteeringImage(p.Spec.Containers, h.opts.SteeringContainer)
	if !ok {
		return decision{reason: reasonNoContainer, message: "not steered: pod has no container"}
	}
	img, err := h.norm.Normalize(raw)
	if err != nil {
		return decision{reason: reasonBadImage, message: "not steered: invalid image reference " + strconv.Quote(raw)}
	}
	pr := h.inventory.Presence(img, h.opts.MaxAffinityNodes, key)
	counts := strconv.Itoa(pr.Holding) + "/" + strconv.Itoa(pr.Eligible) + " nodes hold " + img
	if pr.Busy > 0 {
		counts += ", " + strconv.Itoa(pr.Busy) + " busy with its users"
	}
	switch {
	case pr.Eligible == 0:
		return decision{reason: reasonNoEligible, message: "not steered: no eligible nodes known"}
	case pr.Holding == 0:
		return decision{reason: reasonNoHolder, message: "not steered: " + counts}
	case pr.Holding == pr.Eligible:
		return decision{reason: reasonAllHold, message: "not steered: " + counts}
	case pr.Crowded:
		// A burst of the image has filled its holders: keep the pod off
		// them, where the scheduler's image locality score would send it,
		// by avoiding them or, when they are too many to name, preferring
		// nodes that lack the image.
		op := corev1.NodeSelectorOpIn
		if pr.Complement {
			op = corev1.NodeSelectorOpNotIn
		}
		return decision{reason: reasonAllBusy, message: counts + " (steered away from them)", term: h.term(op, pr.Hostnames)}
	case pr.Hostnames == nil:
		// Only with maxAffinityNodes below 1, which Validate refuses.
		return decision{reason: reasonNoNames, message: "not steered: " + counts + " (maxAffinityNodes below 1)"}
	}
	switch {
	case pr.Complement:
		return decision{reason: reasonComplement, message: counts, term: h.term(corev1.NodeSelectorOpNotIn, pr.Hostnames)}
	case pr.Window:
		return decision{reason: reasonWindow, message: counts + " (steered to " + strconv.Itoa(len(pr.Hostnames)) + " of them)",
			term: h.term(corev1.NodeSelectorOpIn, pr.Hostnames)}
	}
	return decision{reason: reasonHolders, message: counts, term: h.term(corev1.NodeSelectorOpIn, pr.Hostnames)}
}

func (h *Handler) term(op corev1.NodeSelectorOperator, hostnames []string) *corev1.PreferredSchedulingTerm {
	return &corev1.PreferredSchedulingTerm{
		Weight: h.opts.AffinityWeight,
		Preference: corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{
			{Key: inventory.HostnameLabel, Operator: op, Values: hostnames},
			{Key: MarkerLabel, Operator: corev1.NodeSelectorOpDoesNotExist},
		}},
	}
}

// isOwnTerm recognizes the webhook's term by its marker requirement.
func isOwnTerm(t *corev1.PreferredSchedulingTerm) bool {
	for _, r := range t.Preference.MatchExpressions {
		if r.Key == MarkerLabel {
			return true
		}
	}
	return false
}

// patch builds targeted JSON patch operations moving the pod to d: add or
// replace the webhook's own term and the steered annotation. A pod not
// steered, carrying neither, gets no operation. Everything else
// in the pod is left as it is, so no operation touches a field the webhook
// does not own. The only "remove" possible is of the webhook's own term,
// when a reinvocation finds the pod should no longer carry one.
func patch(p *podView, d decision) []jsonpatch.JsonPatchOperation {
	var ops []jsonpatch.JsonPatchOperation

	var preferred []corev1.PreferredSchedulingTerm
	if a := p.Spec.Affinity; a != nil && a.NodeAffinity != nil {
		preferred = a.NodeAffinity.Preferred
	}
	own := -1
	for i := range preferred {
		if isOwnTerm(&preferred[i]) {
			own = i
			break
		}
	}
	switch {
	case d.term != nil && own >= 0:
		if !equality.Semantic.DeepEqual(preferred[own], *d.term) {
			ops = append(ops, jsonpatch.NewOperation("replace", preferredPath+"/"+strconv.Itoa(own), d.term))
		}
	case d.term != nil && p.Spec.Affinity == nil:
		ops = append(ops, jsonpatch.NewOperation("add", "/spec/affinity", &corev1.Affinity{
			NodeAffinity: &corev1.NodeAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []corev1.PreferredSchedulingTerm{*d.term}},
		}))
	case d.term != nil && p.Spec.Affinity.NodeAffinity == nil:
		ops = append(ops, jsonpatch.NewOperation("add", "/spec/affinity/nodeAffinity", &corev1.NodeAffinity{
			PreferredDuringSchedulingIgnoredDuringExecution: []corev1.PreferredSchedulingTerm{*d.term},
		}))
	case d.term != nil && len(preferred) == 0:
		// Absent, null or []: "add" sets the member either way.
		ops = append(ops, jsonpatch.NewOperation("add", preferredPath, []corev1.PreferredSchedulingTerm{*d.term}))
	case d.term != nil:
		ops = append(ops, jsonpatch.NewOperation("add", preferredPath+"/-", d.term))
	case own >= 0:
		ops = append(ops, jsonpatch.NewOperation("remove", preferredPath+"/"+strconv.Itoa(own), nil))
	}

	switch cur, ok := p.Metadata.Annotations[AnnotationSteered]; {
	case d.term == nil && len(ops) == 0 && !ok:
		// Nothing to steer and nothing of ours on the pod: leave it as it
		// is. Any change, an annotation alone included, makes the API
		// server apply the patch, run its own admission plugins a second
		// time and call again every earlier webhook that asked to be
		// reinvoked (docs/benchmarks.md measures it), so the reason is not
		// worth writing: the decision metric counts it.
	case p.Metadata.Annotations == nil:
		ops = append(ops, jsonpatch.NewOperation("add", "/metadata/annotations", map[string]string{AnnotationSteered: d.message}))
	case !ok:
		ops = append(ops, jsonpatch.NewOperation("add", steeredPath, d.message))
	case cur != d.message:
		ops = append(ops, jsonpatch.NewOperation("replace", steeredPath, d.message))
	}
	return ops
}

// steeredPath is the JSON pointer of AnnotationSteered ("/" escaped as "~1",
// RFC 6901).
var steeredPath = "/metadata/annotations/" + strings.ReplaceAll(strings.ReplaceAll(AnnotationSteered, "~", "~0"), "/", "~1")
