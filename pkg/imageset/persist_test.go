package imageset

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestEncodeDecodeRoundTrip(t *testing.T) {
	s := build([]seen{{"a", "u1", 0}, {"a", "u2", time.Hour}, {"b", "u3", 2 * time.Hour}})
	s.Observe(Sighting{Image: "a", Namespace: "other", Pod: "p", User: "u4", PullSecrets: []string{"reg"}, PullPolicy: "Always", Time: t0})
	s.SetStatic([]string{"s"}, t0)
	s.SetRunning(map[string]int{"a": 2})
	s.Get("b").Size = 123
	s.MarkFailing("b", t0, Backoff{Initial: time.Minute, Max: time.Hour}, "ErrImagePull on 2 node(s)")
	added := t0.Add(time.Second)
	s.Get("a").AddedAt = &added

	data, shed, err := s.Encode(0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(Shed{}, shed); diff != "" {
		t.Errorf("shed without a limit (-want +got):\n%s", diff)
	}
	// Assembled from per-entry marshalling, it is still the plain document.
	plain, err := json.Marshal(persisted{Version: stateVersion, Images: s.Entries()})
	if err != nil {
		t.Fatal(err)
	}
	if string(data) != string(plain) {
		t.Errorf("encoded\n%s\nwant\n%s", data, plain)
	}
	got, err := Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(s.Entries(), got.Entries()); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	if s.Fingerprint() != got.Fingerprint() {
		t.Error("fingerprint changed across a round trip")
	}
}

func TestDecodeRejectsCorruptState(t *testing.T) {
	cases := map[string]struct {
		data string
		want string
	}{
		"not json":        {`{"version":1,"images":[`, "decoding image set: unexpected end of JSON input"},
		"wrong type":      {`{"version":1,"images":{}}`, "decoding image set: json: cannot unmarshal object"},
		"unknown version": {`{"version":7,"images":[]}`, "unsupported version 7"},
		"no version":      {`{}`, "unsupported version 0"},
		"no image":        {`{"version":1,"images":[{"image":""}]}`, "entry 0 has no image"},
		"null entry":      {`{"version":1,"images":[null]}`, "entry 0 has no image"},
		"duplicate":       {`{"version":1,"images":[{"image":"a"},{"image":"a"}]}`, `image "a" listed twice`},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			s, err := Decode([]byte(tc.data))
			if err == nil {
				t.Fatalf("decoded %d images, want an error", s.Len())
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
		})
	}
}

func TestEncodeShedsLeastValuableToFit(t *testing.T) {
	var sg []seen
	for i := 0; i < 40; i++ {
		sg = append(sg, seen{image: "img-" + string(rune('a'+i%26)) + string(rune('a'+i/26)), user: "u", ago: time.Duration(i) * time.Hour})
	}
	s := build(sg)
	full, _, _ := s.Encode(0, nil)
	active := map[string]bool{"img-nb": true} // the oldest, but pulled: kept
	data, shed, err := s.Encode(len(full)/2, active)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) > len(full)/2 {
		t.Fatalf("encoded %d bytes, limit %d", len(data), len(full)/2)
	}
	got, err := Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	if got.Get("img-nb") == nil {
		t.Error("an active image was shed")
	}
	if got.Get("img-aa") == nil {
		t.Error("the most recent image was shed before older ones")
	}
	if got.Len()+len(shed.Dropped) != s.Len() || len(shed.Dropped) == 0 {
		t.Errorf("kept %d and dropped %d of %d images", got.Len(), len(shed.Dropped), s.Len())
	}
	// Dropped oldest first: img-nb (39h) is active, so img-mb (38h) leads.
	if shed.Dropped[0] != "img-mb" {
		t.Errorf("dropped %v, want the least recently seen first", shed.Dropped)
	}
	if _, _, err := s.Encode(10, map[string]bool{"img-aa": true}); err == nil {
		t.Error("encoding active images over the limit succeeded, want an error")
	}
}

// When even the pulled images do not fit, their user and pod lists are cut
// to the most recent before Encode gives up.
func TestEncodeShrinksBigActiveEntries(t *testing.T) {
	s := New()
	for u := 0; u < maxUsers; u++ {
		for _, img := range []string{"a", "b"} {
			s.Observe(Sighting{Image: img, User: fmt.Sprintf("user-with-a-long-name-%02d", u), Namespace: "hub", Pod: fmt.Sprintf("jupyter-%02d", u), Time: t0.Add(time.Duration(u) * time.Minute)})
		}
	}
	s.Observe(Sighting{Image: "small", User: "u", Time: t0})
	active := map[string]bool{"a": true, "b": true, "small": true}
	full, _, _ := s.Encode(0, nil)
	limit := len(full) / 3
	data, shed, err := s.Encode(limit, active)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) > limit {
		t.Fatalf("encoded %d bytes, limit %d", len(data), limit)
	}
	if len(shed.Dropped) != 0 || shed.Shrunk == 0 {
		t.Errorf("shed %+v, want big entries shrunk and nothing dropped", shed)
	}
	got, err := Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	for _, img := range []string{"a", "b"} {
		e := got.Get(img)
		if e == nil || len(e.Users) == 0 || len(e.Users) >= maxUsers {
			t.Fatalf("%s: %+v, want fewer users, not none", img, e)
		}
		// The most recent user is kept.
		if _, ok := e.Users[fmt.Sprintf("user-with-a-long-name-%02d", maxUsers-1)]; !ok {
			t.Errorf("%s lost its most recent user", img)
		}
	}
	if len(s.Get("a").Users) != maxUsers {
		t.Error("encoding shrank the set itself, want only the document")
	}
	if _, _, err := s.Encode(200, active); err == nil {
		t.Error("encoding over the limit with one user each succeeded, want an error")
	}
}

// BenchmarkEncodeOverLimit sheds most of 2000 images: linear, not one
// marshal per removed image.
func BenchmarkEncodeOverLimit(b *testing.B) {
	s := New()
	for i := 0; i < 2000; i++ {
		for u := 0; u < 8; u++ {
			s.Observe(Sighting{Image: fmt.Sprintf("docker.io/org/img%d:1", i), User: fmt.Sprintf("u%d", u), Namespace: "hub", Pod: fmt.Sprintf("p%d", u), Time: t0.Add(-time.Duration(i) * time.Minute)})
		}
	}
	active := map[string]bool{"docker.io/org/img0:1": true}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := s.Encode(64*1024, active); err != nil {
			b.Fatal(err)
		}
	}
}
