package render

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"

	"prepuller.dev/prepuller/pkg/imageref"
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

// MaxTalliesBytes bounds the annotation: the API server allows 256 KiB
// for all annotations together. An image takes about 80 bytes besides its
// reference, which is at most about 400 bytes normalized: 200 images
// (puller.maxImages at most) of typical 60-byte references take 28 KiB,
// of the longest 95 KiB.
const MaxTalliesBytes = 128 * 1024

// ErrTalliesTooLarge is EncodeTallies' error when the tallies do not fit
// MaxTalliesBytes.
var ErrTalliesTooLarge = errors.New("tallies too large")

type talliesDoc struct {
	Version int                       `json:"version"`
	Images  map[string]imageset.Tally `json:"images"`
}

// EncodeTallies renders the annotation's value: deterministic (images
// sorted, times in UTC to the second), so it changes only when a tally
// does. Over MaxTalliesBytes it returns ErrTalliesTooLarge.
func EncodeTallies(t map[string]imageset.Tally) (string, error) {
	doc := talliesDoc{Version: talliesVersion, Images: make(map[string]imageset.Tally, len(t))}
	for img, tl := range t {
		doc.Images[img] = imageset.Tally{Users: tl.Users, LastSeen: tl.LastSeen.UTC().Truncate(time.Second)}
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)                // "<" as itself, not six bytes
	if err := enc.Encode(doc); err != nil { // map keys are sorted
		return "", fmt.Errorf("encoding tallies: %w", err)
	}
	out := bytes.TrimSuffix(b.Bytes(), []byte("\n"))
	if len(out) > MaxTalliesBytes {
		return "", fmt.Errorf("%w: %d images take %d bytes, over %d", ErrTalliesTooLarge, len(t), len(out), MaxTalliesBytes)
	}
	return string(out), nil
}

// Tallies reads the annotation of a DaemonSet: nil, nil when it has none
// (a DaemonSet written before it existed, or by hand). Anyone who can edit
// the DaemonSet can write it, so it is checked like outside input: a
// value that is not a version 1 document of normalized image references
// with non-negative users is an error, and the caller recovers without
// tallies.
func Tallies(ds *appsv1.DaemonSet) (map[string]imageset.Tally, error) {
	if ds == nil {
		return nil, nil
	}
	v, ok := ds.Annotations[TalliesAnnotation]
	if !ok {
		return nil, nil
	}
	if len(v) > MaxTalliesBytes {
		return nil, fmt.Errorf("annotation %s: %d bytes, over %d", TalliesAnnotation, len(v), MaxTalliesBytes)
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
		// Only what prepuller writes: a normalized reference is short
		// and plain, so what is read can be written back.
		if n, err := imageref.Normalize(img); err != nil || n != img || t.Users < 0 {
			bad = append(bad, fmt.Sprintf("%q", img))
		}
	}
	if len(bad) > 0 {
		sort.Strings(bad)
		more := ""
		if len(bad) > 3 {
			more = fmt.Sprintf(" and %d more", len(bad)-3)
			bad = bad[:3]
		}
		return nil, fmt.Errorf("annotation %s: not normalized image references or negative users: %s%s", TalliesAnnotation, strings.Join(bad, ", "), more)
	}
	return doc.Images, nil
}
