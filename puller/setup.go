package puller

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"prepuller.dev/prepuller/pkg/imageref"
	"prepuller.dev/prepuller/pkg/imageset"
	"prepuller.dev/prepuller/pkg/userpod"
	"prepuller.dev/prepuller/puller/policy"
)

// NodeInventory is what the puller needs from the node inventory (package
// pkg/inventory implements it).
type NodeInventory interface {
	// SizeOf returns an image's size as some node reports it.
	SizeOf(image string) (int64, bool)
	// HolderCount is the number of eligible nodes holding the image.
	HolderCount(image string) int
	// EligibleNodes is the number of nodes user pods may run on.
	EligibleNodes() int
}

// Deps are what Setup needs besides options.
type Deps struct {
	// Namespace is prepuller's namespace: the DaemonSet and state live there.
	Namespace string
	// Inventory may be nil (sizes and node shares are then unknown).
	Inventory NodeInventory
	// Clock is optional; nil uses the real clock.
	Clock clock.PassiveClock
	// UserPodSelector selects user pods in the manager's cache. Required:
	// pass the webhook's selector (webhook.podSelector), the one the cache
	// is configured with, so the puller and the webhook agree on what a
	// user pod is.
	UserPodSelector labels.Selector
	// Scope decides which user pods the watch learns from. Pass the
	// webhook's (webhook.Options.Scope), so that the watch leaves alone
	// exactly the pods the webhook leaves alone (other namespaces, the
	// prepuller.dev/skip opt-out). Nil: UserPodSelector in every namespace
	// but Namespace.
	Scope *userpod.Scope
}

// queueSize bounds the sightings waiting for the controller; the webhook
// never waits for room (see sightingQueue.Record).
const queueSize = 4096

// Setup adds the puller controller to the manager and returns the recorder
// the webhook reports sightings to. The controller runs only on the leader.
func Setup(mgr manager.Manager, opts Options, deps Deps) (imageset.Recorder, error) {
	c, err := newController(mgr, opts, deps)
	if err != nil {
		return nil, err
	}
	if err := mgr.Add(c); err != nil {
		return nil, fmt.Errorf("adding puller controller: %w", err)
	}
	return c.queue, nil
}

func newController(mgr manager.Manager, opts Options, deps Deps) (*controller, error) {
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("invalid puller options: %w", err)
	}
	if deps.Namespace == "" {
		return nil, fmt.Errorf("puller: namespace must not be empty")
	}
	pol, err := policy.New(opts.Allow, opts.Deny)
	if err != nil {
		return nil, fmt.Errorf("puller policy: %w", err)
	}
	userSel := deps.UserPodSelector
	if userSel == nil || userSel.Empty() {
		// Empty would make every pod in the cluster a user pod.
		return nil, fmt.Errorf("puller: a user pod selector is required")
	}
	scope := deps.Scope
	if scope == nil {
		scope = &userpod.Scope{Namespaces: userpod.NewNamespaces(nil, nil, deps.Namespace), Selector: userSel}
	}
	var static []string
	for _, img := range opts.StaticImages {
		n, err := imageref.Normalize(img)
		if err != nil {
			return nil, fmt.Errorf("puller.staticImages: %w", err)
		}
		static = append(static, n)
	}
	clk := deps.Clock
	if clk == nil {
		clk = clock.RealClock{}
	}
	return &controller{
		opts:      opts,
		ns:        deps.Namespace,
		inv:       deps.Inventory,
		clock:     clk,
		userSel:   userSel,
		scope:     scope,
		pullerSel: PodSelector(opts),
		policy:    pol,
		static:    static,
		client:    mgr.GetClient(),
		reader:    mgr.GetAPIReader(),
		cache:     mgr.GetCache(),
		events:    mgr.GetEventRecorder("prepuller-puller"),
		queue:     newSightingQueue(queueSize),
		wake:      make(chan struct{}, 1),
		warned:    map[string]bool{},
	}, nil
}

// CacheByObject is the manager cache configuration the puller needs besides
// pods: its own DaemonSet only, so that deleting or editing it wakes the
// controller without a cluster-wide DaemonSet watch. Merge it into
// cache.Options.ByObject.
func CacheByObject(opts Options, namespace string) map[client.Object]cache.ByObject {
	return map[client.Object]cache.ByObject{
		&appsv1.DaemonSet{}: {
			Namespaces: map[string]cache.Config{namespace: {}},
			Field:      fields.OneTermEqualSelector("metadata.name", opts.DaemonSetName),
		},
	}
}
