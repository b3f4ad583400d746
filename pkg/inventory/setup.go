package inventory

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/manager"
)

// Options say which pods are the puller's and which nodes count.
type Options struct {
	// PullerNamespace and PullerPodSelector identify the puller DaemonSet's
	// pods, whose completed init containers prove an image is on a node.
	PullerNamespace   string
	PullerPodSelector labels.Selector
	// EligibleNodeSelector limits the nodes pods may be steered to and that
	// count in "k of n nodes hold it". Nil means every node.
	EligibleNodeSelector labels.Selector
}

// SetupWithManager feeds inv from the manager cache's Node and Pod informers.
// It adds event handlers only, so it runs on every replica: each replica's
// webhook answers from its own inventory.
func SetupWithManager(mgr manager.Manager, inv *Inventory, opts Options) error {
	if opts.PullerNamespace == "" {
		return fmt.Errorf("setting up node inventory: puller namespace is empty")
	}
	if opts.PullerPodSelector == nil || opts.PullerPodSelector.Empty() {
		return fmt.Errorf("setting up node inventory: puller pod selector is empty (it would count every pod in %s)", opts.PullerNamespace)
	}
	if opts.EligibleNodeSelector == nil {
		opts.EligibleNodeSelector = labels.Everything()
	}
	inv.mu.Lock()
	inv.opts = opts
	inv.mu.Unlock()

	// The cache is not started yet; do not wait for a sync that would only
	// happen after Start.
	ctx := context.Background()
	nodes, err := mgr.GetCache().GetInformer(ctx, &corev1.Node{}, cache.BlockUntilSynced(false))
	if err != nil {
		return fmt.Errorf("setting up node inventory: getting Node informer: %w", err)
	}
	if _, err := nodes.AddEventHandler(NodeHandler(inv)); err != nil {
		return fmt.Errorf("setting up node inventory: adding Node handler: %w", err)
	}
	pods, err := mgr.GetCache().GetInformer(ctx, &corev1.Pod{}, cache.BlockUntilSynced(false))
	if err != nil {
		return fmt.Errorf("setting up node inventory: getting Pod informer: %w", err)
	}
	if _, err := pods.AddEventHandler(PodHandler(inv, opts)); err != nil {
		return fmt.Errorf("setting up node inventory: adding Pod handler: %w", err)
	}
	return nil
}

// NodeHandler keeps inv in step with Node events.
func NodeHandler(inv *Inventory) toolscache.ResourceEventHandler {
	return toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { upsertNode(inv, obj) },
		UpdateFunc: func(_, obj any) { upsertNode(inv, obj) },
		DeleteFunc: func(obj any) {
			if n, ok := untomb(obj).(*corev1.Node); ok {
				inv.DeleteNode(n.Name)
			}
		},
	}
}

func upsertNode(inv *Inventory, obj any) {
	if n, ok := obj.(*corev1.Node); ok {
		inv.UpsertNode(n)
	}
}

// PodHandler keeps inv in step with the puller's pods. The Pod informer also
// carries user pods (the webhook's cache); they are ignored here.
func PodHandler(inv *Inventory, opts Options) toolscache.ResourceEventHandler {
	isPuller := func(p *corev1.Pod) bool {
		return p.Namespace == opts.PullerNamespace && opts.PullerPodSelector.Matches(labels.Set(p.Labels))
	}
	upsert := func(obj any) {
		p, ok := obj.(*corev1.Pod)
		if !ok {
			return
		}
		if isPuller(p) {
			inv.UpsertPullerPod(p)
		} else if p.Namespace == opts.PullerNamespace {
			// Relabelled out of the selector: what it reported no longer counts.
			inv.DeletePullerPod(p.Namespace + "/" + p.Name)
		}
	}
	return toolscache.ResourceEventHandlerFuncs{
		AddFunc:    upsert,
		UpdateFunc: func(_, obj any) { upsert(obj) },
		DeleteFunc: func(obj any) {
			if p, ok := untomb(obj).(*corev1.Pod); ok && p.Namespace == opts.PullerNamespace {
				inv.DeletePullerPod(p.Namespace + "/" + p.Name)
			}
		},
	}
}

func untomb(obj any) any {
	if t, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		return t.Obj
	}
	return obj
}

// StripNode is a cache transform for Nodes that keeps only what the
// inventory reads: name, labels, unschedulable, the Ready condition and the
// names and sizes of status.images. A Node object is mostly managed fields,
// annotations, capacity and conditions; in a 5,000-node cluster that is
// hundreds of megabytes the cache would otherwise hold.
func StripNode(obj any) (any, error) {
	n, ok := obj.(*corev1.Node)
	if !ok {
		return obj, nil // e.g. a tombstone; leave it alone
	}
	out := &corev1.Node{TypeMeta: n.TypeMeta, ObjectMeta: identity(n.ObjectMeta)}
	out.Spec.Unschedulable = n.Spec.Unschedulable
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			out.Status.Conditions = []corev1.NodeCondition{{Type: c.Type, Status: c.Status}}
			break
		}
	}
	if len(n.Status.Images) > 0 {
		out.Status.Images = make([]corev1.ContainerImage, len(n.Status.Images))
		for i, ci := range n.Status.Images {
			out.Status.Images[i] = corev1.ContainerImage{Names: ci.Names, SizeBytes: ci.SizeBytes}
		}
	}
	return out, nil
}

var _ toolscache.TransformFunc = StripNode

// identity is the metadata a stripped object keeps: what names it, its
// version (the informer compares them) and its labels.
func identity(m metav1.ObjectMeta) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: m.Name, Namespace: m.Namespace, UID: m.UID, ResourceVersion: m.ResourceVersion, Labels: m.Labels}
}
