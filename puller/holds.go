package puller

import (
	"fmt"
	"sort"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"prepuller.dev/prepuller/pkg/imageset"
)

// holdEventInterval is the shortest time between two ImagesHeld Events of
// one kind. On a BinderHub whose places are all in use, every new
// one-user image is held: an Event per write window would be thousands a
// day, each with another note, so the API server could not merge them.
const holdEventInterval = 10 * time.Minute

// maxHeldNotes bounds the images one ImagesHeld Event names (the note is
// cut at maxNote anyway); the rest are counted.
const maxHeldNotes = 50

// holdReport collects the images that became held under one rule since
// its last Event.
type holdReport struct {
	notes []string
	more  int
	last  time.Time
}

// reportHolds says which images became held at this evaluation (see
// imageset.Hold): each counts at once in
// prepuller_puller_images_refused_total; an Event on the DaemonSet lists
// them, at most one per rule per holdEventInterval. A user's share past
// puller.maxImagesPerUser is a Warning (someone uses many images alone);
// an image held to keep images in use is Normal (routine on a busy hub).
// An image held at every sync is reported once, until it is no longer
// held.
func (r *reconciler) reportHolds(now time.Time, ev imageset.Evaluation, live *appsv1.DaemonSet) {
	if r.holdReports == nil {
		r.holdReports = map[imageset.Hold]*holdReport{}
	}
	held := map[string]bool{}
	for img, d := range ev.Decisions {
		if d.State != imageset.StateHeld {
			continue
		}
		held[img] = true
		if r.held[img] {
			continue
		}
		r.m.refused.WithLabelValues(string(d.Hold)).Inc()
		rep := r.holdReports[d.Hold]
		if rep == nil {
			rep = &holdReport{}
			r.holdReports[d.Hold] = rep
		}
		if len(rep.notes) < maxHeldNotes {
			rep.notes = append(rep.notes, fmt.Sprintf("%s (%s)", img, d.Reason))
		} else {
			rep.more++
		}
	}
	r.held = held
	if live == nil {
		return
	}
	for _, h := range imageset.Holds {
		rep := r.holdReports[h]
		if rep == nil || len(rep.notes) == 0 || now.Sub(rep.last) < holdEventInterval {
			continue
		}
		sort.Strings(rep.notes)
		n := len(rep.notes) + rep.more
		list := joinNote(rep.notes)
		if rep.more > 0 {
			list += fmt.Sprintf("; and %d more", rep.more)
		}
		if h == imageset.HoldUserShare {
			r.events.Eventf(live, nil, corev1.EventTypeWarning, ReasonImagesHeld, "Hold",
				"Holding %d images that one user alone uses, past puller.maxImagesPerUser: %s", n, list)
		} else {
			r.events.Eventf(live, nil, corev1.EventTypeNormal, ReasonImagesHeld, "Hold",
				"Not pulling %d images only one user has used: each would push out an image running pods use: %s", n, list)
		}
		*rep = holdReport{last: now}
	}
}
