package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	jsonpatchapply "github.com/evanphx/json-patch/v5"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"gomodules.xyz/jsonpatch/v2"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	testclock "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"prepuller.dev/prepuller/pkg/imageset"
	"prepuller.dev/prepuller/pkg/inventory"
	it "prepuller.dev/prepuller/pkg/inventory/inventorytest"
	"prepuller.dev/prepuller/pkg/userpod"
	"prepuller.dev/prepuller/test/builder"
	wt "prepuller.dev/prepuller/webhook/webhooktest"
)

const (
	ownNS = "prepuller"
	hubNS = "hub"

	scipy      = "docker.io/jupyter/scipy-notebook:2024"
	datasci    = "docker.io/jupyter/datascience-notebook:2024"
	half       = "quay.io/x/half:1"
	everywhere = "docker.io/library/everywhere:1"
	rDigest    = "docker.io/jupyter/r-notebook@sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	netTools   = "docker.io/jupyterhub/k8s-network-tools:4.0.0"
	binder     = "docker.io/rocker/binder:latest"
	crowded    = "quay.io/x/crowded:1"
	packed     = "quay.io/x/packed:1"
	course     = "quay.io/x/course:1"
)

var fixedTime = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

// testInventory: ten eligible nodes n0..n9. scipy on 3, datasci on 9, half
// on 5, everywhere on all 10, rDigest on n3. course on n0..n2, where n0
// took 3 of its users just now (busy: the limit for 3 arrivals is
// ceil(4/10)+2 = 3); crowded on n0 and n1, each took 3 of its users (both
// busy); packed on n0..n7, each took 15 of its 120 users (all busy, and
// more than maxAffinityNodes).
func testInventory() *inventory.Inventory {
	inv := inventory.New()
	for i := range 10 {
		name := "n" + string(rune('0'+i))
		w := it.MakeNode(name).Image(9e9, everywhere)
		if i < 3 {
			w.Image(5e9, scipy)
		}
		if i < 9 {
			w.Image(6e9, datasci)
		}
		if i < 5 {
			w.Image(1e9, half)
		}
		if i == 3 {
			w.Image(4e9, rDigest, "jupyter/r-notebook:2024")
		}
		if i < 3 {
			w.Image(3e9, course)
		}
		if i < 2 {
			w.Image(3e9, crowded)
		}
		if i < 8 {
			w.Image(3e9, packed)
		}
		inv.UpsertNode(w.Obj())
	}
	for i := range 8 {
		for j := range 15 {
			inv.UpsertUserPod(fmt.Sprintf("hub/packed-%d-%d", i, j), "n"+string(rune('0'+i)), packed, time.Now())
		}
	}
	for j := range 3 {
		inv.UpsertUserPod(fmt.Sprintf("hub/course-%d", j), "n0", course, time.Now())
		for _, n := range []string{"n0", "n1"} {
			inv.UpsertUserPod(fmt.Sprintf("hub/crowded-%s-%d", n, j), n, crowded, time.Now())
		}
	}
	return inv
}

func testOptions() Options {
	o := DefaultOptions()
	o.MaxAffinityNodes = 3
	return o
}

func newTestHandler(t testing.TB, inv NodeInventory, rec imageset.Recorder) *Handler {
	t.Helper()
	h, err := NewHandler(testOptions(), testDeps(rec, inv))
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// testDeps: the default user pods, a clock stopped at fixedTime and series
// of the handler's own, so tests read only their own counts.
func testDeps(rec imageset.Recorder, inv NodeInventory) Deps {
	scope, err := userpod.DefaultOptions().Scope(ownNS)
	if err != nil {
		panic(err)
	}
	return Deps{
		Namespace: ownNS, Scope: scope, Recorder: rec, Inventory: inv,
		Clock:   testclock.NewFakePassiveClock(fixedTime),
		Metrics: prometheus.NewRegistry(),
	}
}

func review(t testing.TB, pod *corev1.Pod) admission.Request {
	t.Helper()
	raw, err := json.Marshal(pod)
	if err != nil {
		t.Fatal(err)
	}
	return admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
		UID:       "uid-1",
		Kind:      metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
		Resource:  metav1.GroupVersionResource{Version: "v1", Resource: "pods"},
		Name:      pod.Name,
		Namespace: pod.Namespace,
		Operation: admissionv1.Create,
		Object:    runtimeRaw(raw),
	}}
}

// apply applies the response's patch to pod as the API server would.
func apply(t *testing.T, pod *corev1.Pod, ops []jsonpatch.JsonPatchOperation) *corev1.Pod {
	t.Helper()
	raw, _ := json.Marshal(pod)
	if len(ops) == 0 {
		return pod.DeepCopy()
	}
	patchJSON, err := json.Marshal(ops)
	if err != nil {
		t.Fatal(err)
	}
	p, err := jsonpatchapply.DecodePatch(patchJSON)
	if err != nil {
		t.Fatalf("decoding patch %s: %v", patchJSON, err)
	}
	out, err := p.Apply(raw)
	if err != nil {
		t.Fatalf("applying patch %s: %v", patchJSON, err)
	}
	got := &corev1.Pod{}
	if err := json.Unmarshal(out, got); err != nil {
		t.Fatal(err)
	}
	return got
}

func ownTerm(weight int32, op corev1.NodeSelectorOperator, hosts ...string) corev1.PreferredSchedulingTerm {
	return corev1.PreferredSchedulingTerm{Weight: weight, Preference: corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{
		{Key: corev1.LabelHostname, Operator: op, Values: hosts},
		{Key: MarkerLabel, Operator: corev1.NodeSelectorOpDoesNotExist},
	}}}
}

func steeredTo(terms ...corev1.PreferredSchedulingTerm) *corev1.Affinity {
	return &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{PreferredDuringSchedulingIgnoredDuringExecution: terms}}
}

// sighting is one image the test expects the pod to name; the handler
// reports the pod's admission with their count (admitted).
func sighting(pod, image, user string) imageset.Sighting {
	return imageset.Sighting{Image: image, Namespace: hubNS, Pod: pod, User: user, Time: fixedTime}
}

// admitted is the admission the handler reports for a pod naming the
// expected images: the pod's identity and how many images it names.
func admitted(sightings []imageset.Sighting) []imageset.Admission {
	if len(sightings) == 0 {
		return nil
	}
	return []imageset.Admission{{Namespace: sightings[0].Namespace, Name: sightings[0].Pod, Images: len(sightings), Time: sightings[0].Time}}
}

// manyExtra is an extra-images list of n distinct images.
func manyExtra(n int) string {
	items := make([]string, n)
	for i := range items {
		items[i] = "org/extra-" + strconv.Itoa(i) + ":1"
	}
	return strings.Join(items, ",")
}

// usersOwnAffinity is a pod's own scheduling: a required term, a preferred
// term and pod anti-affinity. The webhook must keep all of it.
func usersOwnAffinity() *corev1.Affinity {
	return &corev1.Affinity{
		NodeAffinity: &corev1.NodeAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
				MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "hub.jupyter.org/node-purpose", Operator: corev1.NodeSelectorOpIn, Values: []string{"user"}}},
			}}},
			PreferredDuringSchedulingIgnoredDuringExecution: []corev1.PreferredSchedulingTerm{{
				Weight:     10,
				Preference: corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "zone", Operator: corev1.NodeSelectorOpIn, Values: []string{"a"}}}},
			}},
		},
		PodAntiAffinity: &corev1.PodAntiAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []corev1.WeightedPodAffinityTerm{{
			Weight:          1,
			PodAffinityTerm: corev1.PodAffinityTerm{TopologyKey: corev1.LabelHostname},
		}}},
	}
}

func TestHandle(t *testing.T) {
	user := func(image string) *builder.PodWrapper {
		return builder.MakeUserPod("jupyter-alice", hubNS, "alice").Container("notebook", image)
	}
	msg := func(s string) map[string]string {
		return map[string]string{AnnotationUsername: "alice", AnnotationSteered: s}
	}
	scipySteered := func() *builder.PodWrapper {
		return user("jupyter/scipy-notebook:2024").
			Annotation(AnnotationSteered, "3/10 nodes hold "+scipy).
			Affinity(steeredTo(ownTerm(50, corev1.NodeSelectorOpIn, "n0", "n1", "n2")))
	}
	many := user("jupyter/scipy-notebook:2024")
	many.Spec.Containers = nil
	for i := range 300 {
		many.Container("c"+strings.Repeat("x", i%7)+string(rune('a'+i%26)), []string{"rocker/binder", "quay.io/x/half:1", "jupyter/datascience-notebook:2024"}[i%3])
	}
	many.Container("notebook", "jupyter/datascience-notebook:2024")

	cases := map[string]struct {
		pod       *corev1.Pod
		dryRun    bool
		operation admissionv1.Operation
		// want is the pod after the patch; nil means unchanged.
		want          *corev1.Pod
		wantSightings []imageset.Sighting
		// wantAdmissions, when set, is what the recorder gets; else
		// admitted(wantSightings).
		wantAdmissions []imageset.Admission
		wantReason     reason
		wantInvalid    int
		wantDropped    int
		wantWarnings   []string
	}{
		"plain singleuser pod": {
			pod:           user("jupyter/scipy-notebook:2024").Obj(),
			want:          scipySteered().Obj(),
			wantSightings: []imageset.Sighting{sighting("jupyter-alice", scipy, "alice")},
			wantReason:    reasonHolders,
		},
		"init containers are learned, the notebook image steers": {
			pod:  user("jupyter/scipy-notebook:2024").InitContainer("block-cloud-metadata", "jupyterhub/k8s-network-tools:4.0.0").Obj(),
			want: scipySteered().InitContainer("block-cloud-metadata", "jupyterhub/k8s-network-tools:4.0.0").Obj(),
			wantSightings: []imageset.Sighting{
				sighting("jupyter-alice", netTools, "alice"),
				sighting("jupyter-alice", scipy, "alice"),
			},
			wantReason: reasonHolders,
		},
		"digest": {
			pod: user("jupyter/r-notebook@sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb").Obj(),
			want: func() *corev1.Pod {
				p := user("jupyter/r-notebook@sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb").Obj()
				p.Annotations = msg("1/10 nodes hold " + rDigest)
				p.Spec.Affinity = steeredTo(ownTerm(50, corev1.NodeSelectorOpIn, "n3"))
				return p
			}(),
			wantSightings: []imageset.Sighting{sighting("jupyter-alice", rDigest, "alice")},
			wantReason:    reasonHolders,
		},
		"tag and digest: the digest decides": {
			pod: user("jupyter/r-notebook:old@sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb").Obj(),
			want: func() *corev1.Pod {
				p := user("jupyter/r-notebook:old@sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb").Obj()
				p.Annotations = msg("1/10 nodes hold " + rDigest)
				p.Spec.Affinity = steeredTo(ownTerm(50, corev1.NodeSelectorOpIn, "n3"))
				return p
			}(),
			wantSightings: []imageset.Sighting{sighting("jupyter-alice", rDigest, "alice")},
			wantReason:    reasonHolders,
		},
		"extra images, malformed entries skipped, duplicates once": {
			pod:  user("jupyter/scipy-notebook:2024").Annotation(AnnotationExtraImages, "rocker/binder, ,NOT VALID,quay.io/x/half:1,jupyter/scipy-notebook:2024,").Obj(),
			want: scipySteered().Annotation(AnnotationExtraImages, "rocker/binder, ,NOT VALID,quay.io/x/half:1,jupyter/scipy-notebook:2024,").Obj(),
			wantSightings: []imageset.Sighting{
				sighting("jupyter-alice", scipy, "alice"),
				sighting("jupyter-alice", binder, "alice"),
				sighting("jupyter-alice", half, "alice"),
			},
			wantReason:  reasonHolders,
			wantInvalid: 1,
		},
		"extra images past the limit: the first ones learned, the rest counted": {
			pod:  user("jupyter/scipy-notebook:2024").Annotation(AnnotationExtraImages, manyExtra(userpod.MaxExtraImages+5)).Obj(),
			want: scipySteered().Annotation(AnnotationExtraImages, manyExtra(userpod.MaxExtraImages+5)).Obj(),
			wantSightings: func() []imageset.Sighting {
				out := []imageset.Sighting{sighting("jupyter-alice", scipy, "alice")}
				for i := range userpod.MaxExtraImages {
					out = append(out, sighting("jupyter-alice", "docker.io/org/extra-"+strconv.Itoa(i)+":1", "alice"))
				}
				return out
			}(),
			wantReason:  reasonHolders,
			wantDropped: 5,
		},
		"user from the label when the annotation is missing": {
			pod: builder.MakePod("jupyter-bob", hubNS).Label("component", "singleuser-server").Label("hub.jupyter.org/username", "bob").
				Container("notebook", "jupyter/scipy-notebook:2024").Obj(),
			want: builder.MakePod("jupyter-bob", hubNS).Label("component", "singleuser-server").Label("hub.jupyter.org/username", "bob").
				Container("notebook", "jupyter/scipy-notebook:2024").Annotation(AnnotationSteered, "3/10 nodes hold "+scipy).
				Affinity(steeredTo(ownTerm(50, corev1.NodeSelectorOpIn, "n0", "n1", "n2"))).Obj(),
			wantSightings: []imageset.Sighting{sighting("jupyter-bob", scipy, "bob")},
			wantReason:    reasonHolders,
		},
		"skip annotation: nothing learned, nothing changed": {
			pod:        user("jupyter/scipy-notebook:2024").Annotation(AnnotationSkip, "true").Obj(),
			wantReason: reasonSkipAnno,
		},
		"steer=false: learned, not steered, nothing written": {
			pod:           user("jupyter/scipy-notebook:2024").Annotation(AnnotationSteer, "false").Obj(),
			wantSightings: []imageset.Sighting{sighting("jupyter-alice", scipy, "alice")},
			wantReason:    reasonSteerOff,
		},
		"the pod's own required and preferred affinity are kept": {
			pod: user("jupyter/scipy-notebook:2024").Affinity(usersOwnAffinity()).Obj(),
			want: func() *corev1.Pod {
				a := usersOwnAffinity()
				a.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution = append(a.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution,
					ownTerm(50, corev1.NodeSelectorOpIn, "n0", "n1", "n2"))
				return scipySteered().Affinity(a).Obj()
			}(),
			wantSightings: []imageset.Sighting{sighting("jupyter-alice", scipy, "alice")},
			wantReason:    reasonHolders,
		},
		"pod anti-affinity only: node affinity added beside it": {
			pod: user("jupyter/scipy-notebook:2024").Affinity(&corev1.Affinity{PodAntiAffinity: usersOwnAffinity().PodAntiAffinity}).Obj(),
			want: scipySteered().Affinity(&corev1.Affinity{
				PodAntiAffinity: usersOwnAffinity().PodAntiAffinity,
				NodeAffinity:    steeredTo(ownTerm(50, corev1.NodeSelectorOpIn, "n0", "n1", "n2")).NodeAffinity,
			}).Obj(),
			wantSightings: []imageset.Sighting{sighting("jupyter-alice", scipy, "alice")},
			wantReason:    reasonHolders,
		},
		"already steered: no patch": {
			pod:           scipySteered().Obj(),
			wantSightings: []imageset.Sighting{sighting("jupyter-alice", scipy, "alice")},
			wantReason:    reasonAlreadySteered,
		},
		"reinvoked with a stale own term: replaced in place, the user's term kept": {
			pod: func() *corev1.Pod {
				a := usersOwnAffinity()
				a.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution = []corev1.PreferredSchedulingTerm{
					ownTerm(20, corev1.NodeSelectorOpNotIn, "n7"), a.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution[0]}
				return user("jupyter/scipy-notebook:2024").Annotation(AnnotationSteered, "old").Affinity(a).Obj()
			}(),
			want: func() *corev1.Pod {
				a := usersOwnAffinity()
				a.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution = []corev1.PreferredSchedulingTerm{
					ownTerm(50, corev1.NodeSelectorOpIn, "n0", "n1", "n2"), a.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution[0]}
				return scipySteered().Affinity(a).Obj()
			}(),
			wantSightings: []imageset.Sighting{sighting("jupyter-alice", scipy, "alice")},
			wantReason:    reasonHolders,
		},
		"non-matching pod": {
			pod:        builder.MakePod("other", hubNS).Container("c", "jupyter/scipy-notebook:2024").Obj(),
			wantReason: reasonSelector,
		},
		"excluded namespace": {
			pod:        builder.MakeUserPod("jupyter-alice", "kube-system", "alice").Container("notebook", "jupyter/scipy-notebook:2024").Obj(),
			wantReason: reasonNamespace,
		},
		"prepuller's own namespace": {
			pod:        builder.MakeUserPod("jupyter-alice", ownNS, "alice").Container("notebook", "jupyter/scipy-notebook:2024").Obj(),
			wantReason: reasonNamespace,
		},
		"dry run: nothing learned, nothing changed": {
			pod:        user("jupyter/scipy-notebook:2024").Obj(),
			dryRun:     true,
			wantReason: reasonDryRun,
		},
		"not a CREATE": {
			pod:        user("jupyter/scipy-notebook:2024").Obj(),
			operation:  admissionv1.Update,
			wantReason: reasonNotPodCreate,
		},
		"hundreds of containers: each image learned once": {
			pod: many.Obj(),
			want: func() *corev1.Pod {
				p := many.Obj()
				p.Annotations[AnnotationSteered] = "9/10 nodes hold " + datasci
				p.Spec.Affinity = steeredTo(ownTerm(50, corev1.NodeSelectorOpNotIn, "n9"))
				return p
			}(),
			wantSightings: []imageset.Sighting{
				sighting("jupyter-alice", binder, "alice"),
				sighting("jupyter-alice", half, "alice"),
				sighting("jupyter-alice", datasci, "alice"),
			},
			wantReason: reasonComplement,
		},
		"invalid image reference: not learned, not steered, admitted with a warning": {
			pod:          user("Not A/Valid:Image").Obj(),
			wantReason:   reasonBadImage,
			wantInvalid:  1,
			wantWarnings: []string{`prepuller: not steered: invalid image reference "Not A/Valid:Image"`},
		},
		"most nodes hold it: the complement is named": {
			pod:           user("jupyter/datascience-notebook:2024").Obj(),
			want:          user("jupyter/datascience-notebook:2024").Annotation(AnnotationSteered, "9/10 nodes hold "+datasci).Affinity(steeredTo(ownTerm(50, corev1.NodeSelectorOpNotIn, "n9"))).Obj(),
			wantSightings: []imageset.Sighting{sighting("jupyter-alice", datasci, "alice")},
			wantReason:    reasonComplement,
		},
		"past the name bound either way: a window of holders, chosen by the pod": {
			pod: user("quay.io/x/half:1").Obj(),
			want: user("quay.io/x/half:1").Annotation(AnnotationSteered, "5/10 nodes hold "+half+" (steered to 3 of them)").
				Affinity(steeredTo(ownTerm(50, corev1.NodeSelectorOpIn, windowOf(hubNS, "jupyter-alice", halfHolders, 3)...))).Obj(),
			wantSightings: []imageset.Sighting{sighting("jupyter-alice", half, "alice")},
			wantReason:    reasonWindow,
		},
		"held everywhere: no term, nothing written": {
			pod:           user("everywhere:1").Obj(),
			wantSightings: []imageset.Sighting{sighting("jupyter-alice", everywhere, "alice")},
			wantReason:    reasonAllHold,
		},
		"a holder busy with the image's users is left out": {
			pod: user("quay.io/x/course:1").Obj(),
			want: user("quay.io/x/course:1").Annotation(AnnotationSteered, "3/10 nodes hold "+course+", 1 busy with its users").
				Affinity(steeredTo(ownTerm(50, corev1.NodeSelectorOpIn, "n1", "n2"))).Obj(),
			wantSightings: []imageset.Sighting{sighting("jupyter-alice", course, "alice")},
			wantReason:    reasonHolders,
		},
		"every holder busy: the pod is kept off them": {
			pod: user("quay.io/x/crowded:1").Obj(),
			want: user("quay.io/x/crowded:1").Annotation(AnnotationSteered, "2/10 nodes hold "+crowded+", 2 busy with its users (steered away from them)").
				Affinity(steeredTo(ownTerm(50, corev1.NodeSelectorOpNotIn, "n0", "n1"))).Obj(),
			wantSightings: []imageset.Sighting{sighting("jupyter-alice", crowded, "alice")},
			wantReason:    reasonAllBusy,
		},
		"every holder busy, too many to name: the nodes lacking the image are preferred": {
			pod: user("quay.io/x/packed:1").Obj(),
			want: user("quay.io/x/packed:1").Annotation(AnnotationSteered, "8/10 nodes hold "+packed+", 8 busy with its users (steered away from them)").
				Affinity(steeredTo(ownTerm(50, corev1.NodeSelectorOpIn, "n8", "n9"))).Obj(),
			wantSightings: []imageset.Sighting{sighting("jupyter-alice", packed, "alice")},
			wantReason:    reasonAllBusy,
		},
		"held nowhere, carrying an earlier pass's annotation: the annotation is corrected": {
			pod:           user("rocker/binder").Annotation(AnnotationSteered, "3/10 nodes hold "+scipy).Obj(),
			want:          user("rocker/binder").Annotation(AnnotationSteered, "not steered: 0/10 nodes hold "+binder).Obj(),
			wantSightings: []imageset.Sighting{sighting("jupyter-alice", binder, "alice")},
			wantReason:    reasonNoHolder,
		},
		"held nowhere: no term, nothing written": {
			pod:           user("rocker/binder").Obj(),
			wantSightings: []imageset.Sighting{sighting("jupyter-alice", binder, "alice")},
			wantReason:    reasonNoHolder,
		},
		"generateName pod without annotations, with pull secrets and policy": {
			pod: builder.MakePod("", hubNS).GenerateName("jupyter-").Label("component", "singleuser-server").
				Container("notebook", "jupyter/scipy-notebook:2024").PullPolicy(corev1.PullAlways).PullSecret("regcred").Obj(),
			want: builder.MakePod("", hubNS).GenerateName("jupyter-").Label("component", "singleuser-server").
				Container("notebook", "jupyter/scipy-notebook:2024").PullPolicy(corev1.PullAlways).PullSecret("regcred").
				Annotation(AnnotationSteered, "3/10 nodes hold "+scipy).
				Affinity(steeredTo(ownTerm(50, corev1.NodeSelectorOpIn, "n0", "n1", "n2"))).Obj(),
			// Not yet named: the admission carries the prefix, and the pod
			// counts under its real name once it exists.
			wantAdmissions: []imageset.Admission{{Namespace: hubNS, GenerateName: "jupyter-", Images: 1, Time: fixedTime}},
			wantReason:     reasonHolders,
		},
	}
	inv := testInventory()
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			rec := &wt.Recorder{}
			h := newTestHandler(t, inv, rec)
			req := review(t, tc.pod)
			if tc.dryRun {
				req.DryRun = ptr.To(true)
			}
			if tc.operation != "" {
				req.Operation = tc.operation
			}
			before := testutil.ToFloat64(h.metrics.decisions[tc.wantReason])
			invalidBefore := testutil.ToFloat64(h.metrics.invalidRefs)
			droppedBefore := testutil.ToFloat64(h.metrics.extraImagesDropped)

			resp := h.Handle(context.Background(), req)

			if !resp.Allowed {
				t.Fatalf("pod not allowed: %+v", resp.Result)
			}
			for _, op := range resp.Patches {
				if op.Operation == "remove" {
					t.Errorf("patch removes %s; the webhook must not remove fields", op.Path)
				}
			}
			want := tc.want
			if want == nil {
				want = tc.pod
				if len(resp.Patches) != 0 {
					t.Errorf("want no patch, got %+v", resp.Patches)
				}
			}
			if diff := cmp.Diff(want, apply(t, tc.pod, resp.Patches)); diff != "" {
				t.Errorf("patched pod (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantWarnings, resp.Warnings); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
			wantAdm := tc.wantAdmissions
			if wantAdm == nil {
				wantAdm = admitted(tc.wantSightings)
			}
			if diff := cmp.Diff(wantAdm, rec.Admissions(), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("admissions (-want +got):\n%s", diff)
			}
			if got := testutil.ToFloat64(h.metrics.decisions[tc.wantReason]) - before; got != 1 {
				t.Errorf("decisions{%s,%s} grew by %v, want 1", tc.wantReason.outcome, tc.wantReason.name, got)
			}
			if got := int(testutil.ToFloat64(h.metrics.invalidRefs) - invalidBefore); got != tc.wantInvalid {
				t.Errorf("invalid references counted %d, want %d", got, tc.wantInvalid)
			}
			if got := int(testutil.ToFloat64(h.metrics.extraImagesDropped) - droppedBefore); got != tc.wantDropped {
				t.Errorf("extra images dropped %d, want %d", got, tc.wantDropped)
			}

			// Idempotent: handed the pod it produced (a reinvocation, or a
			// pod that went through it already), the webhook has nothing
			// more to do.
			again := review(t, apply(t, tc.pod, resp.Patches))
			again.DryRun, again.Operation = req.DryRun, req.Operation
			resp = h.Handle(context.Background(), again)
			if !resp.Allowed || len(resp.Patches) != 0 {
				t.Errorf("second pass: want allowed with no operations, got allowed=%v %+v", resp.Allowed, resp.Patches)
			}
		})
	}
}

// A reinvocation after another webhook changed the image may find the pod
// should carry no term of ours: that is the one case where the webhook
// removes something, and it is its own term only.
func TestHandleRemovesOnlyItsOwnStaleTerm(t *testing.T) {
	a := usersOwnAffinity()
	a.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution = append(a.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution,
		ownTerm(50, corev1.NodeSelectorOpIn, "n0"))
	pod := builder.MakeUserPod("jupyter-alice", hubNS, "alice").Container("notebook", "rocker/binder").Affinity(a).Obj()

	resp := newTestHandler(t, testInventory(), &wt.Recorder{}).Handle(context.Background(), review(t, pod))

	want := []jsonpatch.JsonPatchOperation{
		{Operation: "remove", Path: preferredPath + "/1"},
		{Operation: "add", Path: steeredPath, Value: "not steered: 0/10 nodes hold " + binder},
	}
	if diff := cmp.Diff(want, resp.Patches); diff != "" {
		t.Errorf("patch (-want +got):\n%s", diff)
	}
	got := apply(t, pod, resp.Patches)
	if diff := cmp.Diff(usersOwnAffinity(), got.Spec.Affinity); diff != "" {
		t.Errorf("affinity after patch (-want +got):\n%s", diff)
	}
}

type panickingInventory struct{}

func (panickingInventory) Presence(string, int, uint64) inventory.Presence { panic("boom") }

func TestHandleNeverGetsInTheWay(t *testing.T) {
	pod := builder.MakeUserPod("jupyter-alice", hubNS, "alice").Container("notebook", "jupyter/scipy-notebook:2024").Obj()
	cases := map[string]struct {
		inv        NodeInventory
		raw        []byte
		noUID      bool
		wantReason reason
	}{
		"panic in a dependency": {inv: panickingInventory{}, wantReason: reasonPanic},
		"undecodable pod":       {inv: testInventory(), raw: []byte(`{"metadata": 7}`), wantReason: reasonDecode},
		"no object":             {inv: testInventory(), raw: []byte{}, wantReason: reasonDecode},
		"no uid":                {inv: testInventory(), noUID: true, wantReason: reasonNoUID},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			req := review(t, pod)
			if tc.raw != nil {
				req.Object.Raw = tc.raw
			}
			if tc.noUID {
				req.UID = ""
			}
			h := newTestHandler(t, tc.inv, &wt.Recorder{})
			before := testutil.ToFloat64(h.metrics.decisions[tc.wantReason])
			resp := h.Handle(context.Background(), req)
			if !resp.Allowed || len(resp.Patches) != 0 {
				t.Errorf("want allowed unchanged, got allowed=%v patches=%v", resp.Allowed, resp.Patches)
			}
			if got := testutil.ToFloat64(h.metrics.decisions[tc.wantReason]) - before; got != 1 {
				t.Errorf("decisions{%s} grew by %v, want 1", tc.wantReason.name, got)
			}
		})
	}
}

func TestNewHandlerRejects(t *testing.T) {
	good := testDeps(&wt.Recorder{}, testInventory())
	cases := map[string]struct {
		opts    func(*Options)
		deps    func(*Deps)
		wantErr string
	}{
		"no namespace": {deps: func(d *Deps) { d.Namespace = "" }, wantErr: "own namespace is empty"},
		"no recorder":  {deps: func(d *Deps) { d.Recorder = nil }, wantErr: "Recorder and Inventory are required"},
		"no scope":     {deps: func(d *Deps) { d.Scope = nil }, wantErr: "scope"},
		"bad weight":   {opts: func(o *Options) { o.AffinityWeight = 0 }, wantErr: "webhook.affinityWeight"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			opts, deps := DefaultOptions(), good
			if tc.opts != nil {
				tc.opts(&opts)
			}
			if tc.deps != nil {
				tc.deps(&deps)
			}
			_, err := NewHandler(opts, deps)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("NewHandler error = %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
	if _, err := NewHandler(DefaultOptions(), good); err != nil {
		t.Errorf("NewHandler with defaults: %v", err)
	}
}
