package puller

import (
	"testing"
	"time"
)

// The first event after a quiet period opens a window of WriteInterval;
// later events in it do not move it; a due sync runs at once.
func TestSchedule(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	const interval = 10 * time.Second
	cases := map[string]struct {
		due  time.Time
		want time.Duration
		due2 time.Time
	}{
		"start or after an error": {want: 0},
		"quiet: next resync far":  {due: now.Add(time.Minute), want: interval, due2: now.Add(interval)},
		"inside an open window":   {due: now.Add(3 * time.Second), want: 3 * time.Second, due2: now.Add(3 * time.Second)},
		"due":                     {due: now, want: 0, due2: now},
		"overdue":                 {due: now.Add(-time.Second), want: 0, due2: now.Add(-time.Second)},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			r := &reconciler{opts: Options{WriteInterval: duration(interval)}, due: tc.due}
			if got := r.schedule(now); got != tc.want {
				t.Errorf("schedule = %v, want %v", got, tc.want)
			}
			if !r.due.Equal(tc.due2) {
				t.Errorf("due = %v, want %v", r.due, tc.due2)
			}
		})
	}
}
