// Package render builds the puller DaemonSet from the images to pull.
package render

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// namePrefix keeps pull containers apart from the install container and
// tells a reader what they are.
const namePrefix = "pull-"

// hashLen hex digits of the reference's SHA-256 end every name: enough that
// two of a few hundred images never collide in practice; ContainerNames
// lengthens them in the case they would.
const hashLen = 8

// longHashLen hex digits name images whose short names clash.
const longHashLen = 24

// ContainerName returns the init container name for a normalized image
// reference: "pull-" + the repository's last path segment and tag, made
// into a DNS-1123 label, + "-" + a short hash of the whole reference. It
// depends on the reference only, so the same image always gets the same
// name and re-rendering never renames (and so never rolls) containers.
func ContainerName(image string) string { return containerName(image, hashLen) }

func containerName(image string, n int) string {
	sum := sha256.Sum256([]byte(image))
	hash := hex.EncodeToString(sum[:])[:n]
	tail := image[strings.LastIndex(image, "/")+1:]
	tail = sanitize(tail)
	room := 63 - len(namePrefix) - 1 - n
	if len(tail) > room {
		tail = strings.TrimRight(tail[:room], "-")
	}
	if tail == "" {
		return namePrefix + hash
	}
	return namePrefix + tail + "-" + hash
}

// sanitize lowercases s, turns every run of characters outside [a-z0-9]
// into one "-", and trims dashes at both ends.
func sanitize(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
			dash = false
			continue
		}
		if !dash && b.Len() > 0 {
			b.WriteByte('-')
			dash = true
		}
	}
	return strings.TrimRight(b.String(), "-")
}

// ContainerNames names every image, unique within the list. Names are those
// of ContainerName, except that images whose short names clash get a
// longer hash, so one unlucky image never renames the others.
func ContainerNames(images []string) map[string]string {
	out := make(map[string]string, len(images))
	byName := map[string][]string{}
	for _, img := range images {
		name := ContainerName(img)
		out[img] = name
		byName[name] = append(byName[name], img)
	}
	for _, imgs := range byName {
		if len(imgs) > 1 {
			for _, img := range imgs {
				out[img] = containerName(img, longHashLen)
			}
		}
	}
	return out
}
