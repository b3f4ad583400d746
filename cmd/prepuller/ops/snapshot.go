// Package ops implements the operator commands (status, explain, await).
// They read only what prepuller publishes through the API: its config and
// state ConfigMaps, the puller DaemonSet and its pods, nodes'
// status.images and the leader Lease. They never talk to the process, so
// they work, and say so, when prepuller is not running.
package ops

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"prepuller.dev/prepuller/cmd/prepuller/config"
	"prepuller.dev/prepuller/pkg/imageset"
	"prepuller.dev/prepuller/pkg/inventory"
	"prepuller.dev/prepuller/pkg/userpod"
	"prepuller.dev/prepuller/puller"
	"prepuller.dev/prepuller/puller/render"
)

// ConfigMapName and ConfigKey are where the chart and the manifests put
// prepuller's configuration file.
const (
	ConfigMapName = "prepuller-config"
	ConfigKey     = "config.yaml"
)

// Snapshot is one read of everything prepuller publishes.
type Snapshot struct {
	Now    time.Time
	Config config.Config
	// ConfigFound is false when the config ConfigMap is missing; the
	// defaults are used then.
	ConfigFound bool
	// State is the saved image set; empty (never nil) when there is none.
	State      *imageset.Set
	StateFound bool
	DaemonSet  *appsv1.DaemonSet // nil when absent
	// Pulled are the images the DaemonSet pulls, in its order.
	Pulled    []string
	Inventory *inventory.Inventory
	// Scope is which pods are user pods, from Config.
	Scope *userpod.Scope
	Lease *coordinationv1.Lease // nil when absent
	Rules imageset.Rules
}

// Load reads the namespace's prepuller objects with c.
func Load(ctx context.Context, c client.Reader, namespace string, now time.Time) (*Snapshot, error) {
	s := &Snapshot{Now: now, Config: config.Default(), State: imageset.New()}
	s.Config.Namespace = namespace

	var cm corev1.ConfigMap
	switch err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: ConfigMapName}, &cm); {
	case apierrors.IsNotFound(err):
	case err != nil:
		return nil, fmt.Errorf("reading ConfigMap %s/%s: %w", namespace, ConfigMapName, err)
	default:
		if err := config.Parse([]byte(cm.Data[ConfigKey]), &s.Config); err != nil {
			return nil, fmt.Errorf("ConfigMap %s/%s key %s: %w", namespace, ConfigMapName, ConfigKey, err)
		}
		// The file may name another namespace only for a process that runs
		// elsewhere; the objects are where the ConfigMap is.
		s.Config.Namespace = namespace
		s.ConfigFound = true
	}
	scope, err := s.Config.UserPods.Scope(namespace)
	if err != nil {
		return nil, fmt.Errorf("userPods: %w", err)
	}
	s.Scope = scope

	if err := s.loadState(ctx, c); err != nil {
		return nil, err
	}
	var ds appsv1.DaemonSet
	switch err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: s.Config.Puller.DaemonSetName}, &ds); {
	case apierrors.IsNotFound(err):
	case err != nil:
		return nil, fmt.Errorf("reading DaemonSet %s/%s: %w", namespace, s.Config.Puller.DaemonSetName, err)
	default:
		s.DaemonSet = &ds
		s.Pulled = render.Images(&ds)
	}
	// The live DaemonSet is part of the rules: its images win ties.
	if s.Rules, err = s.Config.Puller.Rules(s.DaemonSet); err != nil {
		return nil, err
	}

	s.Inventory = inventory.NewWithOptions(inventory.Options{EligibleNodeSelector: scope.EligibleNodes})
	var nodes corev1.NodeList
	if err := c.List(ctx, &nodes); err != nil {
		return nil, fmt.Errorf("listing nodes: %w", err)
	}
	for i := range nodes.Items {
		s.Inventory.UpsertNode(&nodes.Items[i])
	}
	var pods corev1.PodList
	if err := c.List(ctx, &pods, client.InNamespace(namespace),
		client.MatchingLabelsSelector{Selector: puller.PodSelector(s.Config.Puller)}); err != nil {
		return nil, fmt.Errorf("listing puller pods: %w", err)
	}
	for i := range pods.Items {
		s.Inventory.UpsertPullerPod(&pods.Items[i])
	}
	// What the leader does to the set before it ranks it.
	static, err := s.Config.Puller.StaticRefs()
	if err != nil {
		return nil, err
	}
	puller.Prepare(s.State, static, s.Inventory.SizeOf, now)

	if s.Config.LeaderElection.Enabled {
		var l coordinationv1.Lease
		switch err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: s.Config.LeaderElection.ID}, &l); {
		case apierrors.IsNotFound(err):
		case err != nil:
			return nil, fmt.Errorf("reading Lease %s/%s: %w", namespace, s.Config.LeaderElection.ID, err)
		default:
			s.Lease = &l
		}
	}
	return s, nil
}

func (s *Snapshot) loadState(ctx context.Context, c client.Reader) error {
	name := s.Config.Puller.StateConfigMapName
	var cm corev1.ConfigMap
	switch err := c.Get(ctx, client.ObjectKey{Namespace: s.Config.Namespace, Name: name}, &cm); {
	case apierrors.IsNotFound(err):
		return nil
	case err != nil:
		return fmt.Errorf("reading state ConfigMap %s/%s: %w", s.Config.Namespace, name, err)
	}
	set, err := imageset.Decode([]byte(cm.Data[puller.StateKey]))
	if err != nil {
		return fmt.Errorf("state ConfigMap %s/%s: %w", s.Config.Namespace, name, err)
	}
	s.State, s.StateFound = set, true
	return nil
}

// Leader says who holds the Lease and whether it is current: a Lease not
// renewed within its duration means no replica leads (prepuller is not
// running, or cannot reach the API server).
func (s *Snapshot) Leader() (holder string, current bool) {
	if s.Lease == nil || s.Lease.Spec.HolderIdentity == nil || *s.Lease.Spec.HolderIdentity == "" {
		return "", false
	}
	holder = *s.Lease.Spec.HolderIdentity
	if s.Lease.Spec.RenewTime == nil || s.Lease.Spec.LeaseDurationSeconds == nil {
		return holder, false
	}
	expiry := s.Lease.Spec.RenewTime.Add(time.Duration(*s.Lease.Spec.LeaseDurationSeconds) * time.Second)
	return holder, s.Now.Before(expiry)
}

// LastWrite is the latest time a manager wrote the DaemonSet's spec or
// metadata, from its managed fields; zero when unknown. Status updates
// (the DaemonSet controller's, many a minute) are not writes of prepuller.
func (s *Snapshot) LastWrite() time.Time {
	var t time.Time
	if s.DaemonSet == nil {
		return t
	}
	for _, f := range s.DaemonSet.ManagedFields {
		if f.Subresource == "" && f.Time != nil && f.Time.After(t) {
			t = f.Time.Time
		}
	}
	return t
}
