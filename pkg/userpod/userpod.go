// Package userpod is what a JupyterHub user pod tells prepuller: whether
// prepuller may look at it at all (scope and opt-out), who its user is, and
// which images it uses. The admission webhook and the puller's pod watch
// both read user pods; they must agree on all three, or an image learned on
// one path would be missed, or wrongly learned, on the other.
package userpod

// Annotations and labels prepuller reads on user pods.
const (
	// AnnotationSkip "true": prepuller neither learns from nor steers the pod.
	AnnotationSkip = "prepuller.dev/skip"
	// AnnotationExtraImages lists more images to learn, comma-separated
	// (e.g. images the user's server starts later). At most MaxExtraImages
	// are read.
	AnnotationExtraImages = "prepuller.dev/extra-images"
	// AnnotationUsername is KubeSpawner's raw user name.
	AnnotationUsername = "hub.jupyter.org/username"
	// LabelUsername is KubeSpawner's user name made label-safe; read when a
	// pod has no annotation (older KubeSpawner, or a hub that strips it).
	LabelUsername = "hub.jupyter.org/username"
)

// Skipped reports whether the pod opted out with AnnotationSkip.
func Skipped(annotations map[string]string) bool {
	return annotations[AnnotationSkip] == "true"
}

// User is the user a pod belongs to, as the image set counts users: the
// username annotation, else the username label, else the pod itself
// ("namespace/name"; the webhook passes the generateName prefix when the pod
// has no name yet), so that a pod without a user name counts as one user,
// and a restarted server, which keeps its name, not as two.
func User(namespace, name string, annotations, labels map[string]string) string {
	if u := Username(annotations, labels); u != "" {
		return u
	}
	return namespace + "/" + name
}

// Username is the KubeSpawner user name a pod carries: the username
// annotation, else the username label, else "". It allocates nothing.
func Username(annotations, labels map[string]string) string {
	if u := annotations[AnnotationUsername]; u != "" {
		return u
	}
	return labels[LabelUsername]
}
