package imageset

import (
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

	data, err := s.Encode(0, nil)
	if err != nil {
		t.Fatal(err)
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
	full, _ := s.Encode(0, nil)
	active := map[string]bool{"img-nb": true} // the oldest, but pulled: kept
	data, err := s.Encode(len(full)/2, active)
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
	if got.Len() >= s.Len() {
		t.Errorf("kept %d of %d images, want fewer", got.Len(), s.Len())
	}
	if _, err := s.Encode(10, map[string]bool{"img-aa": true}); err == nil {
		t.Error("encoding active images over the limit succeeded, want an error")
	}
}
