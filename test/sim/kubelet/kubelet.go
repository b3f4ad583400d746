// Package kubelet is the simulator's kubelet: for every pod bound to a node
// it runs the init containers one after another and then the containers,
// pulling each missing image from a per-node image store (one pull at a
// time, a fixed cost plus image size / bandwidth), and it keeps
// node.status.images as kubelet does (largest first, capped). kwok only
// keeps the nodes Ready.
//
// Containers do no work: starting one costs a fixed ContainerStart, and a
// container "runs" once its image is on the node and that time has passed.
//
// A running pod's container image may be changed in place (prepuller's
// placed puller pods): the kubelet then pulls the new image through the
// same queue as every other pull, restarts that one container and reports
// it running the new image with its restart count raised, as a real
// kubelet does.
package kubelet

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	toolscache "k8s.io/client-go/tools/cache"

	"prepuller.dev/prepuller/test/sim/vclock"
)

// Options shape every simulated node.
type Options struct {
	Clock *vclock.Clock
	// Bandwidth is each node's pull bandwidth in bytes per simulated second.
	Bandwidth float64
	// PullOverhead is every pull's fixed cost on top of size / bandwidth
	// (simulated; see RealPullOverhead).
	PullOverhead time.Duration
	// ContainerStart is what creating and starting a container costs once
	// its image is on the node, and for an init container running it to
	// its exit (simulated; see RealContainerStart).
	ContainerStart time.Duration
	// DiskBytes is each node's image disk; 0 turns image GC off.
	DiskBytes int64
	// MaxStatusImages caps node.status.images (kubelet's nodeStatusMaxImages).
	MaxStatusImages int
	// StatusPeriod is how often, in simulated time, changed image lists are
	// written to node.status.images.
	StatusPeriod time.Duration
	// Size returns an image's size in bytes.
	Size func(image string) int64
	// Pinned images are on every node from the start and never collected
	// (the pause image).
	Pinned []string
	// OnStarted is called once per pod when all its containers run.
	OnStarted func(Start)
	// OnRestarted is called when a container runs the new image of an
	// in-place update.
	OnRestarted func(Restart)
	Log         logr.Logger
}

// Start is what a pod waited for on its node.
type Start struct {
	Namespace, Name, Node string
	Labels                map[string]string
	// Seen is when the kubelet first saw the pod bound to the node; Running
	// when its last image was on disk (both simulated).
	Seen, Running time.Duration
	// Missing are the pod's images the node lacked when the kubelet saw it
	// (being pulled counts as lacking).
	Missing []string
}

// Restart is a container restarted in place for a new image.
type Restart struct {
	Namespace, Name, Node, Container string
	Old, New                         string
	// Seen is when the pod worker took the new spec (after the pod first
	// ran, and after any earlier restart), Running when the container ran
	// the new image (simulated).
	Seen, Running time.Duration
}

// NodeStats is one node's pull accounting.
type NodeStats struct {
	Node        string
	PulledBytes int64
	Pulls       int
	Collected   int
	Images      int
}

// Kubelet simulates kubelets for every node in the cluster.
type Kubelet struct {
	opts Options
	cs   kubernetes.Interface

	mu     sync.Mutex
	stores map[string]*store
	pods   map[types.UID]*podRun
	podIPs int

	// Bounds the API calls the simulated nodes make outside pod workers
	// (deletion confirmations, node status). Each real kubelet makes its
	// own calls in parallel with the others; making them one after
	// another here would queue every node behind the slowest call.
	calls chan struct{}
}

// The real kubelet 1.37.2 with containerd 1.6 as make e2e measured it
// (docs/benchmarks.md, "Real nodes" and "The simulated kubelet against the
// real one"); the simulator's arms use these.
const (
	// RealStatusPeriod: the kubelet refreshes the image list that
	// node.status.images carries every 30 s, whatever its node status
	// period; a small image pulled 21.2 s into a run was listed at 48.2 s.
	RealStatusPeriod = 30 * time.Second
	// RealPullOverhead: the kubelet's Pulled events gave 0.26 s for 4.9 MB
	// and 1.72 s for 101 MB from a loopback registry, about 0.2-0.9 s a
	// pull whatever its size (manifest, config, snapshot) plus the bytes.
	RealPullOverhead = 500 * time.Millisecond
	// RealContainerStart: a puller pod's consecutive init containers
	// finished 3.0 s apart in four of five runs (12.1, 15.1, 18.2 s; 11.6,
	// 14.6, 17.6 s), 3.3-4.2 s at a load average of 15, of which the pulls
	// were 0.3-1.3 s: about 2.5 s per init container to start, run the
	// no-op and be seen exited. The same 3.0 s at load averages 3 and 8
	// points at the kubelet's own sync cadence more than at CPU.
	RealContainerStart = 2500 * time.Millisecond
)

// apiParallelism is how many of those calls are in flight at once.
const apiParallelism = 32

type podRun struct {
	cancel context.CancelFunc
	done   chan struct{}
	// images are the containers' images in the last spec seen; updates
	// carries a spec whose images differ to the pod worker (the latest
	// only: a worker that is still pulling skips the specs in between).
	images  []string
	updates chan *corev1.Pod
}

// New makes a kubelet; Run starts it.
func New(cs kubernetes.Interface, opts Options) *Kubelet {
	if opts.MaxStatusImages == 0 {
		opts.MaxStatusImages = 50
	}
	if opts.StatusPeriod == 0 {
		opts.StatusPeriod = RealStatusPeriod
	}
	return &Kubelet{opts: opts, cs: cs, stores: map[string]*store{}, pods: map[types.UID]*podRun{}, calls: make(chan struct{}, apiParallelism)}
}

// Run watches pods bound to nodes until ctx ends.
func (k *Kubelet) Run(ctx context.Context) error {
	f := informers.NewSharedInformerFactoryWithOptions(k.cs, 0, informers.WithTweakListOptions(func(o *metav1.ListOptions) {
		o.FieldSelector = fields.OneTermNotEqualSelector("spec.nodeName", "").String()
	}))
	inf := f.Core().V1().Pods().Informer()
	if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { k.observe(ctx, obj) },
		UpdateFunc: func(_, obj any) { k.observe(ctx, obj) },
		DeleteFunc: func(obj any) { k.forget(obj) },
	}); err != nil {
		return fmt.Errorf("watching pods: %w", err)
	}
	f.Start(ctx.Done())
	if !toolscache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		return fmt.Errorf("waiting for the pod cache: %w", ctx.Err())
	}
	go k.statusLoop(ctx)
	<-ctx.Done()
	f.Shutdown()
	return nil
}

// Stats returns every node's pull accounting so far.
func (k *Kubelet) Stats() []NodeStats {
	k.mu.Lock()
	defer k.mu.Unlock()
	out := make([]NodeStats, 0, len(k.stores))
	for name, s := range k.stores {
		s.mu.Lock()
		out = append(out, NodeStats{Node: name, PulledBytes: s.pulledBytes, Pulls: s.pullCount, Collected: s.gcCount, Images: len(s.images)})
		s.mu.Unlock()
	}
	return out
}

// AddNode makes a node's image store before any pod lands on it, so its
// status.images (the pinned images) is written early, like a fresh node's.
func (k *Kubelet) AddNode(name string) { k.store(name) }

func (k *Kubelet) store(node string) *store {
	k.mu.Lock()
	defer k.mu.Unlock()
	s := k.stores[node]
	if s == nil {
		pinned := map[string]int64{}
		for _, img := range k.opts.Pinned {
			pinned[img] = k.opts.Size(img)
		}
		s = newStore(k.opts.Bandwidth, k.opts.PullOverhead, k.opts.DiskBytes, pinned)
		k.stores[node] = s
	}
	return s
}

func (k *Kubelet) observe(ctx context.Context, obj any) {
	pod, ok := obj.(*corev1.Pod)
	if !ok || pod.Spec.NodeName == "" {
		return
	}
	if pod.DeletionTimestamp != nil {
		// The kubelet confirms a deletion once the containers are gone;
		// these have nothing to stop. Not in this event handler: under a
		// loaded API server a rollout's thousand deletes, one after
		// another, held every later pod event (new user pods among them)
		// for minutes.
		k.stop(pod.UID)
		ns, name, uid := pod.Namespace, pod.Name, pod.UID
		go k.call(ctx, func() {
			err := k.cs.CoreV1().Pods(ns).Delete(ctx, name, metav1.DeleteOptions{
				GracePeriodSeconds: new(int64),
				Preconditions:      &metav1.Preconditions{UID: &uid},
			})
			if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) && ctx.Err() == nil {
				k.opts.Log.Error(err, "confirming pod deletion", "pod", ns+"/"+name)
			}
		})
		return
	}
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return
	}
	k.mu.Lock()
	if run, running := k.pods[pod.UID]; running {
		if imgs := containerImages(pod); !slices.Equal(imgs, run.images) {
			run.images = imgs
			// Only observe sends, under k.mu: after the drain there is room.
			select {
			case <-run.updates:
			default:
			}
			run.updates <- pod.DeepCopy()
		}
		k.mu.Unlock()
		return
	}
	pctx, cancel := context.WithCancel(ctx)
	run := &podRun{cancel: cancel, done: make(chan struct{}), images: containerImages(pod), updates: make(chan *corev1.Pod, 1)}
	k.pods[pod.UID] = run
	k.podIPs++
	ip := fmt.Sprintf("10.%d.%d.%d", 64+k.podIPs>>16&63, k.podIPs>>8&255, k.podIPs&255)
	k.mu.Unlock()
	uid := pod.UID
	go func() {
		defer close(run.done)
		k.runPod(pctx, pod.DeepCopy(), ip, run.updates)
		// A finished worker leaves nothing behind: at 1,000 nodes the
		// entries (each with a pod copy waiting in updates) added up. A
		// later event for a pod still there starts a new worker.
		k.mu.Lock()
		if k.pods[uid] == run {
			delete(k.pods, uid)
		}
		k.mu.Unlock()
	}()
}

func containerImages(pod *corev1.Pod) []string {
	out := make([]string, len(pod.Spec.Containers))
	for i, c := range pod.Spec.Containers {
		out[i] = c.Image
	}
	return out
}

func (k *Kubelet) forget(obj any) {
	if t, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	if pod, ok := obj.(*corev1.Pod); ok {
		k.stop(pod.UID)
	}
}

func (k *Kubelet) stop(uid types.UID) {
	k.mu.Lock()
	run := k.pods[uid]
	k.mu.Unlock()
	if run != nil {
		run.cancel()
	}
}

// runPod is a pod worker: init containers in order, then containers, each
// after its image is on the node. Status is written after every pull. Once
// the pod runs, it applies in-place image updates until the pod goes.
func (k *Kubelet) runPod(ctx context.Context, pod *corev1.Pod, ip string, updates <-chan *corev1.Pod) {
	clock := k.opts.Clock
	st := k.store(pod.Spec.NodeName)
	seen := clock.Now()
	var images []string
	for _, c := range pod.Spec.InitContainers {
		images = append(images, c.Image)
	}
	for _, c := range pod.Spec.Containers {
		images = append(images, c.Image)
	}
	st.ref(images, seen)
	// Images stay in use until the pod is gone, completed containers
	// included: the images of a running puller pod are never collected.
	// (The closure reads images when it runs: a container restarted for
	// a new image has its entry replaced.)
	defer func() { st.unref(images, clock.Now()) }()

	start := Start{Namespace: pod.Namespace, Name: pod.Name, Node: pod.Spec.NodeName, Labels: pod.Labels, Seen: seen, Running: seen}
	for _, img := range images {
		if !st.has(img) && !contains(start.Missing, img) {
			start.Missing = append(start.Missing, img)
		}
	}

	w := newStatusWriter(pod, ip, seen)
	if err := k.patchStatus(ctx, pod, w.status(clock.Now())); err != nil {
		return
	}
	wait := func(img string) bool {
		p, isNew := st.ensure(img, k.opts.Size(img), clock.Now())
		if p == nil {
			return true
		}
		if isNew {
			time.AfterFunc(clock.Until(p.end), func() { st.finish(p) })
		}
		select {
		case <-p.done:
		case <-ctx.Done():
			return false
		}
		start.Running = max(start.Running, p.end)
		return true
	}
	// containerStart waits out a container's start (and an init
	// container's run to its exit) in simulated time.
	containerStart := func() bool {
		return k.opts.ContainerStart <= 0 || clock.SleepUntil(ctx, clock.Now()+k.opts.ContainerStart)
	}
	for i, c := range pod.Spec.InitContainers {
		if !st.has(c.Image) {
			if w.changed {
				if err := k.patchStatus(ctx, pod, w.status(clock.Now())); err != nil {
					return
				}
			}
			if !wait(c.Image) {
				return
			}
		}
		if !containerStart() {
			return
		}
		w.initDone(i, clock.Now())
	}
	for _, c := range pod.Spec.Containers {
		if !wait(c.Image) {
			return
		}
	}
	// The containers start together, after the last image.
	if len(pod.Spec.Containers) > 0 && !containerStart() {
		return
	}
	w.running(clock.Now())
	if err := k.patchStatus(ctx, pod, w.status(clock.Now())); err != nil {
		return
	}
	if k.opts.OnStarted != nil {
		k.opts.OnStarted(start)
	}
	running := containerImages(pod)
	for {
		var upd *corev1.Pod
		select {
		case <-ctx.Done():
			return
		case upd = <-updates:
		}
		changed := false
		for i, c := range upd.Spec.Containers {
			if i >= len(running) || c.Image == running[i] {
				continue
			}
			// A real kubelet kills the container, pulls the new image
			// (queued behind the node's other pulls) and starts it again.
			// The old image stays in use until then: it is not collected
			// in between.
			old, seen := running[i], clock.Now()
			st.ref([]string{c.Image}, seen)
			images = append(images, c.Image)
			if !wait(c.Image) || !containerStart() {
				return
			}
			st.unref([]string{old}, clock.Now())
			if j := slices.Index(images, old); j >= 0 {
				images = slices.Delete(images, j, j+1)
			}
			running[i] = c.Image
			w.restarted(i, c.Image)
			changed = true
			if k.opts.OnRestarted != nil {
				k.opts.OnRestarted(Restart{Namespace: pod.Namespace, Name: pod.Name, Node: pod.Spec.NodeName, Container: c.Name, Old: old, New: c.Image, Seen: seen, Running: clock.Now()})
			}
		}
		if changed {
			if err := k.patchStatus(ctx, pod, w.status(clock.Now())); err != nil {
				return
			}
		}
	}
}

func (k *Kubelet) patchStatus(ctx context.Context, pod *corev1.Pod, status corev1.PodStatus) error {
	data, err := json.Marshal(map[string]any{"status": status})
	if err != nil {
		return err
	}
	// A real kubelet keeps retrying a status it could not write; giving up
	// would leave the pod stuck for the rest of the run. Seen at 1,000
	// nodes, where the API server timed out a few writes.
	for attempt := 1; ; attempt++ {
		_, err = k.cs.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.MergePatchType, data, metav1.PatchOptions{}, "status")
		if err == nil || ctx.Err() != nil || apierrors.IsNotFound(err) {
			return err
		}
		if apierrors.IsInvalid(err) || apierrors.IsBadRequest(err) || apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err) {
			k.opts.Log.Error(err, "writing pod status", "pod", pod.Namespace+"/"+pod.Name)
			return err // a bug here: retrying would not help
		}
		if attempt == 1 || attempt%10 == 0 {
			k.opts.Log.Error(err, "writing pod status; retrying", "pod", pod.Namespace+"/"+pod.Name, "attempt", attempt)
		}
		// Backing off, with jitter, so that a thousand pod workers do not
		// retry in step against an API server that is already behind.
		delay := min(time.Second<<min(attempt-1, 5), 30*time.Second)
		delay += time.Duration(rand.Int64N(int64(delay)))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
	}
}

// statusLoop writes node.status.images of nodes whose image list changed,
// every StatusPeriod of simulated time.
func (k *Kubelet) statusLoop(ctx context.Context) {
	t := time.NewTicker(k.opts.Clock.Real(k.opts.StatusPeriod))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		k.mu.Lock()
		stores := make(map[string]*store, len(k.stores))
		for n, s := range k.stores {
			stores[n] = s
		}
		k.mu.Unlock()
		var wg sync.WaitGroup
		for node, s := range stores {
			if !s.takeDirty() {
				continue
			}
			data, err := json.Marshal(map[string]any{"status": map[string]any{"images": s.statusImages(k.opts.MaxStatusImages)}})
			if err != nil {
				continue
			}
			wg.Go(func() {
				k.call(ctx, func() {
					if _, err := k.cs.CoreV1().Nodes().Patch(ctx, node, types.MergePatchType, data, metav1.PatchOptions{}, "status"); err != nil {
						s.markDirty()
						if !apierrors.IsNotFound(err) && ctx.Err() == nil {
							k.opts.Log.Error(err, "writing node images", "node", node)
						}
					}
				})
			})
		}
		// One round at a time: a node is never patched twice at once.
		wg.Wait()
	}
}

// call runs fn once a slot among apiParallelism is free.
func (k *Kubelet) call(ctx context.Context, fn func()) {
	select {
	case k.calls <- struct{}{}:
	case <-ctx.Done():
		return
	}
	defer func() { <-k.calls }()
	fn()
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
