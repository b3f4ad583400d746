// Package image builds OCI images with no Docker daemon: prepuller's own
// image from source (make image, make e2e), and the test images make e2e
// serves from its loopback registry.
package image

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Where the binaries go, the user they run as and the default command: the
// same as the Dockerfile's, which the manifests (runAsUser 65532) and
// puller.image's no-op path (config: /usr/local/bin/prepuller-noop) rely on.
const (
	binDir  = "/usr/local/bin"
	nonroot = 65532
)

// Prepuller builds the two static programs of repo (cmd/prepuller and
// cmd/prepuller-noop) for linux/arch and returns the image holding them,
// FROM scratch: one layer with the binaries, a passwd entry for the
// nonroot user and an empty /tmp.
func Prepuller(ctx context.Context, repo, arch string) (v1.Image, error) {
	out, err := os.MkdirTemp("", "prepuller-image-")
	if err != nil {
		return nil, fmt.Errorf("building prepuller image: %w", err)
	}
	defer os.RemoveAll(out)
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", out+"/",
		"./cmd/prepuller", "./cmd/prepuller-noop")
	cmd.Dir = repo
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch)
	if msg, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("building prepuller image: go build: %w\n%s", err, msg)
	}
	files := []File{
		{name: "etc/passwd", mode: 0o644, data: []byte(fmt.Sprintf("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:%d:%d:nonroot:/home/nonroot:/sbin/nologin\n", nonroot, nonroot))},
		{name: "etc/group", mode: 0o644, data: []byte(fmt.Sprintf("root:x:0:\nnonroot:x:%d:\n", nonroot))},
		{name: "tmp/", mode: 0o1777, dir: true},
		{name: "home/nonroot/", mode: 0o700, dir: true, uid: nonroot},
	}
	for _, b := range []string{"prepuller", "prepuller-noop"} {
		data, err := os.ReadFile(filepath.Join(out, b))
		if err != nil {
			return nil, fmt.Errorf("building prepuller image: %w", err)
		}
		files = append(files, File{name: binDir[1:] + "/" + b, mode: 0o755, data: data})
	}
	layer, err := Layer(files)
	if err != nil {
		return nil, fmt.Errorf("building prepuller image: %w", err)
	}
	return Assemble(arch, []v1.Layer{layer}, v1.Config{
		User:       fmt.Sprintf("%d:%d", nonroot, nonroot),
		Entrypoint: []string{binDir + "/prepuller"},
		Cmd:        []string{"serve", "--config=/etc/prepuller/config.yaml"},
	})
}

// Assemble makes an OCI image of layers with config, for linux/arch.
func Assemble(arch string, layers []v1.Layer, config v1.Config) (v1.Image, error) {
	base := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	base = mutate.ConfigMediaType(base, types.OCIConfigJSON)
	img, err := mutate.AppendLayers(base, layers...)
	if err != nil {
		return nil, fmt.Errorf("assembling image: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("assembling image: %w", err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", arch
	cf.Config = config
	// A fixed time keeps the digest a function of the content.
	cf.Created = v1.Time{Time: time.Unix(0, 0).UTC()}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, fmt.Errorf("assembling image: %w", err)
	}
	return img, nil
}

// File is one entry of a layer.
type File struct {
	name string
	mode int64
	dir  bool
	uid  int
	data []byte
}

// Layer packs files into one OCI layer (gzip).
func Layer(files []File) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		h := &tar.Header{Name: f.name, Mode: f.mode, Uid: f.uid, Gid: f.uid, ModTime: time.Unix(0, 0)}
		if f.dir {
			h.Typeflag = tar.TypeDir
		} else {
			h.Typeflag = tar.TypeReg
			h.Size = int64(len(f.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	data := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	}, tarball.WithMediaType(types.OCILayer))
}
