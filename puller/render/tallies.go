package render

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"

	"prepuller.dev/prepuller/pkg/imageset"
)

// TalliesAnnotation, on the DaemonSet (never its pod template), records
// how many distinct users each pulled image had and when it was last used,
// as the puller ranked them. It is the part of the state that must
// survive the state ConfigMap: a set rebuilt from the DaemonSet ranks its
// images as the lost one did, so a lost or corrupt state writes nothing
// (see docs/puller-state.md).
const TalliesAnnotation = "prepuller.dev/tallies"

// talliesVersion is the annotation's format. A reader refuses any other.
const talliesVersion = 1

// maxTalliesBytes bounds the annotation: the API server allows 256 KiB
// for all annotations together. 200 images (puller.maxImages at most)
// take about 30 KiB.
const maxTalliesBytes = 64 * 1024

type talliesDoc struct {
	Version int                       `json:"version"`
	Images  map[string]imageset.Tally `json:"images"`
}

// EncodeTallies renders the annotation's value: deterministic (images
// sorted, times in UTC to the second), so it changes only when a tally
// does.
func EncodeTallies(t map[string]imageset.Tally) (string, error) {
	doc := talliesDoc{Version: talliesVersion, Images: make(map[string]imageset.Tally, len(t))}
	for img, tl := range t {
		doc.Images[img] = imageset.Tally{Users: tl.Users, LastSeen: tl.LastSeen.UTC().Truncate(time.Second)}
	}
	out, err := json.Marshal(doc) // map keys are sorted
	if err != nil {
		return "", fmt.Errorf("encoding tallies: %w", err)
	}
	if len(out) > maxTalliesBytes {
		return "", fmt.Errorf("tallies of %d images take %d bytes, over %d", len(t), len(out), maxTalliesBytes)
	}
	return string(out), nil
}

// Tallies reads the annotation of a DaemonSet: nil, nil when it has none
// (a DaemonSet written before it existed, or by hand). Anyone who can edit
// the DaemonSet can write it, so it is checked like outside input: a
// value that is not a version 1 document of images with non-negative users
// is an error, and the caller recovers without tallies.
func Tallies(ds *appsv1.DaemonSet) (map[string]imageset.Tally, error) {
	if ds == nil {
		return nil, nil
	}
	v, ok := ds.Annotations[TalliesAnnotation]
	if !ok {
		return nil, nil
	}
	if len(v) > maxTalliesBytes {
		return nil, fmt.Errorf("annotation %s: %d bytes, over %d", TalliesAnnotation, len(v), maxTalliesBytes)
	}
	var doc talliesDoc
	dec := json.NewDecoder(strings.NewReader(v))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("annotation %s: %w", TalliesAnnotation, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("annotation %s: data after the document", TalliesAnnotation)
	}
	if doc.Version != talliesVersion {
		return nil, fmt.Errorf("annotation %s: version %d, want %d", TalliesAnnotation, doc.Version, talliesVersion)
	}
	var bad []string
	for img, t := range doc.Images {
		if img == "" || t.Users < 0 {
			bad = append(bad, fmt.Sprintf("%q", img))
		}
	}
	if len(bad) > 0 {
		sort.Strings(bad)
		return nil, fmt.Errorf("annotation %s: invalid entries %s", TalliesAnnotation, strings.Join(bad, ", "))
	}
	return doc.Images, nil
}
