package userpod

import (
	"strings"

	corev1 "k8s.io/api/core/v1"

	"prepuller.dev/prepuller/pkg/imageref"
)

// MaxExtraImages bounds the references read from AnnotationExtraImages per
// pod. The list is the user's to write and lies on the admission path: a
// hub needs a handful, and a runaway list must cost neither parsing time
// nor log lines. Items past it are ignored (and counted by the webhook).
const MaxExtraImages = 16

// Container is the part of a container that names an image. Its JSON tags
// let the webhook decode a pod's containers straight into it.
type Container struct {
	Name            string            `json:"name"`
	Image           string            `json:"image"`
	ImagePullPolicy corev1.PullPolicy `json:"imagePullPolicy"`
}

// Image is one distinct image a pod uses.
type Image struct {
	// Ref is normalized (imageref).
	Ref string
	// PullPolicy is Always when any container running the image asks for
	// it, else the first container's policy; empty for extra images.
	PullPolicy corev1.PullPolicy
}

// Report says what was left out while listing a pod's images.
type Report struct {
	// Invalid references skipped; FirstInvalid is the first of them and
	// FirstErr why it does not parse.
	Invalid      int
	FirstInvalid string
	FirstErr     error
	// Overflow is the number of extra images past MaxExtraImages, not read.
	Overflow int
}

// AppendImages appends to dst every distinct image the pod uses, in order:
// init containers, containers, then the extra-images annotation (at most
// MaxExtraImages items). Invalid references are skipped (the pod cannot
// start with them either) and reported. norm may be nil.
func AppendImages(dst []Image, norm *imageref.Cache, initContainers, containers []Container, extraImages string) ([]Image, Report) {
	l := lister{start: len(dst), norm: norm}
	out := dst
	for i := range initContainers {
		out = l.add(out, initContainers[i].Image, initContainers[i].ImagePullPolicy)
	}
	for i := range containers {
		out = l.add(out, containers[i].Image, containers[i].ImagePullPolicy)
	}
	return l.addExtra(out, extraImages), l.rep
}

// PodImages is AppendImages for a Pod object.
func PodImages(p *corev1.Pod, norm *imageref.Cache) ([]Image, Report) {
	l := lister{norm: norm}
	var out []Image
	for i := range p.Spec.InitContainers {
		out = l.add(out, p.Spec.InitContainers[i].Image, p.Spec.InitContainers[i].ImagePullPolicy)
	}
	for i := range p.Spec.Containers {
		out = l.add(out, p.Spec.Containers[i].Image, p.Spec.Containers[i].ImagePullPolicy)
	}
	return l.addExtra(out, p.Annotations[AnnotationExtraImages]), l.rep
}

// linearDedup is how many images are deduplicated by scanning; a pod has
// a few, so a scan beats a map. Past it (a pod with hundreds of distinct
// images) a map keeps the work linear.
const linearDedup = 16

// lister keeps what listing one pod needs besides the list itself. The list
// is passed and returned by value, never stored here: a slice stored
// through a pointer would make escape analysis move the caller's stack
// buffer to the heap on every admission.
type lister struct {
	start int // out[:start] belongs to the caller
	norm  *imageref.Cache
	index map[string]int
	rep   Report
}

func (l *lister) add(out []Image, raw string, policy corev1.PullPolicy) []Image {
	ref, err := l.norm.Normalize(raw)
	if err != nil {
		l.rep.Invalid++
		if l.rep.Invalid == 1 {
			l.rep.FirstInvalid, l.rep.FirstErr = raw, err
		}
		return out
	}
	if i, ok := l.find(out, ref); ok {
		if policy == corev1.PullAlways {
			out[i].PullPolicy = corev1.PullAlways
		}
		return out
	}
	if l.index != nil {
		l.index[ref] = len(out)
	}
	return append(out, Image{Ref: ref, PullPolicy: policy})
}

func (l *lister) find(out []Image, ref string) (int, bool) {
	if l.index != nil {
		i, ok := l.index[ref]
		return i, ok
	}
	for i := l.start; i < len(out); i++ {
		if out[i].Ref == ref {
			return i, true
		}
	}
	if len(out)-l.start >= linearDedup {
		l.index = make(map[string]int, 2*linearDedup)
		for i := l.start; i < len(out); i++ {
			// A copy, for the same reason as above: keys taken from
			// out would tie the caller's buffer to the heap map.
			l.index[strings.Clone(out[i].Ref)] = i
		}
	}
	return 0, false
}

func (l *lister) addExtra(out []Image, list string) []Image {
	read := 0
	for raw := range strings.SplitSeq(list, ",") {
		if strings.TrimSpace(raw) == "" {
			continue // "a,,b" or a trailing comma is not worth a report
		}
		if read == MaxExtraImages {
			l.rep.Overflow++
			continue
		}
		read++
		out = l.add(out, raw, "")
	}
	return out
}
