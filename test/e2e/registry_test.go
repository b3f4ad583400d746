package e2e

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"runtime"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"prepuller.dev/prepuller/test/cluster"
	"prepuller.dev/prepuller/test/e2e/image"
)

// registry is go-containerregistry's in-memory registry on loopback: the
// only place containerd pulls from.
type registry struct {
	host string // 127.0.0.1:port
	srv  *http.Server
}

func startRegistry() (*registry, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("registry listener: %w", err)
	}
	h := ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0)))
	r := &registry{host: l.Addr().String(), srv: &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}}
	go func() { _ = r.srv.Serve(l) }()
	return r, nil
}

func (r *registry) stop() { _ = r.srv.Close() }

func (r *registry) push(ctx context.Context, ref string, img v1.Image) error {
	t, err := name.ParseReference(ref)
	if err != nil {
		return fmt.Errorf("parsing %s: %w", ref, err)
	}
	if err := remote.Write(t, img, remote.WithContext(ctx)); err != nil {
		return fmt.Errorf("pushing %s: %w", ref, err)
	}
	return nil
}

// userImage is one notebook-like image: no shell, random layers, and the
// pause program at /pause so a user pod can run.
type userImage struct {
	Ref    string
	Layers int
	Bytes  int64 // compressed size of all layers
}

// testImages are the references pushImages pushed.
type testImages struct {
	pause     string
	prepuller string
	users     []userImage // several sizes, smallest first
	missing   string      // never pushed
	failover  string      // first used by TestLeaderFailover
	placed    string      // first used by TestDemandPlacementInPlace
}

// userImageOf is a runnable shell-less user image: random layers, then the
// pause program's layers as its entrypoint.
func userImageOf(layers int, size int64, pauseLayers []v1.Layer) (v1.Image, error) {
	img, err := image.ShellLess(layers, size)
	if err != nil {
		return nil, err
	}
	if img, err = mutate.AppendLayers(img, pauseLayers...); err != nil {
		return nil, err
	}
	return mutate.Config(img, v1.Config{Entrypoint: []string{"/program"}})
}

// Sizes of the user images: layers × bytes per layer (random, so
// incompressible).
var userImageShapes = []struct {
	name   string
	layers int
	size   int64
}{
	{"notebook-small", 1, 4 << 20},
	{"notebook-medium", 2, 12 << 20},
	{"notebook-large", 4, 24 << 20},
	// Pulled on one node first by a pod prepuller skips (TestSteering).
	{"notebook-steer", 1, 8 << 20},
}

func pushImages(ctx context.Context, r *registry) (testImages, error) {
	repo := cluster.RepoRoot()
	ti := testImages{
		pause:     r.host + "/pause:e2e",
		prepuller: r.host + "/prepuller:e2e",
		missing:   r.host + "/notebook-missing:v1",
		failover:  r.host + "/notebook-failover:v1",
	}
	pause, err := image.Program(ctx, repo, "./test/e2e/pause", runtime.GOARCH)
	if err != nil {
		return ti, err
	}
	if err := r.push(ctx, ti.pause, pause); err != nil {
		return ti, err
	}
	pp, err := image.Prepuller(ctx, repo, runtime.GOARCH)
	if err != nil {
		return ti, err
	}
	if err := r.push(ctx, ti.prepuller, pp); err != nil {
		return ti, err
	}
	pauseLayers, err := pause.Layers()
	if err != nil {
		return ti, err
	}
	for _, s := range userImageShapes {
		img, err := userImageOf(s.layers, s.size, pauseLayers)
		if err != nil {
			return ti, err
		}
		ref := fmt.Sprintf("%s/%s:v1", r.host, s.name)
		if err := r.push(ctx, ref, img); err != nil {
			return ti, err
		}
		m, err := img.Manifest()
		if err != nil {
			return ti, err
		}
		var total int64
		for _, l := range m.Layers {
			total += l.Size
		}
		ti.users = append(ti.users, userImage{Ref: ref, Layers: s.layers, Bytes: total})
	}
	placed, err := userImageOf(1, 6<<20, pauseLayers)
	if err != nil {
		return ti, err
	}
	ti.placed = r.host + "/notebook-placed:v1"
	if err := r.push(ctx, ti.placed, placed); err != nil {
		return ti, err
	}
	fo, err := image.ShellLess(1, 2<<20)
	if err != nil {
		return ti, err
	}
	if err := r.push(ctx, ti.failover, fo); err != nil {
		return ti, err
	}
	return ti, nil
}
