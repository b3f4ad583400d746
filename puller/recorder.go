package puller

import (
	"sync/atomic"

	"prepuller.dev/prepuller/pkg/imageset"
)

// sightingQueue is the webhook's way in. Record never blocks: the webhook
// calls it on the admission path.
type sightingQueue struct {
	ch     chan imageset.Sighting
	leader atomic.Bool
}

var _ imageset.Recorder = &sightingQueue{}

func newSightingQueue(size int) *sightingQueue {
	return &sightingQueue{ch: make(chan imageset.Sighting, size)}
}

// Record queues a sighting for the controller. On a replica that is not
// the leader nothing would read the queue, so sightings are counted and
// dropped; when the queue is full they are dropped too. Neither loses an
// image: the leader's watch on user pods sees every pod the webhook saw.
func (q *sightingQueue) Record(s imageset.Sighting) {
	if !q.leader.Load() {
		sightingsNotLeader.Inc()
		return
	}
	select {
	case q.ch <- s:
		sightingsQueued.Inc()
	default:
		sightingsDropped.Inc()
	}
}
