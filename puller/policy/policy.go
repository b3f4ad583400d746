// Package policy decides which image references the puller may pull on
// every node. Anyone who can choose an image for their server could
// otherwise make every node download it.
package policy

import (
	"fmt"
	"path"
	"strings"
)

// Policy holds allow and deny patterns on normalized image references
// (see package imageref). A pattern uses path.Match syntax, where "*" does
// not cross "/"; a pattern ending in "**" also matches any suffix, so
// "docker.io/jupyter/**" allows every image under that organisation.
type Policy struct {
	allow []string
	deny  []string
}

// New checks the patterns and returns the policy. An empty allow list
// allows every image not denied.
func New(allow, deny []string) (*Policy, error) {
	for _, list := range [][]string{allow, deny} {
		for _, p := range list {
			if err := Check(p); err != nil {
				return nil, err
			}
		}
	}
	return &Policy{allow: allow, deny: deny}, nil
}

// Check reports whether a pattern is well formed.
func Check(pattern string) error {
	if pattern == "" {
		return fmt.Errorf("empty pattern")
	}
	if _, err := path.Match(strings.TrimSuffix(pattern, "**"), ""); err != nil {
		return fmt.Errorf("pattern %q: %w", pattern, err)
	}
	return nil
}

// Allowed reports whether the image may be pulled: it matches no deny
// pattern, and some allow pattern when there are any.
func (p *Policy) Allowed(image string) bool {
	for _, d := range p.deny {
		if match(d, image) {
			return false
		}
	}
	if len(p.allow) == 0 {
		return true
	}
	for _, a := range p.allow {
		if match(a, image) {
			return true
		}
	}
	return false
}

func match(pattern, image string) bool {
	if prefix, ok := strings.CutSuffix(pattern, "**"); ok {
		// The prefix may hold wildcards of its own, so try it against
		// every leading part of the image.
		for i := len(image); i >= 0; i-- {
			if ok, _ := path.Match(prefix, image[:i]); ok {
				return true
			}
		}
		return false
	}
	ok, _ := path.Match(pattern, image)
	return ok
}
