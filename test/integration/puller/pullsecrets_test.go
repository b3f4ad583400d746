package puller_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"prepuller.dev/prepuller/puller"
	"prepuller.dev/prepuller/puller/pullsecrets"
	"prepuller.dev/prepuller/test/builder"
)

// With puller.mirrorPullSecrets, the running prepuller copies the hub's
// pull secret into its namespace, the puller pods reference the copy, and
// only secrets it does not mirror are warned about.
func TestMirroredPullSecret(t *testing.T) {
	e := newEnv(t)
	e.opts.MirrorPullSecrets = pullsecrets.Options{Namespace: e.userNS, Names: []string{"regcred"}}
	data := map[string][]byte{corev1.DockerConfigJsonKey: []byte(`{"auths":{"registry.example":{"auth":"eDp5"}}}`)}
	src := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "regcred", Namespace: e.userNS}, Type: corev1.SecretTypeDockerConfigJson, Data: data}
	if err := k8s.Create(e.ctx, src); err != nil {
		t.Fatal(err)
	}
	e.start(startOpts{})

	pod := builder.MakeUserPod("jupyter-ada", e.userNS, "ada").Label("test", e.id).
		Image("registry.example/team/notebook:1").PullSecret("regcred").PullSecret("other").Obj()
	if err := k8s.Create(e.ctx, pod); err != nil {
		t.Fatal(err)
	}
	ds := e.waitImages(norm(t, "registry.example/team/notebook:1"))
	if diff := cmp.Diff([]corev1.LocalObjectReference{{Name: "regcred"}}, ds.Spec.Template.Spec.ImagePullSecrets); diff != "" {
		t.Errorf("puller imagePullSecrets (-want +got):\n%s", diff)
	}
	var cp corev1.Secret
	eventually(t, 30*time.Second, func() (bool, string) {
		err := k8s.Get(e.ctx, client.ObjectKey{Namespace: e.ns, Name: "regcred"}, &cp)
		return err == nil, "no copy of regcred: " + errString(err)
	})
	if cp.Type != corev1.SecretTypeDockerConfigJson || !cmp.Equal(cp.Data, data) {
		t.Errorf("copy = %s %q, want the source's type and data", cp.Type, cp.Data)
	}

	e.waitEvent(puller.ReasonPullSecretElsewhere, "secret other")
	e.waitSyncs(3)
	for _, n := range e.events(puller.ReasonPullSecretElsewhere) {
		if strings.Contains(n, "secret regcred") {
			t.Errorf("warned about the mirrored secret: %s", n)
		}
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
