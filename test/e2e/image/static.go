package image

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Program builds one static Go program of repo (a package path such as
// ./test/e2e/pause) into an image FROM scratch that runs it as
// /program, as uid 65534.
func Program(ctx context.Context, repo, pkg, arch string) (v1.Image, error) {
	out, err := os.MkdirTemp("", "prepuller-program-")
	if err != nil {
		return nil, fmt.Errorf("building %s image: %w", pkg, err)
	}
	defer os.RemoveAll(out)
	bin := filepath.Join(out, "program")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin, pkg)
	cmd.Dir = repo
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch)
	if msg, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("building %s image: go build: %w\n%s", pkg, err, msg)
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		return nil, fmt.Errorf("building %s image: %w", pkg, err)
	}
	layer, err := Layer([]File{{name: "program", mode: 0o755, data: data}})
	if err != nil {
		return nil, fmt.Errorf("building %s image: %w", pkg, err)
	}
	return Assemble(arch, []v1.Layer{layer}, v1.Config{User: "65534:65534", Entrypoint: []string{"/program"}})
}
