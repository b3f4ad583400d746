package puller

import (
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"

	"prepuller.dev/prepuller/pkg/imageref"
	"prepuller.dev/prepuller/pkg/imageset"
	"prepuller.dev/prepuller/puller/policy"
)

// StaticRefs returns puller.staticImages normalized.
func (o Options) StaticRefs() ([]string, error) {
	var static []string
	for _, img := range o.StaticImages {
		n, err := imageref.Normalize(img)
		if err != nil {
			return nil, fmt.Errorf("puller.staticImages: %w", err)
		}
		static = append(static, n)
	}
	return static, nil
}

// Prepare brings a set to what the controller ranks at now: exactly the
// static images marked static (those not yet known added), and each
// image's size as nodes report it (sizeOf nil: sizes as saved). The
// controller calls it at every sync, the operator commands on a saved
// state, so that both rank the same set.
func Prepare(set *imageset.Set, static []string, sizeOf func(image string) (int64, bool), now time.Time) {
	set.SetStatic(static, now)
	if sizeOf == nil {
		return
	}
	for _, e := range set.Entries() {
		if size, ok := sizeOf(e.Image); ok {
			e.Size = size
		}
	}
}

// Rules are the ranking rules opts configure, with live the DaemonSet as
// it is (nil: none). The controller ranks with them, and the operator
// commands (prepuller status, await) evaluate a saved state with the same
// rules, so they report what the leader decides.
func (o Options) Rules(live *appsv1.DaemonSet) (imageset.Rules, error) {
	pol, err := policy.New(o.Allow, o.Deny)
	if err != nil {
		return imageset.Rules{}, fmt.Errorf("puller.allow/puller.deny: %w", err)
	}
	return o.rules(pol.Allowed, live), nil
}

func (o Options) rules(allowed func(image string) bool, live *appsv1.DaemonSet) imageset.Rules {
	return imageset.Rules{
		TTL:              o.TTL.Duration,
		MaxImages:        o.MaxImages,
		NodeByteBudget:   o.NodeByteBudget,
		MinUsers:         o.MinUsers,
		MaxImagesPerUser: o.MaxImagesPerUser,
		InDaemonSet:      daemonSetImages(live),
		Allowed:          allowed,
	}
}
