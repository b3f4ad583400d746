package imageset

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// With KubeSpawner's enable_user_namespaces every user has a namespace, and
// pull secrets are copied into each. The state must still fit the
// controller's limit (puller's maxStateBytes) when every image is pulled,
// so nothing can be dropped: the per-namespace secrets have to be bounded.
func TestEncodeFitsWithManyUserNamespaces(t *testing.T) {
	const maxStateBytes = 900 * 1024 // puller/sync.go
	cases := map[string]struct {
		images, namespaces int
		// observed images are seen in every namespace; the others copy
		// their entries, which is what observing them would give, in a
		// fraction of the time (300,000 sightings take seconds with -race).
		observed int
	}{
		"30 images, 10,000 namespaces": {images: 30, namespaces: 10000, observed: 30},
		// puller.MaxMaxImages: the most images the options allow.
		"200 images, 10,000 namespaces": {images: 200, namespaces: 10000, observed: 2},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			s := New()
			images := make([]string, tc.images)
			active := map[string]bool{}
			for i := range images {
				images[i] = fmt.Sprintf("registry.example.org/research-group/notebook-image-%03d:2026.12.02-abcdef0", i)
				active[images[i]] = true
			}
			for n := 0; n < tc.namespaces; n++ {
				user := fmt.Sprintf("firstname-lastname-%05d", n)
				for _, img := range images[:tc.observed] {
					s.Observe(Sighting{
						Image: img, Namespace: "jupyterhub-" + user, Pod: "jupyter-" + user, User: user,
						PullSecrets: []string{"registry-credentials"}, Time: t0.Add(time.Duration(n) * time.Second),
					})
				}
			}
			for i, img := range images[tc.observed:] {
				c := *s.Get(images[i%tc.observed])
				c.Image = img
				s.entries[img] = &c
			}
			data, shed, err := s.Encode(maxStateBytes, active)
			if err != nil {
				t.Fatalf("state cannot be saved: %v", err)
			}
			if len(data) > maxStateBytes {
				t.Fatalf("encoded %d bytes, limit %d", len(data), maxStateBytes)
			}
			got, err := Decode(data)
			if err != nil {
				t.Fatal(err)
			}
			if got.Len() != tc.images || len(shed.Dropped) != 0 {
				t.Errorf("kept %d of %d pulled images (dropped %v)", got.Len(), tc.images, shed.Dropped)
			}
			t.Logf("%d bytes, %d entries shrunk", len(data), shed.Shrunk)
		})
	}
}

// A state saved before pull secrets were bounded (no secretsSeen, one key
// per namespace) still loads, and saves under the limit again.
func TestOldUnboundedStateLoadsAndFits(t *testing.T) {
	const maxStateBytes = 900 * 1024
	var doc strings.Builder
	doc.WriteString(`{"version":1,"images":[`)
	active := map[string]bool{}
	for i := 0; i < 30; i++ {
		img := fmt.Sprintf("registry.example.org/group/notebook-%02d:v1", i)
		active[img] = true
		if i > 0 {
			doc.WriteByte(',')
		}
		fmt.Fprintf(&doc, `{"image":%q,"firstSeen":"2026-01-01T00:00:00Z","lastSeen":"2026-01-02T00:00:00Z","users":{"alice":"2026-01-02T00:00:00Z"},"pods":1,"running":0,"pullSecrets":{"hub":["hub-cred"]`, img)
		for n := 0; n < 2000; n++ {
			fmt.Fprintf(&doc, `,"jupyterhub-user-%04d":["registry-credentials"]`, n)
		}
		doc.WriteString(`}}`)
	}
	doc.WriteString(`]}`)
	if doc.Len() <= maxStateBytes {
		t.Fatalf("old state is %d bytes; the test needs one over the limit", doc.Len())
	}

	s, err := Decode([]byte(doc.String()))
	if err != nil {
		t.Fatalf("old state does not load: %v", err)
	}
	if s.Len() != 30 || len(s.Get("registry.example.org/group/notebook-00:v1").PullSecrets) != 2001 {
		t.Fatalf("loaded %d images", s.Len())
	}
	// Saved as loaded: Encode cuts the namespaces in the document.
	data, _, err := s.Encode(maxStateBytes, active)
	if err != nil {
		t.Fatalf("old state cannot be saved again: %v", err)
	}
	if len(data) > maxStateBytes {
		t.Fatalf("encoded %d bytes, limit %d", len(data), maxStateBytes)
	}
	// Once the controller names its namespace, every entry is trimmed in
	// memory and keeps that namespace's secrets, with no times known.
	s.SetOwnNamespace("hub")
	for _, e := range s.Entries() {
		if len(e.PullSecrets) != maxSecretNamespaces+1 {
			t.Errorf("%s keeps %d namespaces, want %d", e.Image, len(e.PullSecrets), maxSecretNamespaces+1)
		}
		if diff := cmp.Diff([]string{"hub-cred"}, e.PullSecrets["hub"]); diff != "" {
			t.Errorf("%s own secrets (-want +got):\n%s", e.Image, diff)
		}
		if diff := cmp.Diff([]string{"registry-credentials"}, e.ForeignSecrets("hub")); diff != "" {
			t.Errorf("%s foreign secrets (-want +got):\n%s", e.Image, diff)
		}
	}
}

func TestPullSecretBounds(t *testing.T) {
	type sighting struct {
		ns      string
		secrets []string
		at      int // seconds after t0
	}
	many := func(prefix string, n int) []string {
		var out []string
		for i := 0; i < n; i++ {
			out = append(out, fmt.Sprintf("%s%02d", prefix, i))
		}
		return out
	}
	cases := map[string]struct {
		own       string
		sightings []sighting
		want      map[string][]string
		foreign   []string
	}{
		"own namespace kept however old": {
			own: "hub",
			sightings: append([]sighting{{"hub", []string{"hub-cred"}, 0}},
				func() []sighting {
					var s []sighting
					for i := 0; i < maxSecretNamespaces+3; i++ {
						s = append(s, sighting{fmt.Sprintf("user-%02d", i), []string{"cred"}, 10 + i})
					}
					return s
				}()...),
			want: map[string][]string{
				"hub": {"hub-cred"}, "user-03": {"cred"}, "user-04": {"cred"}, "user-05": {"cred"}, "user-06": {"cred"},
				"user-07": {"cred"}, "user-08": {"cred"}, "user-09": {"cred"}, "user-10": {"cred"},
			},
			foreign: []string{"cred"},
		},
		"most recent namespaces kept, a re-seen one moves up": {
			sightings: func() []sighting {
				var s []sighting
				for i := 0; i < maxSecretNamespaces; i++ {
					s = append(s, sighting{fmt.Sprintf("user-%02d", i), []string{fmt.Sprintf("c%d", i)}, i})
				}
				return append(s, sighting{"user-00", []string{"c0"}, 100}, sighting{"user-new", []string{"cn"}, 101})
			}(),
			want: map[string][]string{
				"user-00": {"c0"}, "user-02": {"c2"}, "user-03": {"c3"}, "user-04": {"c4"}, "user-05": {"c5"},
				"user-06": {"c6"}, "user-07": {"c7"}, "user-new": {"cn"},
			},
			foreign: []string{"c0", "c2", "c3", "c4", "c5", "c6", "c7", "cn"},
		},
		"names per namespace bounded, the latest pod's first": {
			own: "hub",
			sightings: []sighting{
				{"hub", many("old-", maxSecretNames), 0},
				{"hub", []string{"new", "", "new"}, 1},
			},
			want:    map[string][]string{"hub": append([]string{"new"}, many("old-", maxSecretNames-1)...)},
			foreign: nil,
		},
		"no names, no entry": {
			sightings: []sighting{{"hub", nil, 0}, {"user", []string{""}, 1}},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			s := New()
			s.SetOwnNamespace(tc.own)
			for _, sg := range tc.sightings {
				s.Observe(Sighting{Image: "img", Namespace: sg.ns, Pod: "p", PullSecrets: sg.secrets, Time: t0.Add(time.Duration(sg.at) * time.Second)})
			}
			e := s.Get("img")
			if diff := cmp.Diff(tc.want, e.PullSecrets, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("pull secrets (-want +got):\n%s", diff)
			}
			if len(e.SecretsSeen) != len(e.PullSecrets) {
				t.Errorf("times for %d namespaces, secrets for %d", len(e.SecretsSeen), len(e.PullSecrets))
			}
			if diff := cmp.Diff(tc.foreign, e.ForeignSecrets(tc.own), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("foreign secrets (-want +got):\n%s", diff)
			}
		})
	}
}
