package puller

import (
	"context"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"prepuller.dev/prepuller/pkg/imageref"
	"prepuller.dev/prepuller/pkg/imageset"
	"prepuller.dev/prepuller/pkg/userpod"
)

type queue = workqueue.TypedRateLimitingInterface[reconcile.Request]

// userPodHandler is the watch on user pods, the only way an image enters
// the learned set: a pod the API server shows exists. A new pod confirms
// its admission and is learned at the next reconcile even if it is gone by
// the time the cache is listed; any change wakes the reconciler.
func (r *reconciler) userPodHandler() handler.TypedEventHandler[*corev1.Pod, reconcile.Request] {
	return handler.TypedFuncs[*corev1.Pod, reconcile.Request]{
		CreateFunc: func(_ context.Context, e event.TypedCreateEvent[*corev1.Pod], q queue) {
			if r.learnable(e.Object) {
				r.admissions.confirm(e.Object)
			}
			q.Add(r.key())
		},
		UpdateFunc: func(_ context.Context, _ event.TypedUpdateEvent[*corev1.Pod], q queue) { q.Add(r.key()) },
		DeleteFunc: func(_ context.Context, _ event.TypedDeleteEvent[*corev1.Pod], q queue) { q.Add(r.key()) },
	}
}

// wakeHandler maps every event on T to the one key.
func wakeHandler[T client.Object](key reconcile.Request) handler.TypedEventHandler[T, reconcile.Request] {
	return handler.TypedFuncs[T, reconcile.Request]{
		CreateFunc:  func(_ context.Context, _ event.TypedCreateEvent[T], q queue) { q.Add(key) },
		UpdateFunc:  func(_ context.Context, _ event.TypedUpdateEvent[T], q queue) { q.Add(key) },
		DeleteFunc:  func(_ context.Context, _ event.TypedDeleteEvent[T], q queue) { q.Add(key) },
		GenericFunc: func(_ context.Context, _ event.TypedGenericEvent[T], q queue) { q.Add(key) },
	}
}

// isPullerPod filters the shared cache's pods to the puller's: the cache
// holds only those today, but the reconciler must not depend on it.
func (r *reconciler) isPullerPod(p *corev1.Pod) bool {
	return p.Namespace == r.ns && r.pullerSel.Matches(labels.Set(p.Labels))
}

// isOwnDaemonSet filters the leader's cache of DaemonSets (every one in
// prepuller's namespace) to the puller's two.
func (r *reconciler) isOwnDaemonSet(ds *appsv1.DaemonSet) bool {
	return ds.Namespace == r.ns && (ds.Name == r.opts.DaemonSetName || ds.Name == PlacedName(r.opts))
}

// learnable: a live user pod prepuller looks at. Pods the webhook leaves
// alone (other namespaces, not user pods, the prepuller.dev/skip opt-out)
// are left alone here too.
func (r *reconciler) learnable(p *corev1.Pod) bool {
	return p.Namespace != r.ns && r.scope.CheckPod(p) == userpod.In && p.DeletionTimestamp == nil &&
		p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed
}

// observeConfirmed learns the pods the watch saw created since the last
// reconcile, each once.
func (r *reconciler) observeConfirmed(now time.Time) {
	for _, c := range r.admissions.take() {
		t := c.seen
		if t.After(now) {
			t = now
		}
		sightings, _ := PodSightings(c.pod, t, r.norm, r.opts.MaxImagesPerPod)
		for _, s := range sightings {
			r.set.Observe(s)
		}
	}
}

// learn observes the live user pods among pods and rebuilds what only live
// pods say: how many run each image, and whether any of them asks for
// imagePullPolicy Always.
func (r *reconciler) learn(pods []corev1.Pod, now time.Time) {
	running := map[string]int{}
	always := map[string]bool{}
	counted := make(map[types.UID]bool, len(pods))
	for i := range pods {
		p := &pods[i]
		if !r.learnable(p) {
			continue
		}
		counted[p.UID] = true
		sightings, refused := PodSightings(p, now, r.norm, r.opts.MaxImagesPerPod)
		if refused > 0 && !r.counted[p.UID] {
			r.refusePodImages(p, len(sightings), refused)
		}
		for _, s := range sightings {
			if r.counted[p.UID] {
				// Seen at an earlier sync: refresh the user, but do
				// not count the pod again once it has left the
				// entry's bounded list of recent pods.
				s.Pod = ""
			}
			r.set.Observe(s)
			running[s.Image]++
			if s.PullPolicy == corev1.PullAlways {
				always[s.Image] = true
			}
		}
	}
	r.counted = counted
	r.set.SetRunning(running)
	// Observe keeps the pull policy of the newest sighting, but every pod
	// of one sync is seen at the same instant, so the first pod listed
	// would win and the DaemonSet's policy would flip with list order.
	// Decide from all live pods instead: Always if any asks for it.
	for img := range running {
		if e := r.set.Get(img); e != nil {
			e.PullAlways = always[img]
		}
	}
}

// PodSightings returns one sighting per distinct image of a user pod that
// exists, at most limit of them (no bound if limit is not positive), and
// how many more images the pod names: init and regular containers and the
// prepuller.dev/extra-images annotation, normalized, listed exactly as the
// webhook lists them (userpod.AppendImages), so a pod's own containers
// come before what it asks for. Invalid references are skipped: the pod cannot start with
// them either.
func PodSightings(p *corev1.Pod, now time.Time, norm *imageref.Cache, limit int) ([]imageset.Sighting, int) {
	images, _ := userpod.PodImages(p, norm)
	if len(images) == 0 {
		return nil, 0
	}
	refused := 0
	if limit > 0 && len(images) > limit {
		refused = len(images) - limit
		images = images[:limit]
	}
	var secrets []string
	for _, s := range p.Spec.ImagePullSecrets {
		secrets = append(secrets, s.Name)
	}
	user := userpod.User(p.Namespace, p.Name, p.Annotations, p.Labels)
	out := make([]imageset.Sighting, 0, len(images))
	for _, img := range images {
		out = append(out, imageset.Sighting{
			Image: img.Ref, Namespace: p.Namespace, Pod: p.Name, User: user,
			PullSecrets: secrets, PullPolicy: img.PullPolicy, Time: now,
		})
	}
	return out, refused
}

// refusePodImages says, once per pod, that it names more images than one
// pod may contribute: a Warning Event on the pod (its owner sees it in
// kubectl describe) and prepuller_puller_images_refused_total.
func (r *reconciler) refusePodImages(p *corev1.Pod, learned, refused int) {
	r.m.refused.WithLabelValues(refusedPodLimit).Add(float64(refused))
	r.events.Eventf(p, nil, corev1.EventTypeWarning, ReasonPodImagesLimited, "Learn",
		"Pod names %d images; prepuller learns the first %d (puller.maxImagesPerPod) and ignores %d", learned+refused, learned, refused)
}
