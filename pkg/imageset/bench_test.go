package imageset

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkEvaluate ranks 1000 learned images seen by 200 users, the work
// of one sync on a large hub.
func BenchmarkEvaluate(b *testing.B) {
	s := New()
	for i := 0; i < 1000; i++ {
		for u := 0; u < 1+i%7; u++ {
			s.Observe(Sighting{Image: fmt.Sprintf("docker.io/org/img%d:1", i), User: fmt.Sprintf("u%d", (i*7+u)%200), Namespace: "hub", Pod: fmt.Sprintf("p%d", u), Time: t0.Add(-time.Duration(i) * time.Minute)})
		}
	}
	r := Rules{TTL: 7 * 24 * time.Hour, MaxImages: 30, MinUsers: 2}
	b.ReportAllocs()
	for b.Loop() {
		s.Evaluate(t0, r)
	}
}
