package inventory

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"prepuller.dev/prepuller/pkg/userpod"
)

// UserPodOptions say which pods are user pods and which image steers them.
type UserPodOptions struct {
	// Scope is the webhook's and the puller's (userpod.Options.Scope).
	Scope *userpod.Scope
	// SteeringContainer is the webhook's steeringContainer.
	SteeringContainer string
	// BurstWindow is how long a pod's arrival counts towards its node
	// being busy with its image (see busySlack); zero: DefaultBurstWindow.
	BurstWindow time.Duration
	// Clock is optional; nil uses the real clock.
	Clock clock.PassiveClock
}

// SetupUserPods feeds inv the user pods bound to nodes, from a cache of
// its own that every replica starts: each replica's webhook leaves busy
// holders out of its terms (Presence), so each needs the counts. The
// cache holds user pods stripped to a few fields (StripUserPod); on the
// leader it is a second watch of the same pods beside the puller's, which
// keeps whole pods and runs on the leader only.
func SetupUserPods(mgr manager.Manager, inv *Inventory, opts UserPodOptions) error {
	if opts.Scope == nil {
		return fmt.Errorf("setting up user pod counts: no scope")
	}
	inv.mu.Lock()
	if opts.BurstWindow > 0 {
		inv.burstWindow = opts.BurstWindow
	}
	if opts.Clock != nil {
		inv.clock = opts.Clock
	}
	inv.mu.Unlock()
	podCfg := opts.Scope.PodCache()
	podCfg.Transform = StripUserPod
	c, err := cache.New(mgr.GetConfig(), cache.Options{
		Scheme:   mgr.GetScheme(),
		Mapper:   mgr.GetRESTMapper(),
		ByObject: map[client.Object]cache.ByObject{&corev1.Pod{}: podCfg},
	})
	if err != nil {
		return fmt.Errorf("setting up user pod counts: creating cache: %w", err)
	}
	pods, err := c.GetInformer(context.Background(), &corev1.Pod{}, cache.BlockUntilSynced(false))
	if err != nil {
		return fmt.Errorf("setting up user pod counts: getting Pod informer: %w", err)
	}
	if _, err := pods.AddEventHandler(UserPodHandler(inv, opts)); err != nil {
		return fmt.Errorf("setting up user pod counts: adding Pod handler: %w", err)
	}
	if err := mgr.Add(everyReplica{c}); err != nil {
		return fmt.Errorf("setting up user pod counts: adding cache: %w", err)
	}
	return nil
}

// everyReplica runs a cache on every replica, beside the webhook rather
// than before it: the manager waits for its cache group to sync before it
// starts the rest, and a slow list of every user pod must not keep a
// replica unready. Until the list arrives no holder is busy: steering as
// before the counts existed.
type everyReplica struct{ cache.Cache }

var _ manager.LeaderElectionRunnable = everyReplica{}

func (everyReplica) NeedLeaderElection() bool { return false }

// UserPodHandler keeps inv's user pod counts in step with Pod events.
func UserPodHandler(inv *Inventory, opts UserPodOptions) toolscache.ResourceEventHandler {
	upsert := func(obj any) {
		p, ok := obj.(*corev1.Pod)
		if !ok {
			return
		}
		inv.UpsertUserPod(p.Namespace+"/"+p.Name, p.Spec.NodeName, inv.steeringImage(p, opts), p.CreationTimestamp.Time)
	}
	return toolscache.ResourceEventHandlerFuncs{
		AddFunc:    upsert,
		UpdateFunc: func(_, obj any) { upsert(obj) },
		DeleteFunc: func(obj any) {
			if p, ok := untomb(obj).(*corev1.Pod); ok {
				inv.DeleteUserPod(p.Namespace + "/" + p.Name)
			}
		},
	}
}

// steeringImage is the normalized image a user pod counts for; "" when it
// counts for none: out of scope, finished, or without a valid image.
func (inv *Inventory) steeringImage(p *corev1.Pod, opts UserPodOptions) string {
	if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
		return ""
	}
	if opts.Scope.CheckPod(p) != userpod.In {
		return ""
	}
	raw, ok := userpod.SteeringImageOf(p, opts.SteeringContainer)
	if !ok {
		return ""
	}
	img, err := inv.norm.Normalize(raw)
	if err != nil {
		return ""
	}
	return img
}

// StripUserPod is a cache transform for user pods that keeps only what the
// counts read: name, namespace, labels, creation time, the opt-out
// annotation, the node, the phase and the containers' names and images.
func StripUserPod(obj any) (any, error) {
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return obj, nil // e.g. a tombstone; leave it alone
	}
	out := &corev1.Pod{TypeMeta: p.TypeMeta, ObjectMeta: identity(p.ObjectMeta)}
	out.CreationTimestamp = p.CreationTimestamp
	if v, ok := p.Annotations[userpod.AnnotationSkip]; ok {
		out.Annotations = map[string]string{userpod.AnnotationSkip: v}
	}
	out.Spec.NodeName = p.Spec.NodeName
	out.Status.Phase = p.Status.Phase
	out.Spec.Containers = make([]corev1.Container, len(p.Spec.Containers))
	for i, c := range p.Spec.Containers {
		out.Spec.Containers[i] = corev1.Container{Name: c.Name, Image: c.Image}
	}
	return out, nil
}

var _ toolscache.TransformFunc = StripUserPod
