package puller

import (
	"fmt"

	"prepuller.dev/prepuller/pkg/imageset"
	"prepuller.dev/prepuller/puller/policy"
)

// Rules are the ranking rules opts configure. The controller ranks with
// them, and the operator commands (prepuller status, await) evaluate a
// saved state with the same rules, so they report what the leader decides.
func (o Options) Rules() (imageset.Rules, error) {
	pol, err := policy.New(o.Allow, o.Deny)
	if err != nil {
		return imageset.Rules{}, fmt.Errorf("puller.allow/puller.deny: %w", err)
	}
	return o.rules(pol.Allowed), nil
}

func (o Options) rules(allowed func(image string) bool) imageset.Rules {
	return imageset.Rules{
		TTL:              o.TTL.Duration,
		MaxImages:        o.MaxImages,
		NodeByteBudget:   o.NodeByteBudget,
		MinUsers:         o.MinUsers,
		MaxImagesPerUser: o.MaxImagesPerUser,
		Allowed:          allowed,
	}
}
