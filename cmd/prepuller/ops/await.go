package ops

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"prepuller.dev/prepuller/pkg/imageref"
)

// Progress is how far the wanted images are from every eligible node.
type Progress struct {
	// Ready is the eligible nodes holding every wanted image.
	Ready    int
	Eligible int
	// Pending are the wanted images some eligible node lacks.
	Pending []string
}

func (p Progress) String() string {
	return fmt.Sprintf("%d/%d nodes, %d images pending", p.Ready, p.Eligible, len(p.Pending))
}

// Done: every eligible node holds every image, and there is an eligible
// node (no nodes is not done: nothing would have been pulled).
func (p Progress) Done() bool { return p.Eligible > 0 && len(p.Pending) == 0 }

// Wanted is the images await waits for: the given ones, normalized, or
// else the images the saved state says should be on every node (those the
// leader evaluates as active).
func Wanted(s *Snapshot, given []string) ([]string, error) {
	if len(given) > 0 {
		out := make([]string, 0, len(given))
		for _, g := range given {
			n, err := imageref.Normalize(g)
			if err != nil {
				return nil, fmt.Errorf("image %q: %w", g, err)
			}
			out = append(out, n)
		}
		return out, nil
	}
	ev := s.State.Evaluate(s.Now, s.Rules)
	out := make([]string, 0, len(ev.Active))
	for _, e := range ev.Active {
		out = append(out, e.Image)
	}
	return out, nil
}

// Measure computes progress toward images on the snapshot's nodes.
func Measure(s *Snapshot, images []string) Progress {
	p := Progress{Eligible: s.Inventory.EligibleNodes()}
	var holders [][]string
	for _, img := range images {
		h := s.Inventory.Holders(img)
		if len(h) < p.Eligible || p.Eligible == 0 {
			p.Pending = append(p.Pending, img)
		}
		holders = append(holders, h)
	}
	// A node is ready when every image's holders name it.
	count := map[string]int{}
	for _, h := range holders {
		for _, n := range h {
			count[n]++
		}
	}
	for _, c := range count {
		if c == len(images) {
			p.Ready++
		}
	}
	if len(images) == 0 {
		p.Ready = p.Eligible
	}
	slices.Sort(p.Pending)
	return p
}

// ErrTimeout is returned by Await when the images are not everywhere in
// time.
var ErrTimeout = errors.New("timed out")

// Await polls load every interval until Measure is done, calling report
// with each progress. The images are chosen once, at the first load, so a
// learned image arriving meanwhile does not move the goal.
func Await(ctx context.Context, load func(context.Context) (*Snapshot, error), given []string, interval time.Duration, report func(Progress)) (Progress, error) {
	var images []string
	var last Progress
	for first := true; ; first = false {
		s, err := load(ctx)
		switch {
		case err != nil && ctx.Err() != nil:
			return last, fmt.Errorf("%w: %s", ErrTimeout, last)
		case err != nil:
			return last, err
		}
		if first {
			if images, err = Wanted(s, given); err != nil {
				return last, err
			}
		}
		last = Measure(s, images)
		report(last)
		if last.Done() {
			return last, nil
		}
		select {
		case <-ctx.Done():
			return last, fmt.Errorf("%w: %s", ErrTimeout, last)
		case <-time.After(interval):
		}
	}
}

// ProgressPrinter writes progress lines: rewritten in place on a terminal,
// and on a pipe (a Helm hook's or CI log) one line per change, so the log
// does not fill with repeats.
type ProgressPrinter struct {
	w        io.Writer
	terminal bool
	last     string
}

// NewProgressPrinter writes to w; terminal rewrites the line in place.
func NewProgressPrinter(w io.Writer, terminal bool) *ProgressPrinter {
	return &ProgressPrinter{w: w, terminal: terminal}
}

// Report prints p unless it says what the last line said.
func (pp *ProgressPrinter) Report(p Progress) {
	line := p.String()
	if line == pp.last {
		return
	}
	pp.last = line
	if pp.terminal {
		fmt.Fprintf(pp.w, "\r\033[K%s", line)
		return
	}
	fmt.Fprintln(pp.w, line)
}

// Finish ends an in-place line.
func (pp *ProgressPrinter) Finish() {
	if pp.terminal && pp.last != "" {
		fmt.Fprintln(pp.w)
	}
}
