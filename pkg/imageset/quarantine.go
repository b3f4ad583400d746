package imageset

import "time"

// Backoff is the quarantine retry schedule: Initial after the first
// failure, doubling with every failure after a retry, at most Max.
type Backoff struct {
	Grace   time.Duration // how long an image must keep failing
	Initial time.Duration
	Max     time.Duration
}

func (b Backoff) after(attempts int) time.Duration {
	d := b.Initial
	for i := 1; i < attempts && d < b.Max; i++ {
		d *= 2
	}
	return min(d, b.Max)
}

// MarkFailing records that the image fails on enough nodes at now. It
// returns true when the image has failed for longer than the grace period
// and was quarantined by this call.
func (s *Set) MarkFailing(image string, now time.Time, b Backoff, reason string) bool {
	e := s.entries[image]
	if e == nil || e.Quarantined(now) {
		return false
	}
	if e.FailingSince == nil {
		t := now
		e.FailingSince = &t
	}
	if now.Sub(*e.FailingSince) < b.Grace {
		return false
	}
	attempts := 1
	if e.Quarantine != nil {
		attempts = e.Quarantine.Attempts + 1
	}
	e.Quarantine = &Quarantine{Since: now, RetryAt: now.Add(b.after(attempts)), Attempts: attempts, Reason: reason}
	e.FailingSince = nil
	return true
}

// MarkNotFailing clears the failure clock of an image that no longer fails
// on enough nodes.
func (s *Set) MarkNotFailing(image string) {
	if e := s.entries[image]; e != nil {
		e.FailingSince = nil
	}
}

// MarkPulled records that a node pulled the image: a past quarantine is
// forgiven, so a later failure starts the backoff again from Initial.
func (s *Set) MarkPulled(image string, now time.Time) {
	if e := s.entries[image]; e != nil && e.Quarantine != nil && !e.Quarantined(now) {
		e.Quarantine = nil
	}
}
