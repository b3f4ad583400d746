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

// The named workloads generate, and have the shapes their names promise.
func TestPresets(t *testing.T) {
	presets := Presets()
	for _, name := range []string{"z2jh", "binder", "workshop"} {
		if _, ok := presets[name]; !ok {
			t.Fatalf("no preset %q", name)
		}
	}
	binder, err := Generate(presets["binder"])
	if err != nil {
		t.Fatal(err)
	}
	launches := map[int]int{}
	for _, s := range binder.Sessions {
		launches[s.Image]++
	}
	rare := 0
	for _, n := range launches {
		if n <= 2 {
			rare++
		}
	}
	if len(launches) < 200 || rare*2 < len(launches) {
		t.Errorf("binder: %d distinct images launched, %d of them once or twice; want a long tail (>= 200, most rare)", len(launches), rare)
	}

	c := presets["workshop"]
	shop, err := Generate(c)
	if err != nil {
		t.Fatal(err)
	}
	hub, err := Generate(Default())
	if err != nil {
		t.Fatal(err)
	}
	var background []Session
	course := len(shop.Images) - 1
	students := 0
	for i, s := range shop.Sessions {
		if i > 0 && s.Arrive < shop.Sessions[i-1].Arrive {
			t.Fatalf("sessions not in arrival order at %d", i)
		}
		if !s.Burst {
			background = append(background, s)
			if s.Image == course {
				t.Errorf("background session %s uses the course image", s.User)
			}
			continue
		}
		students++
		if s.Image != course || s.Arrive < c.Burst.At || s.Arrive > c.Burst.At+c.Burst.Window || !s.Measured {
			t.Errorf("student session %+v outside the course window", s)
		}
	}
	if students != c.Burst.Users {
		t.Errorf("%d students, want %d", students, c.Burst.Users)
	}
	if shop.Images[course].Configured {
		t.Error("the course image is configured; it must be new to the hub")
	}
	// The course comes on top of the hub's own traffic, unchanged.
	if diff := cmp.Diff(hub.Sessions, background); diff != "" {
		t.Errorf("background traffic differs from the default workload (-default +workshop):\n%s", diff)
	}
}
