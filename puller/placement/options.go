// Package placement decides, for each learned image, how many nodes should
// hold it and which: every eligible node for the hottest, a few for the long
// tail, none (steer only) for images nobody is using or launching. It is a
// pure function of demand and of what the nodes hold; package puller turns
// its plan into slot images of the placed puller pods.
package placement

import (
	"errors"
	"fmt"
)

// Mode selects how learned images reach the nodes.
type Mode string

const (
	// ModeEverywhere pulls every learned image on every eligible node,
	// through the puller DaemonSet's init containers (one rollout per
	// change of the image set).
	ModeEverywhere Mode = "everywhere"
	// ModeDemand keeps only the configured images (puller.staticImages) in
	// the puller DaemonSet and places each learned image on as many nodes
	// as its demand needs, by changing the images of the placed puller
	// pods' slot containers in place: no puller pod is recreated.
	ModeDemand Mode = "demand"
)

// MaxSlotsPerNode bounds puller.placement.slotsPerNode: every slot is a
// running container on every node.
const MaxSlotsPerNode = 64

// Options configure placement (puller.placement in the configuration file).
type Options struct {
	// Mode is everywhere or demand.
	Mode Mode `json:"mode"`
	// SlotsPerNode is how many learned images one node's placed puller pod
	// holds at most. Changing it recreates the placed puller pods.
	SlotsPerNode int `json:"slotsPerNode"`
	// Headroom multiplies an image's share of the demand when its holder
	// count is computed: 2 gives an image with a tenth of the running and
	// launching users a fifth of the nodes, so its holders keep room for
	// its next users beside everyone else's.
	Headroom float64 `json:"headroom"`
	// MaxPodWritesPerSync bounds the placed puller pods patched in one
	// sync; the rest wait for the next (puller.writeInterval later).
	MaxPodWritesPerSync int `json:"maxPodWritesPerSync"`
}

// DefaultOptions returns the documented defaults.
func DefaultOptions() Options {
	return Options{
		Mode:                ModeEverywhere,
		SlotsPerNode:        8,
		Headroom:            2,
		MaxPodWritesPerSync: 100,
	}
}

// Validate reports every invalid field under the path prefix (for example
// "puller.placement").
func (o Options) Validate(prefix string) error {
	var errs []error
	switch o.Mode {
	case ModeEverywhere, ModeDemand:
	default:
		errs = append(errs, fmt.Errorf("%s.mode: %q must be %q or %q", prefix, o.Mode, ModeEverywhere, ModeDemand))
	}
	if o.SlotsPerNode < 1 || o.SlotsPerNode > MaxSlotsPerNode {
		errs = append(errs, fmt.Errorf("%s.slotsPerNode: %d must be between 1 and %d", prefix, o.SlotsPerNode, MaxSlotsPerNode))
	}
	if !(o.Headroom >= 1 && o.Headroom <= 100) {
		errs = append(errs, fmt.Errorf("%s.headroom: %v must be between 1 and 100", prefix, o.Headroom))
	}
	if o.MaxPodWritesPerSync < 1 {
		errs = append(errs, fmt.Errorf("%s.maxPodWritesPerSync: %d must be at least 1", prefix, o.MaxPodWritesPerSync))
	}
	return errors.Join(errs...)
}
