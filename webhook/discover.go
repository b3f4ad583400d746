package webhook

import (
	"time"

	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"prepuller.dev/prepuller/pkg/imageset"
	"prepuller.dev/prepuller/pkg/userpod"
)

// normCacheSize bounds the normalization cache. A hub has tens of images;
// the bound only matters if users type thousands of distinct ones, and then
// the cache is refilled with the ones in use.
const normCacheSize = 4096

// discover hands every image of the pod to the recorder: init containers,
// containers and the extra-images annotation, each once (userpod lists them
// exactly as the puller's pod watch does). It never fails: invalid
// references and extra images past the limit are counted and skipped, with
// at most one log line per request.
func (h *Handler) discover(req *admission.Request, p *podView) {
	var buf [8]userpod.Image // a pod has a few images; no allocation for the list
	images, rep := userpod.AppendImages(buf[:0], h.norm, p.Spec.InitContainers, p.Spec.Containers,
		p.Metadata.Annotations[userpod.AnnotationExtraImages])
	if rep.Invalid > 0 || rep.Overflow > 0 {
		invalidRefs.Add(float64(rep.Invalid))
		extraImagesDropped.Add(float64(rep.Overflow))
		h.reqLog(req).Info("skipping image references",
			"invalid", rep.Invalid, "firstInvalid", rep.FirstInvalid, "error", errString(rep.FirstErr),
			"extraImagesPastLimit", rep.Overflow, "limit", userpod.MaxExtraImages)
	}
	if len(images) == 0 {
		return
	}
	var secrets []string
	if len(p.Spec.ImagePullSecrets) > 0 {
		secrets = make([]string, 0, len(p.Spec.ImagePullSecrets))
		for _, s := range p.Spec.ImagePullSecrets {
			secrets = append(secrets, s.Name)
		}
	}
	name := p.displayName()
	sg := imageset.Sighting{
		Namespace:   req.Namespace,
		Pod:         name,
		User:        userpod.User(req.Namespace, name, p.Metadata.Annotations, p.Metadata.Labels),
		PullSecrets: secrets, // shared by this pod's sightings; recorders must not modify it
		Time:        h.now(),
		Source:      imageset.SourceWebhook,
	}
	for _, img := range images {
		sg.Image, sg.PullPolicy = img.Ref, img.PullPolicy
		h.recorder.Record(sg)
	}
	imagesSeen.Add(float64(len(images)))
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// timeNow is replaced in tests.
var timeNow = time.Now
