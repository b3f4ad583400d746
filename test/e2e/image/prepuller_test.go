package image

import (
	"archive/tar"
	"context"
	"io"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/mutate"
)

// TestPrepullerImage checks what the manifests and the puller rely on: both
// programs at their paths, executable, user 65532, the entrypoint and the
// default command of the Dockerfile.
func TestPrepullerImage(t *testing.T) {
	_, file, _, _ := runtime.Caller(0)
	repo := filepath.Join(filepath.Dir(file), "..", "..", "..")
	img, err := Prepuller(context.Background(), repo, runtime.GOARCH)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.Config.User != "65532:65532" || len(cf.Config.Entrypoint) != 1 || cf.Config.Entrypoint[0] != "/usr/local/bin/prepuller" {
		t.Errorf("config user %q entrypoint %v, want 65532:65532 and /usr/local/bin/prepuller", cf.Config.User, cf.Config.Entrypoint)
	}
	if cf.OS != "linux" || cf.Architecture != runtime.GOARCH {
		t.Errorf("platform %s/%s", cf.OS, cf.Architecture)
	}
	want := map[string]bool{"usr/local/bin/prepuller": false, "usr/local/bin/prepuller-noop": false, "etc/passwd": false}
	tr := tar.NewReader(mutate.Extract(img))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := want[h.Name]; ok {
			want[h.Name] = true
			if h.Name != "etc/passwd" && (h.Mode&0o111 == 0 || h.Size < 1<<20) {
				t.Errorf("%s: mode %o size %d, want an executable program", h.Name, h.Mode, h.Size)
			}
		}
	}
	for name, found := range want {
		if !found {
			t.Errorf("image lacks %s", name)
		}
	}
}
