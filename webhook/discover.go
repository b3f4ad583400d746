package webhook

import (
	"context"

	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"prepuller.dev/prepuller/pkg/imageset"
	"prepuller.dev/prepuller/pkg/userpod"
)

// normCacheSize bounds the normalization cache. A hub has tens of images;
// the bound only matters if users type thousands of distinct ones, and then
// the cache is refilled with the ones in use.
const normCacheSize = 4096

// discover tells the recorder that a user pod was admitted. That is only
// a candidate: the pod counts, and its images are learned, once the
// leader's watch sees it exist (a later admission plugin may reject it, or
// the review may not come from the API server at all). The images are
// still read here, exactly as the watch reads them (userpod), to count and
// log invalid references once per request.
func (h *Handler) discover(ctx context.Context, req *admission.Request, p *podView) {
	var buf [8]userpod.Image // a pod has a few images; no allocation for the list
	images, rep := userpod.AppendImages(buf[:0], h.norm, p.Spec.InitContainers, p.Spec.Containers,
		p.Metadata.Annotations[userpod.AnnotationExtraImages])
	if rep.Invalid > 0 || rep.Overflow > 0 {
		h.metrics.invalidRefs.Add(float64(rep.Invalid))
		h.metrics.extraImagesDropped.Add(float64(rep.Overflow))
		reqLog(ctx, req).Info("Skipping image references",
			"invalid", rep.Invalid, "firstInvalid", rep.FirstInvalid, "error", rep.FirstErr,
			"extraImagesPastLimit", rep.Overflow, "limit", userpod.MaxExtraImages)
	}
	if len(images) == 0 {
		return
	}
	if req.Namespace == "" || p.Metadata.Name == "" && p.Metadata.GenerateName == "" {
		// The API server never sends such a pod (it rejects it first):
		// no pod could ever confirm this admission.
		return
	}
	h.recorder.Admitted(imageset.Admission{
		Namespace:    req.Namespace,
		Name:         p.Metadata.Name,
		GenerateName: p.Metadata.GenerateName,
		Images:       len(images),
		Time:         h.clock.Now(),
	})
	h.metrics.imagesSeen.Add(float64(len(images)))
}
