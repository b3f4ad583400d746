// Package imageref turns the image strings users write into one canonical
// form, so that "jupyter/scipy-notebook" seen in one pod and
// "docker.io/jupyter/scipy-notebook:latest" seen in another are one image to
// learn, pull and look up on nodes.
package imageref

import (
	"fmt"
	"strings"

	"github.com/distribution/reference"
)

// Normalize returns the canonical form of an image reference: the registry
// and repository spelled out, ":latest" added when neither a tag nor a digest
// is given, and only the digest kept when both are (the digest is what the
// kubelet pulls in that case).
func Normalize(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", fmt.Errorf("empty image reference")
	}
	named, err := reference.ParseNormalizedNamed(s)
	if err != nil {
		return "", fmt.Errorf("invalid image reference %q: %w", s, err)
	}
	if digested, ok := named.(reference.Digested); ok {
		canonical, err := reference.WithDigest(reference.TrimNamed(named), digested.Digest())
		if err != nil {
			return "", fmt.Errorf("invalid image reference %q: %w", s, err)
		}
		return canonical.String(), nil
	}
	return reference.TagNameOnly(named).String(), nil
}
