package workload

import (
	"math"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestGenerateIsDeterministic(t *testing.T) {
	a, err := Generate(Default())
	if err != nil {
		t.Fatal(err)
	}
	b, err := Generate(Default())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(a, b); diff != "" {
		t.Errorf("same seed, different workloads (-first +second):\n%s", diff)
	}
	c := Default()
	c.Seed++
	other, err := Generate(c)
	if err != nil {
		t.Fatal(err)
	}
	if cmp.Equal(a.Sessions, other.Sessions) {
		t.Error("a different seed gave the same sessions")
	}
}

// TestGenerateShape checks the properties the report relies on, for the
// default workload.
func TestGenerateShape(t *testing.T) {
	c := Default()
	w, err := Generate(c)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(w.InitialNodes)+len(w.Joins), c.Nodes; got != want {
		t.Errorf("nodes: %d, want %d", got, want)
	}
	for _, j := range w.Joins {
		if j.At < c.Warmup || j.At > c.Warmup+c.Duration {
			t.Errorf("node %s joins at %s, outside the measured window", j.Node, j.At)
		}
	}
	for _, img := range w.Images {
		if img.Size < c.MinSize || img.Size > c.MaxSize {
			t.Errorf("image %s size %d outside [%d, %d]", img.Ref, img.Size, c.MinSize, c.MaxSize)
		}
	}
	counts := make([]int, c.Images)
	configured := 0
	for i, s := range w.Sessions {
		counts[s.Image]++
		if w.Images[s.Image].Configured {
			configured++
		}
		if i > 0 && s.Arrive < w.Sessions[i-1].Arrive {
			t.Fatalf("session %d arrives before the one before it", i)
		}
		if s.Leave < s.Arrive {
			t.Errorf("session %s leaves before it arrives", s.User)
		}
		if s.Measured != (s.Arrive >= c.Warmup) {
			t.Errorf("session %s at %s: measured %v", s.User, s.Arrive, s.Measured)
		}
	}
	// Poisson: the count is within 4 standard deviations of the mean.
	mean := c.ArrivalsPerMinute * (c.Warmup + c.Duration).Minutes()
	if n := float64(len(w.Sessions)); n < mean-4*math.Sqrt(mean) || n > mean+4*math.Sqrt(mean) {
		t.Errorf("%v sessions, want about %v", n, mean)
	}
	if counts[0] <= counts[c.Images-1] {
		t.Errorf("rank 1 started %d times, rank %d %d times: not Zipf", counts[0], c.Images, counts[c.Images-1])
	}
	share := float64(configured) / float64(len(w.Sessions))
	if want := c.ConfiguredShare(); share < want-0.1 || share > want+0.1 {
		t.Errorf("configured share %.2f, want about %.2f", share, want)
	}
}

func TestValidate(t *testing.T) {
	cases := map[string]func(*Config){
		"all nodes join":     func(c *Config) { c.JoiningNodes = c.Nodes },
		"configured above K": func(c *Config) { c.Configured = c.Images + 1 },
		"no zipf exponent":   func(c *Config) { c.ZipfS = 0 },
		"sizes reversed":     func(c *Config) { c.MinSize, c.MaxSize = c.MaxSize, c.MinSize },
		"no duration":        func(c *Config) { c.Duration = 0 },
		"negative warmup":    func(c *Config) { c.Warmup = -time.Second },
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			c := Default()
			mutate(&c)
			if _, err := Generate(c); err == nil {
				t.Error("no error")
			}
		})
	}
}
