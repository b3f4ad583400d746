// Package workload generates the simulator's JupyterHub workload from a
// seed: K images with Zipf popularity and sizes between MinSize and MaxSize,
// users arriving as a Poisson process, each starting one singleuser server
// for an exponentially distributed session, and nodes joining during the
// run. The same Config gives the same workload, so every arm of a
// comparison sees the same users in the same order.
package workload

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"time"
)

// Config is the workload's shape. Times are simulated.
type Config struct {
	Seed int64
	// Nodes is the node count at the end of the run, JoiningNodes of them
	// joining (autoscaled) during the measured window.
	Nodes        int
	JoiningNodes int
	// Images is K, the number of distinct images users start.
	Images int
	// Configured is how many of the most popular images the hub's
	// configuration lists (the singleuser image and the profile images);
	// the others are typed by users (unlisted_choice) and listed nowhere.
	Configured int
	// ZipfS is the Zipf exponent of image popularity: rank r is chosen with
	// probability proportional to 1/r^s.
	ZipfS            float64
	MinSize, MaxSize int64
	// ArrivalsPerMinute is the Poisson rate of server starts.
	ArrivalsPerMinute float64
	MeanSession       time.Duration
	// Warmup runs before the measured Duration; its starts are not counted.
	Warmup, Duration time.Duration
	// Burst, when it has users, is a course on top of the traffic above.
	Burst Burst
}

// Burst is a course: Users students start one image nobody has used
// before, uniformly within Window from At (simulated, from the start of
// the run). The image is not configured, so only learning it can help.
type Burst struct {
	Users      int
	At, Window time.Duration
}

// Default is the workload `make sim` runs. It was fixed before the first
// run and is not tuned per arm.
func Default() Config {
	return Config{
		Seed:              20261127,
		Nodes:             50,
		JoiningNodes:      10,
		Images:            30,
		Configured:        6,
		ZipfS:             1.0,
		MinSize:           500_000_000,
		MaxSize:           8_000_000_000,
		ArrivalsPerMinute: 6,
		MeanSession:       30 * time.Minute,
		Warmup:            10 * time.Minute,
		Duration:          20 * time.Minute,
	}
}

// Presets are the workloads `make sim` knows by name (-workload): the
// JupyterHub hub of Default and two that break "every image on every
// node" (issue "Placement that scales"):
//   - binder: a BinderHub, 2,000 images with a long tail (most launched
//     once or twice), short sessions, a high launch rate;
//   - workshop: Default's hub, warm, and a course of 60 students starting
//     one never-seen image within 2 minutes, 5 minutes into the measured
//     window.
func Presets() map[string]Config {
	binder := Default()
	binder.Images, binder.Configured = 2000, 3
	binder.ZipfS = 1.1
	binder.MinSize, binder.MaxSize = 500_000_000, 4_000_000_000
	binder.ArrivalsPerMinute, binder.MeanSession = 20, 10*time.Minute
	workshop := Default()
	workshop.Burst = Burst{Users: 60, At: workshop.Warmup + 5*time.Minute, Window: 2 * time.Minute}
	return map[string]Config{"z2jh": Default(), "binder": binder, "workshop": workshop}
}

// Validate reports every invalid field.
func (c Config) Validate() error {
	var errs []error
	if c.Nodes < 1 || c.JoiningNodes < 0 || c.JoiningNodes >= c.Nodes {
		errs = append(errs, fmt.Errorf("nodes %d, joining %d: need 0 <= joining < nodes", c.Nodes, c.JoiningNodes))
	}
	if c.Images < 1 || c.Configured < 1 || c.Configured > c.Images {
		errs = append(errs, fmt.Errorf("images %d, configured %d: need 1 <= configured <= images", c.Images, c.Configured))
	}
	if c.ZipfS <= 0 {
		errs = append(errs, fmt.Errorf("zipf exponent %g must be positive", c.ZipfS))
	}
	if c.MinSize <= 0 || c.MaxSize < c.MinSize {
		errs = append(errs, fmt.Errorf("image sizes %d..%d: need 0 < min <= max", c.MinSize, c.MaxSize))
	}
	if c.ArrivalsPerMinute <= 0 || c.MeanSession <= 0 || c.Duration <= 0 || c.Warmup < 0 {
		errs = append(errs, errors.New("arrival rate, mean session and duration must be positive, warmup not negative"))
	}
	if b := c.Burst; b.Users < 0 || (b.Users > 0 && (b.At < 0 || b.Window <= 0 || b.At+b.Window > c.Warmup+c.Duration)) {
		errs = append(errs, fmt.Errorf("burst of %d users at %s within %s: need a positive window inside the run", b.Users, b.At, b.Window))
	}
	return errors.Join(errs...)
}

// Image is one image users start.
type Image struct {
	Ref  string
	Size int64
	// Rank is its popularity rank, 1 the most popular.
	Rank int
	// Configured images are listed in the hub's configuration; the chart's
	// puller pulls exactly these.
	Configured bool
}

// Session is one user's server: started at Arrive, stopped at Leave.
type Session struct {
	User          string
	Image         int // index into Workload.Images
	Arrive, Leave time.Duration
	// Measured sessions arrive after the warm-up.
	Measured bool
	// Burst sessions are the course's (Config.Burst).
	Burst bool
}

// Join is a node joining the cluster.
type Join struct {
	Node string
	At   time.Duration
}

// Workload is everything an arm replays.
type Workload struct {
	Config       Config
	Images       []Image
	InitialNodes []string
	Joins        []Join
	Sessions     []Session
}

// Separate random streams, so changing one knob (say, the arrival rate)
// leaves the image sizes and node join times as they were.
const (
	streamSizes = iota + 1
	streamArrivals
	streamImages
	streamSessions
	streamJoins
	streamBurst
)

// Generate builds the workload for c.
func Generate(c Config) (Workload, error) {
	if err := c.Validate(); err != nil {
		return Workload{}, fmt.Errorf("workload: %w", err)
	}
	rng := func(stream uint64) *rand.Rand { return rand.New(rand.NewPCG(uint64(c.Seed), stream)) }
	w := Workload{Config: c}

	sizes := rng(streamSizes)
	lo, hi := math.Log(float64(c.MinSize)), math.Log(float64(c.MaxSize))
	for r := 1; r <= c.Images; r++ {
		img := Image{Rank: r, Configured: r <= c.Configured}
		// Log-uniform: as many 0.5-1 GB images as 4-8 GB ones.
		img.Size = int64(math.Exp(lo + sizes.Float64()*(hi-lo)))
		if img.Configured {
			img.Ref = fmt.Sprintf("quay.io/hub/profile-%02d:2026.11", r)
		} else {
			img.Ref = fmt.Sprintf("docker.io/user%02d/custom-env:v%d", r, r%3+1)
		}
		w.Images = append(w.Images, img)
	}

	initial := c.Nodes - c.JoiningNodes
	for i := range c.Nodes {
		name := fmt.Sprintf("user-node-%04d", i)
		if i < initial {
			w.InitialNodes = append(w.InitialNodes, name)
		}
	}
	joins := rng(streamJoins)
	for i := initial; i < c.Nodes; i++ {
		at := c.Warmup + time.Duration(joins.Float64()*float64(c.Duration))
		w.Joins = append(w.Joins, Join{Node: fmt.Sprintf("user-node-%04d", i), At: at.Round(time.Second)})
	}
	sort.Slice(w.Joins, func(i, j int) bool { return w.Joins[i].At < w.Joins[j].At })

	zipf := newZipf(c.Images, c.ZipfS)
	arrivals, images, sessions := rng(streamArrivals), rng(streamImages), rng(streamSessions)
	end := c.Warmup + c.Duration
	meanGap := float64(time.Minute) / c.ArrivalsPerMinute
	for t, n := time.Duration(0), 0; ; n++ {
		t += time.Duration(arrivals.ExpFloat64() * meanGap)
		if t >= end {
			break
		}
		length := time.Duration(sessions.ExpFloat64() * float64(c.MeanSession))
		w.Sessions = append(w.Sessions, Session{
			User:     fmt.Sprintf("user%05d", n),
			Image:    zipf.sample(images) - 1,
			Arrive:   t.Round(time.Millisecond),
			Leave:    (t + length).Round(time.Millisecond),
			Measured: t >= c.Warmup,
		})
	}
	if c.Burst.Users > 0 {
		addBurst(&w, rng(streamBurst), sizes.Float64(), lo, hi)
	}
	return w, nil
}

// addBurst adds the course's image and sessions, then orders all sessions
// by arrival again (SeenBefore and the replay count on it).
func addBurst(w *Workload, r *rand.Rand, u, lo, hi float64) {
	c := w.Config
	w.Images = append(w.Images, Image{
		Ref:  "quay.io/course/assignment:2026.12",
		Size: int64(math.Exp(lo + u*(hi-lo))),
		Rank: len(w.Images) + 1,
	})
	img := len(w.Images) - 1
	for i := range c.Burst.Users {
		at := c.Burst.At + time.Duration(r.Float64()*float64(c.Burst.Window))
		w.Sessions = append(w.Sessions, Session{
			User:     fmt.Sprintf("student%03d", i),
			Image:    img,
			Arrive:   at.Round(time.Millisecond),
			Leave:    (at + time.Duration(r.ExpFloat64()*float64(c.MeanSession))).Round(time.Millisecond),
			Measured: at >= c.Warmup,
			Burst:    true,
		})
	}
	sort.SliceStable(w.Sessions, func(i, j int) bool { return w.Sessions[i].Arrive < w.Sessions[j].Arrive })
}

// zipf samples ranks 1..n with probability proportional to 1/r^s.
type zipf struct{ cdf []float64 }

func newZipf(n int, s float64) zipf {
	cdf := make([]float64, n)
	sum := 0.0
	for r := 1; r <= n; r++ {
		sum += 1 / math.Pow(float64(r), s)
		cdf[r-1] = sum
	}
	for i := range cdf {
		cdf[i] /= sum
	}
	return zipf{cdf: cdf}
}

func (z zipf) sample(r *rand.Rand) int {
	u := r.Float64()
	return sort.SearchFloat64s(z.cdf, u) + 1
}

// ConfiguredShare is the probability that a start uses a configured image.
func (c Config) ConfiguredShare() float64 {
	z := newZipf(c.Images, c.ZipfS)
	return z.cdf[c.Configured-1]
}
