package webhook

import (
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"prepuller.dev/prepuller/puller/imageref"
	"prepuller.dev/prepuller/puller/imageset"
)

// normCacheSize bounds the normalization cache. A hub has tens of images;
// the bound only matters if users type thousands of distinct ones, and then
// the extra ones are simply normalized every time.
const normCacheSize = 4096

// normalizer memoizes imageref.Normalize: parsing a reference allocates, and
// every user pod names the same few images.
type normalizer struct {
	cache sync.Map // raw string -> normalized string
	n     atomic.Int32
}

func (c *normalizer) normalize(raw string) (string, error) {
	if v, ok := c.cache.Load(raw); ok {
		return v.(string), nil
	}
	s, err := imageref.Normalize(raw)
	if err != nil {
		return "", err
	}
	if c.n.Load() < normCacheSize {
		if _, loaded := c.cache.LoadOrStore(raw, s); !loaded {
			c.n.Add(1)
		}
	}
	return s, nil
}

// discover hands every image of the pod to the recorder: init containers,
// containers and the extra-images annotation, each once. It never fails: an
// invalid reference is logged, counted and skipped.
func (h *Handler) discover(req *admission.Request, p *podView) {
	var secrets []string
	if len(p.Spec.ImagePullSecrets) > 0 {
		secrets = make([]string, 0, len(p.Spec.ImagePullSecrets))
		for _, s := range p.Spec.ImagePullSecrets {
			secrets = append(secrets, s.Name)
		}
	}
	base := imageset.Sighting{
		Namespace:   req.Namespace,
		Pod:         p.displayName(),
		User:        p.Metadata.Annotations[AnnotationUsername],
		PullSecrets: secrets, // shared by this pod's sightings; recorders must not modify it
		Time:        h.now(),
		Source:      imageset.SourceWebhook,
	}
	// Pods have a few images; a linear scan beats a map for dedup.
	var seenBuf [8]string
	seen := seenBuf[:0]
	record := func(raw string, policy corev1.PullPolicy, kind, name string) {
		img, err := h.norm.normalize(raw)
		if err != nil {
			invalidRefs.Inc()
			h.reqLog(req).Info("skipping invalid image reference", "image", raw, "in", kind, "name", name, "error", err.Error())
			return
		}
		for _, s := range seen {
			if s == img {
				return
			}
		}
		seen = append(seen, img)
		sg := base
		sg.Image, sg.PullPolicy = img, policy
		h.recorder.Record(sg)
		imagesLearned.Inc()
	}
	for i := range p.Spec.InitContainers {
		c := &p.Spec.InitContainers[i]
		record(c.Image, c.ImagePullPolicy, "initContainer", c.Name)
	}
	for i := range p.Spec.Containers {
		c := &p.Spec.Containers[i]
		record(c.Image, c.ImagePullPolicy, "container", c.Name)
	}
	if extra := p.Metadata.Annotations[AnnotationExtraImages]; extra != "" {
		for raw := range strings.SplitSeq(extra, ",") {
			if strings.TrimSpace(raw) == "" {
				continue // "a,,b" or a trailing comma is not worth a warning
			}
			record(raw, "", "annotation", AnnotationExtraImages)
		}
	}
}

// timeNow is replaced in tests.
var timeNow = time.Now
