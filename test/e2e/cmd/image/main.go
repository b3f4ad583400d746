// Command image builds prepuller's image from source with no Docker daemon
// (make image): both static programs in one layer FROM scratch, the same
// paths, user, entrypoint and command as the Dockerfile. It pushes to a
// registry (credentials from ~/.docker/config.json, as docker login writes
// them) or writes a tarball that docker load, podman load and ctr import
// read.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"prepuller.dev/prepuller/test/e2e/image"
)

func main() {
	push := flag.String("push", "", "push the image to this reference (e.g. ghcr.io/you/prepuller:dev)")
	tar := flag.String("tarball", "", "write the image to this file (docker load format); the tag is -tag")
	tag := flag.String("tag", "ghcr.io/prepuller/prepuller:dev", "the image name inside the tarball")
	arch := flag.String("arch", runtime.GOARCH, "GOARCH to build for")
	repo := flag.String("repo", ".", "the prepuller source tree")
	flag.Parse()
	if err := run(context.Background(), *push, *tar, *tag, *arch, *repo); err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, push, tar, tag, arch, repo string) error {
	if push == "" && tar == "" {
		return fmt.Errorf("give -push REF or -tarball FILE")
	}
	img, err := image.Prepuller(ctx, repo, arch)
	if err != nil {
		return err
	}
	digest, err := img.Digest()
	if err != nil {
		return err
	}
	if push != "" {
		ref, err := name.ParseReference(push)
		if err != nil {
			return fmt.Errorf("parsing -push: %w", err)
		}
		if err := remote.Write(ref, img, remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain)); err != nil {
			return fmt.Errorf("pushing %s: %w", ref, err)
		}
		fmt.Printf("pushed %s@%s\n", ref.Context(), digest)
	}
	if tar != "" {
		t, err := name.NewTag(tag)
		if err != nil {
			return fmt.Errorf("parsing -tag: %w", err)
		}
		if err := tarball.WriteToFile(tar, t, img); err != nil {
			return fmt.Errorf("writing %s: %w", tar, err)
		}
		fmt.Printf("wrote %s (%s@%s)\n", tar, t, digest)
	}
	return nil
}
