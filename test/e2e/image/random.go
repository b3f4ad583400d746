package image

import (
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// ShellLess returns an image of random layers (layers of size bytes each,
// incompressible) with no shell and no program at all, like the notebook
// images make e2e stands in for: the puller must run its own no-op
// program in it.
func ShellLess(layers int, size int64) (v1.Image, error) {
	ls := make([]v1.Layer, 0, layers)
	for range layers {
		l, err := random.Layer(size, types.OCILayer)
		if err != nil {
			return nil, fmt.Errorf("random layer: %w", err)
		}
		ls = append(ls, l)
	}
	return Assemble("amd64", ls, v1.Config{Entrypoint: []string{"/no-such-program"}})
}
