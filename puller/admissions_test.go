package puller

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	testclock "k8s.io/utils/clock/testing"

	"prepuller.dev/prepuller/pkg/imageset"
	"prepuller.dev/prepuller/test/builder"
)

func newTestAdmissions(t *testing.T, max int) (*admissions, *pullerMetrics, *testclock.FakePassiveClock) {
	t.Helper()
	m, err := newPullerMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	clk := testclock.NewFakePassiveClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	a := newAdmissions(max, clk, m)
	a.lead()
	return a, m, clk
}

// What admission saw counts only once the pod exists: an admission no pod
// follows (a later plugin rejected it, or the review was forged) is
// forgotten and counted, and a pod named by the API server after admission
// (generateName) is confirmed once, with its real name.
func TestAdmissionsConfirmOnlyPodsThatExist(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	named := builder.MakeUserPod("jupyter-alice", "hub", "alice").Image("org/a:1").Obj()
	generated := builder.MakePod("", "hub").Image("org/b:1").Obj()
	generated.GenerateName = "jupyter-"
	generated.Name = "jupyter-x7k2p"
	generated2 := generated.DeepCopy()
	generated2.Name = "jupyter-q9z4m"

	type result struct {
		Confirmed   []string // pod names handed to the reconciler
		Seen        []time.Time
		Unconfirmed float64
		ConfirmedN  float64
	}
	cases := map[string]struct {
		admit []imageset.Admission
		pods  []*corev1.Pod
		want  result
	}{
		"admitted, then exists": {
			admit: []imageset.Admission{{Namespace: "hub", Name: "jupyter-alice", Images: 1, Time: t0}},
			pods:  []*corev1.Pod{named},
			want:  result{Confirmed: []string{"jupyter-alice"}, Seen: []time.Time{t0}, ConfirmedN: 1},
		},
		"forged or rejected: never exists": {
			admit: []imageset.Admission{{Namespace: "hub", Name: "jupyter-mallory", Images: 1, Time: t0}},
			want:  result{Unconfirmed: 1},
		},
		"generateName: two pods, two admissions, each once": {
			admit: []imageset.Admission{
				{Namespace: "hub", GenerateName: "jupyter-", Images: 1, Time: t0},
				{Namespace: "hub", GenerateName: "jupyter-", Images: 1, Time: t0.Add(time.Second)},
			},
			pods: []*corev1.Pod{generated, generated2},
			want: result{Confirmed: []string{"jupyter-x7k2p", "jupyter-q9z4m"}, Seen: []time.Time{t0, t0.Add(time.Second)}, ConfirmedN: 2},
		},
		"exists without an admission here (other replica, before install)": {
			pods: []*corev1.Pod{named},
			want: result{Confirmed: []string{"jupyter-alice"}, Seen: []time.Time{t0.Add(2 * time.Second)}},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			a, m, clk := newTestAdmissions(t, 16)
			for _, adm := range tc.admit {
				a.Admitted(adm)
			}
			clk.SetTime(t0.Add(2 * time.Second))
			for _, p := range tc.pods {
				a.confirm(p)
			}
			a.expire(t0.Add(admissionTTL + 3*time.Second))
			var got result
			for _, c := range a.take() {
				got.Confirmed = append(got.Confirmed, c.pod.Name)
				got.Seen = append(got.Seen, c.seen)
			}
			got.Unconfirmed = testutil.ToFloat64(m.admissions.WithLabelValues("unconfirmed"))
			got.ConfirmedN = testutil.ToFloat64(m.admissions.WithLabelValues("confirmed"))
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if a.n != 0 || len(a.pending) != 0 {
				t.Errorf("pending left: %d %v", a.n, a.pending)
			}
		})
	}
}

// Admitted never blocks and never grows past its bound: a follower drops
// (the leader's watch learns the pod anyway), a full table drops.
func TestAdmittedIsBounded(t *testing.T) {
	a, m, _ := newTestAdmissions(t, 2)
	for i := range 10 {
		a.Admitted(imageset.Admission{Namespace: "hub", Name: string(rune('a' + i)), Images: 1})
	}
	if a.n != 2 {
		t.Errorf("pending = %d, want 2", a.n)
	}
	if got := testutil.ToFloat64(m.admissions.WithLabelValues("dropped")); got != 8 {
		t.Errorf("dropped = %v, want 8", got)
	}
	f, _, _ := newTestAdmissions(t, 2)
	f.leader.Store(false)
	f.Admitted(imageset.Admission{Namespace: "hub", Name: "x", Images: 1})
	if f.n != 0 {
		t.Error("a follower kept an admission nobody confirms")
	}
}

func BenchmarkAdmitted(b *testing.B) {
	m, _ := newPullerMetrics(prometheus.NewRegistry())
	a := newAdmissions(1<<30, testclock.NewFakePassiveClock(time.Now()), m)
	a.lead()
	adm := imageset.Admission{Namespace: "hub", Name: "jupyter-a", Images: 1, Time: time.Now()}
	b.ReportAllocs()
	for b.Loop() {
		a.Admitted(adm)
		a.confirm(&corev1.Pod{})
	}
}

// testMetrics are series on a registry of the test's own.
func testMetrics(t testing.TB) *pullerMetrics {
	t.Helper()
	m, err := newPullerMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	return m
}
