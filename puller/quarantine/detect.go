// Package quarantine finds images that the puller pods cannot pull. Init
// containers run one after another, so one such image blocks every image
// after it on every node; the controller takes it out of the DaemonSet.
package quarantine

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"prepuller.dev/prepuller/pkg/imageref"
	"prepuller.dev/prepuller/puller/render"
)

// failureReasons are the waiting reasons that mean the container cannot
// start, whatever the kubelet tries next.
var failureReasons = map[string]bool{
	"ErrImagePull":               true,
	"ImagePullBackOff":           true,
	"InvalidImageName":           true,
	"ErrImageNeverPull":          true,
	"CrashLoopBackOff":           true, // the no-op exited non-zero before
	"CreateContainerError":       true, // e.g. the image's platform cannot run it
	"CreateContainerConfigError": true,
	"RunContainerError":          true,
}

// Failure is an image failing on some nodes.
type Failure struct {
	Image  string
	Nodes  []string
	Reason string // the reasons seen, e.g. "ImagePullBackOff on 3 nodes"
}

// Report is what the puller pods say about every image.
type Report struct {
	// Failing are images failing on at least the threshold of nodes.
	Failing map[string]Failure
	// Pulled are images whose init container completed on some node.
	Pulled map[string]bool
	// Install is set when the install container (render.InstallContainerName)
	// fails on as many nodes: a wrong puller.image or puller.noopPath. No
	// image after it can start, yet none of them is failing, so nothing
	// would be quarantined and nothing would say why.
	Install *Failure
}

// Detect is DetectWith without a memo: every sync parses every init
// container's image of every puller pod again (30,000 parses at 1,000
// nodes and 30 images).
//
// Deprecated: use DetectWith with the controller's imageref.Cache.
func Detect(pods []corev1.Pod, minNodes int) Report {
	return DetectWith(pods, minNodes, nil)
}

// DetectWith reads the puller pods' init container and slot statuses. An
// image is failing when it fails on at least minNodes nodes, or on every
// node that tries it when fewer do (a placed image may be on one node
// only). Images are normalized through norm (nil: no memo);
// the pods all name the same few images, so a cache parses each once.
func DetectWith(pods []corev1.Pod, minNodes int, norm *imageref.Cache) Report {
	rep := Report{Failing: map[string]Failure{}, Pulled: map[string]bool{}}
	failing := map[string]map[string]string{} // image -> node -> reason
	install := map[string]string{}            // node -> reason
	installImage := ""
	live := 0
	// Puller pods that name each image: one per node and DaemonSet, and
	// the two DaemonSets never pull the same image.
	tried := map[string]int{}
	for i := range pods {
		p := &pods[i]
		if p.DeletionTimestamp != nil || p.Status.Phase == corev1.PodFailed || p.Status.Phase == corev1.PodSucceeded {
			continue
		}
		live++
		node := p.Spec.NodeName
		if node == "" {
			node = p.Name
		}
		for pull := range render.AllPulls(p, "", norm) {
			// An invalid reference keeps its raw name, so the report
			// still says which image fails.
			img := pull.Image
			tried[img]++
			st := pull.Status
			if st == nil {
				continue
			}
			if t := st.State.Terminated; (t != nil && t.ExitCode == 0) || pull.Pulled(norm) {
				rep.Pulled[img] = true
				continue
			}
			reason := failure(*st, pull.Slot)
			if reason != "" && pull.Install {
				install[node], installImage = reason, img
				continue
			}
			if reason != "" {
				if failing[img] == nil {
					failing[img] = map[string]string{}
				}
				failing[img][node] = reason
			}
		}
	}
	if min(minNodes, live) < 1 {
		return rep
	}
	for img, nodes := range failing {
		if len(nodes) >= min(minNodes, tried[img]) {
			rep.Failing[img] = summarize(img, nodes)
		}
	}
	if len(install) >= min(minNodes, live) {
		f := summarize(installImage, install)
		rep.Install = &f
	}
	return rep
}

// summarize turns per-node reasons into a Failure.
func summarize(img string, nodes map[string]string) Failure {
	f := Failure{Image: img}
	counts := map[string]int{}
	for n, r := range nodes {
		f.Nodes = append(f.Nodes, n)
		counts[r]++
	}
	sort.Strings(f.Nodes)
	var parts []string
	for r, c := range counts {
		parts = append(parts, fmt.Sprintf("%s on %d node(s)", r, c))
	}
	sort.Strings(parts)
	f.Reason = strings.Join(parts, ", ")
	return f
}

func failure(st corev1.ContainerStatus, slot bool) string {
	if w := st.State.Waiting; w != nil && failureReasons[w.Reason] {
		return w.Reason
	}
	if t := st.State.Terminated; t != nil && t.ExitCode != 0 {
		return fmt.Sprintf("exit code %d", t.ExitCode)
	}
	if slot {
		// A slot's last termination is the kubelet stopping it to run
		// another image (killed, not failed).
		return ""
	}
	if t := st.LastTerminationState.Terminated; t != nil && t.ExitCode != 0 && st.State.Running == nil {
		return fmt.Sprintf("exit code %d", t.ExitCode)
	}
	return ""
}
