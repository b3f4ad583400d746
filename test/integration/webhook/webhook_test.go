package webhook_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"gomodules.xyz/jsonpatch/v2"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	ctrlwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"prepuller.dev/prepuller/pkg/imageset"
	"prepuller.dev/prepuller/pkg/inventory"
	it "prepuller.dev/prepuller/pkg/inventory/inventorytest"
	"prepuller.dev/prepuller/pkg/userpod"
	"prepuller.dev/prepuller/puller"
	"prepuller.dev/prepuller/test/builder"
	"prepuller.dev/prepuller/webhook"
	wt "prepuller.dev/prepuller/webhook/webhooktest"
)

const (
	scipy   = "docker.io/jupyter/scipy-notebook:2024"
	pastCap = "quay.io/example/past-the-cap:1"
	binder  = "docker.io/rocker/binder:latest"
)

// running is prepuller's serving side as cmd/prepuller wires it: the
// manager's cache feeds the inventory, the webhook answers from it.
type running struct {
	rec  *wt.Recorder
	inv  *inventory.Inventory
	stop func()
}

func startPrepuller(t *testing.T) *running {
	t.Helper()
	popts := puller.DefaultOptions()
	mgr, err := manager.New(cfg, manager.Options{
		Metrics: metricsserver.Options{BindAddress: "0"},
		WebhookServer: ctrlwebhook.NewServer(ctrlwebhook.Options{
			Host: webhooks.LocalServingHost, Port: webhooks.LocalServingPort, CertDir: webhooks.LocalServingCertDir,
		}),
		Cache: cache.Options{ByObject: map[client.Object]cache.ByObject{
			&corev1.Node{}: {Transform: inventory.StripNode},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	r := &running{rec: &wt.Recorder{}, inv: inventory.New()}
	if err := inventory.SetupWithManager(mgr, r.inv, inventory.Options{PullerNamespace: ownNS, PullerPodSelector: puller.PodSelector(popts)}); err != nil {
		t.Fatal(err)
	}
	scope, err := userpod.DefaultOptions().Scope(ownNS)
	if err != nil {
		t.Fatal(err)
	}
	if err := inventory.SetupUserPods(mgr, r.inv, inventory.UserPodOptions{Scope: scope, SteeringContainer: testOptions().SteeringContainer}); err != nil {
		t.Fatal(err)
	}
	if err := webhook.Setup(mgr, testOptions(), webhook.Deps{Namespace: ownNS, Scope: scope, Recorder: r.rec, Inventory: r.inv}); err != nil {
		t.Fatal(err)
	}
	mgr.GetWebhookServer().Register(rewriterPath, &ctrlwebhook.Admission{Handler: admission.HandlerFunc(rewriteImage)})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	r.stop = func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("manager: %v", err)
		}
	}
	t.Cleanup(func() {
		if ctx.Err() == nil {
			r.stop()
		}
	})
	poll(t, "webhook server serving", func() bool {
		return mgr.GetWebhookServer().StartedChecker()(nil) == nil
	})
	return r
}

// rewriteImage plays another mutating webhook that changes the image after
// prepuller has steered the pod.
func rewriteImage(_ context.Context, req admission.Request) admission.Response {
	pod := &corev1.Pod{}
	if err := json.Unmarshal(req.Object.Raw, pod); err != nil {
		return admission.Errored(http.StatusBadRequest, err)
	}
	to := pod.Annotations[rewriteAnnotation]
	if to == "" || len(pod.Spec.Containers) == 0 || pod.Spec.Containers[0].Image == to {
		return admission.Allowed("")
	}
	return admission.Patched("", jsonpatch.NewOperation("replace", "/spec/containers/0/image", to))
}

func poll(t *testing.T, what string, cond func() bool) {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, 30*time.Second, true,
		func(context.Context) (bool, error) { return cond(), nil })
	if err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

func createNode(t *testing.T, ctx context.Context, n *corev1.Node) {
	t.Helper()
	status := n.Status
	if err := k8s.Create(ctx, n); err != nil {
		t.Fatalf("creating node %s: %v", n.Name, err)
	}
	n.Status = status
	if err := k8s.Status().Update(ctx, n); err != nil {
		t.Fatalf("updating node %s status: %v", n.Name, err)
	}
}

// ensureNamespaces creates prepuller's and the hub's namespaces, which
// an earlier test may have made.
func ensureNamespaces(t *testing.T, ctx context.Context) {
	t.Helper()
	for _, ns := range []string{ownNS, hubNS} {
		if err := k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
}

func ownTerm(op corev1.NodeSelectorOperator, hosts ...string) corev1.PreferredSchedulingTerm {
	return corev1.PreferredSchedulingTerm{Weight: 50, Preference: corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{
		{Key: corev1.LabelHostname, Operator: op, Values: hosts},
		{Key: webhook.MarkerLabel, Operator: corev1.NodeSelectorOpDoesNotExist},
	}}}
}

func TestWebhookThroughAPIServer(t *testing.T) {
	ctx := context.Background()
	ensureNamespaces(t, ctx)
	r := startPrepuller(t)

	// Five nodes: scipy on a and b (status.images); the past-the-cap image
	// only through a puller pod's completed init container on c; d holds
	// nothing; e holds scipy but is cordoned.
	createNode(t, ctx, it.MakeNode("node-a").Image(5e9, scipy).Obj())
	createNode(t, ctx, it.MakeNode("node-b").Image(5e9, "jupyter/scipy-notebook:2024").Obj())
	createNode(t, ctx, it.MakeNode("node-c").Image(1e8, binder).Obj())
	createNode(t, ctx, it.MakeNode("node-d").Obj())
	createNode(t, ctx, it.MakeNode("node-e").Image(5e9, scipy).Unschedulable().Obj())

	pp := it.MakePullerPod("puller-c", ownNS, "node-c").Init("image-pull-0", pastCap, nil).Obj()
	pp.Labels = map[string]string{
		"app.kubernetes.io/name":      "prepuller",
		"app.kubernetes.io/component": "puller",
		"prepuller.dev/puller":        puller.DefaultOptions().DaemonSetName,
	}
	if !puller.PodSelector(puller.DefaultOptions()).Matches(labels.Set(pp.Labels)) {
		t.Fatalf("test puller pod labels %v do not match puller.PodSelector", pp.Labels)
	}
	if err := k8s.Create(ctx, pp); err != nil {
		t.Fatal(err)
	}
	pp.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: "image-pull-0", Image: pastCap,
		State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed"}}}}
	if err := k8s.Status().Update(ctx, pp); err != nil {
		t.Fatal(err)
	}
	poll(t, "inventory to see nodes and the puller pod", func() bool {
		return r.inv.EligibleNodes() == 4 && r.inv.HolderCount(scipy) == 2 && r.inv.HolderCount(pastCap) == 1
	})

	user := func(name, image string) *builder.PodWrapper {
		return builder.MakeUserPod(name, hubNS, "alice").Container("notebook", image).InitContainer("block-cloud-metadata", "jupyterhub/k8s-network-tools:4.0.0")
	}
	netTools := "docker.io/jupyterhub/k8s-network-tools:4.0.0"
	// The webhook reports each admission of a user pod with how many
	// images it names; the pod is learned once it exists (the puller).
	admitted := func(pod string, images ...string) []imageset.Admission {
		return []imageset.Admission{{Namespace: hubNS, Name: pod, Images: len(images)}}
	}
	userOwn := &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
		RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
			MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "kubernetes.io/os", Operator: corev1.NodeSelectorOpIn, Values: []string{"linux"}}},
		}}},
		PreferredDuringSchedulingIgnoredDuringExecution: []corev1.PreferredSchedulingTerm{{Weight: 7, Preference: corev1.NodeSelectorTerm{
			MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "zone", Operator: corev1.NodeSelectorOpIn, Values: []string{"a"}}},
		}}},
	}}
	withOwnTerm := userOwn.DeepCopy()
	withOwnTerm.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution = append(withOwnTerm.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution,
		ownTerm(corev1.NodeSelectorOpIn, "node-a", "node-b"))

	cases := []struct {
		name           string
		pod            *corev1.Pod
		dryRun         bool
		wantImage      string // the first container's image after admission; "" = as created
		wantAffinity   *corev1.Affinity
		wantAnnotation string // prepuller.dev/steered; "" = absent
		wantAdmissions []imageset.Admission
	}{{
		name:           "singleuser pod steered toward the status.images holders",
		pod:            user("jupyter-alice", "jupyter/scipy-notebook:2024").Obj(),
		wantAffinity:   &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []corev1.PreferredSchedulingTerm{ownTerm(corev1.NodeSelectorOpIn, "node-a", "node-b")}}},
		wantAnnotation: "2/4 nodes hold " + scipy,
		wantAdmissions: admitted("jupyter-alice", netTools, scipy),
	}, {
		name:           "image known only from the puller pod",
		pod:            user("jupyter-alice--past", pastCap).Obj(),
		wantAffinity:   &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []corev1.PreferredSchedulingTerm{ownTerm(corev1.NodeSelectorOpIn, "node-c")}}},
		wantAnnotation: "1/4 nodes hold " + pastCap,
		wantAdmissions: admitted("jupyter-alice--past", netTools, pastCap),
	}, {
		name:           "the pod's own affinity is kept",
		pod:            user("jupyter-alice--own", "jupyter/scipy-notebook:2024").Affinity(userOwn).Obj(),
		wantAffinity:   withOwnTerm,
		wantAnnotation: "2/4 nodes hold " + scipy,
		wantAdmissions: admitted("jupyter-alice--own", netTools, scipy),
	}, {
		name:           "held nowhere: learned, not steered, nothing written",
		pod:            user("jupyter-alice--new", "quay.io/example/new:1").Obj(),
		wantAdmissions: admitted("jupyter-alice--new", netTools, "quay.io/example/new:1"),
	}, {
		// Another webhook changes the image after prepuller steered the
		// pod; the API server reinvokes prepuller, which replaces its own
		// term rather than adding a second one, and learns the new image.
		name: "reinvoked after another webhook changed the image",
		pod: user("jupyter-alice--rewritten", "jupyter/scipy-notebook:2024").
			Label(rewriteLabel, "true").Annotation(rewriteAnnotation, pastCap).Obj(),
		wantImage:      pastCap,
		wantAffinity:   &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []corev1.PreferredSchedulingTerm{ownTerm(corev1.NodeSelectorOpIn, "node-c")}}},
		wantAnnotation: "1/4 nodes hold " + pastCap,
		wantAdmissions: append(admitted("jupyter-alice--rewritten", netTools, scipy),
			admitted("jupyter-alice--rewritten", netTools, pastCap)...),
	}, {
		name: "non-matching pod is untouched",
		pod:  builder.MakePod("other", hubNS).Container("c", "jupyter/scipy-notebook:2024").Obj(),
	}, {
		name: "a user pod in prepuller's own namespace is untouched",
		pod:  builder.MakeUserPod("jupyter-alice", ownNS, "alice").Container("notebook", "jupyter/scipy-notebook:2024").Obj(),
	}, {
		name: "generateName pod: admitted under its prefix",
		pod: builder.MakePod("", hubNS).GenerateName("jupyter-").Label("component", "singleuser-server").
			Container("notebook", "jupyter/scipy-notebook:2024").Obj(),
		wantAffinity:   &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []corev1.PreferredSchedulingTerm{ownTerm(corev1.NodeSelectorOpIn, "node-a", "node-b")}}},
		wantAnnotation: "2/4 nodes hold " + scipy,
		// Not named yet: the admission carries the prefix; the pod counts
		// under the name the API server gives it, once it exists.
		wantAdmissions: []imageset.Admission{{Namespace: hubNS, GenerateName: "jupyter-", Images: 1}},
	}, {
		name:   "dry run is untouched and learns nothing",
		pod:    user("jupyter-alice--dry", "jupyter/scipy-notebook:2024").Obj(),
		dryRun: true,
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r.rec.Reset()
			var opts []client.CreateOption
			if tc.dryRun {
				opts = append(opts, client.DryRunAll)
			}
			got := tc.pod.DeepCopy()
			if err := k8s.Create(ctx, got, opts...); err != nil {
				t.Fatalf("creating pod: %v", err)
			}
			wantImage := tc.wantImage
			if wantImage == "" {
				wantImage = tc.pod.Spec.Containers[0].Image
			}
			if got.Spec.Containers[0].Image != wantImage {
				t.Errorf("image = %q, want %q", got.Spec.Containers[0].Image, wantImage)
			}
			if diff := cmp.Diff(tc.wantAffinity, got.Spec.Affinity); diff != "" {
				t.Errorf("affinity (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantAnnotation, got.Annotations[webhook.AnnotationSteered]); diff != "" {
				t.Errorf("annotation %s (-want +got):\n%s", webhook.AnnotationSteered, diff)
			}
			if diff := cmp.Diff(tc.wantAdmissions, r.rec.Admissions(), cmpopts.EquateEmpty(), cmpopts.IgnoreFields(imageset.Admission{}, "Time")); diff != "" {
				t.Errorf("admissions (-want +got):\n%s", diff)
			}
		})
	}

	t.Run("webhook down: pods are still created (failurePolicy Ignore)", func(t *testing.T) {
		r.stop()
		pod := user("jupyter-alice--down", "jupyter/scipy-notebook:2024").Obj()
		start := time.Now()
		if err := k8s.Create(ctx, pod); err != nil {
			t.Fatalf("creating pod with the webhook down: %v", err)
		}
		t.Logf("created in %v with the webhook down", time.Since(start))
		if pod.Spec.Affinity != nil || pod.Annotations[webhook.AnnotationSteered] != "" {
			t.Errorf("pod was mutated with the webhook down: %v %v", pod.Spec.Affinity, pod.Annotations)
		}
	})
}
