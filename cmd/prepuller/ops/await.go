package ops

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"prepuller.dev/prepuller/pkg/imageref"
	"prepuller.dev/prepuller/pkg/imageset"
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
	switch {
	case !s.StateFound && s.DaemonSet == nil:
		// A wrong -n, or prepuller never ran: waiting for nothing would
		// pass a hook that checked nothing.
		return nil, fmt.Errorf("nothing to wait for in namespace %s: no puller state (ConfigMap %s) and no DaemonSet %s; is -n prepuller's namespace?",
			s.Config.Namespace, s.Config.Puller.StateConfigMapName, s.Config.Puller.DaemonSetName)
	case !s.StateFound:
		return append([]string(nil), s.Pulled...), nil
	}
	ev := s.State.Evaluate(s.Now, s.Rules)
	out := make([]string, 0, len(ev.Active))
	for _, e := range ev.Active {
		out = append(out, e.Image)
	}
	return out, nil
}

// quarantined returns the first of images the saved state quarantines,
// and why: it will not reach the nodes until its retry, so waiting for it
// only ends in the timeout.
func quarantined(s *Snapshot, images []string) (string, string) {
	if !s.StateFound {
		return "", ""
	}
	ev := s.State.Evaluate(s.Now, s.Rules)
	for _, img := range images {
		if d, ok := ev.Decisions[img]; ok && d.State == imageset.StateQuarantined {
			return img, d.Reason
		}
	}
	return "", ""
}

// permanent reports whether a failed read will fail again: the caller may
// not read (Forbidden, Unauthorized) or the request is wrong. Anything
// else (a timeout, the API server restarting) is retried until the
// deadline.
func permanent(err error) bool {
	return apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err) || apierrors.IsBadRequest(err) || apierrors.IsInvalid(err)
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
// with each progress. The images are chosen once, at the first good load,
// so a learned image arriving meanwhile does not move the goal. A read
// that fails is retried until the deadline, unless it cannot succeed
// (Forbidden, ...); an image that gets quarantined ends the wait with an
// error naming it.
func Await(ctx context.Context, load func(context.Context) (*Snapshot, error), given []string, interval time.Duration, report func(Progress)) (Progress, error) {
	var images []string
	var last Progress
	var lastErr error
	for chosen := false; ; {
		s, err := load(ctx)
		switch {
		case err != nil && ctx.Err() != nil:
			return last, timedOut(last, lastErr)
		case err != nil && permanent(err):
			return last, err
		case err != nil:
			lastErr = err
		case !chosen:
			if images, err = Wanted(s, given); err != nil {
				return last, err
			}
			chosen = true
		}
		if err == nil {
			lastErr = nil
			if img, why := quarantined(s, images); img != "" {
				return last, fmt.Errorf("image %s is quarantined (%s): it will not reach the nodes before its retry", img, why)
			}
			last = Measure(s, images)
			report(last)
			if last.Done() {
				return last, nil
			}
		}
		select {
		case <-ctx.Done():
			return last, timedOut(last, lastErr)
		case <-time.After(interval):
		}
	}
}

func timedOut(last Progress, lastErr error) error {
	if lastErr != nil {
		return fmt.Errorf("%w: %s; last error: %v", ErrTimeout, last, lastErr)
	}
	return fmt.Errorf("%w: %s", ErrTimeout, last)
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
