package puller

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"

	"prepuller.dev/prepuller/pkg/imageset"
	"prepuller.dev/prepuller/puller/policy"
)

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
