package report

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"prepuller.dev/prepuller/test/sim/workload"
)

func TestSummarize(t *testing.T) {
	w := workload.Workload{Sessions: []workload.Session{
		{Image: 0},                 // warm-up, first use of image 0
		{Image: 0, Measured: true}, // image seen before
		{Image: 1, Measured: true}, // first use of image 1
		{Image: 1, Measured: true}, // seen before
		{Image: 0, Measured: true}, // seen before
		{Image: 2, Measured: true, Burst: true, Arrive: 0, Leave: 10},
		{Image: 2, Measured: true, Burst: true, Arrive: 1, Leave: 10},
		{Image: 2, Measured: true, Burst: true, Arrive: 5, Leave: 15},
	}}
	r := Run{
		Arm: ArmPrepuller, Scheduler: SchedulerDefault,
		Starts: []Start{
			{Session: 0, WaitSeconds: 100, Cold: true}, // not measured: ignored
			{Session: 1, WaitSeconds: 0},
			{Session: 2, WaitSeconds: 40, Cold: true},
			{Session: 3, WaitSeconds: 20, Cold: true},
			{Session: 4, WaitSeconds: 0},
			{Session: 5, Node: "a"}, {Session: 6, Node: "b", WaitSeconds: 30}, {Session: 7, Node: "a"},
		},
		Nodes:           []Node{{Name: "a", PulledBytes: 3e9, Pulls: 3}, {Name: "b", PulledBytes: 1e9, Pulls: 2}},
		DaemonSetWrites: 4,
		PullerPodWrites: 9,
		Unscheduled:     1,
	}
	got := Summarize(r, w)
	want := Summary{
		Arm: ArmPrepuller, Scheduler: SchedulerDefault,
		Starts: 7, SeenStarts: 5,
		ColdShare: 2.0 / 7, ColdShareSeen: 1.0 / 5,
		P50: 0, P95: 40, P99: 40, MeanWait: 90.0 / 7,
		GBPerNode: 2, MaxGBPerNode: 3,
		DaemonSetWrites: 4, PullerPodWrites: 9, NotRun: 1,
		RegistryPulls: 5, Students: 3, PeakStudentsPerNode: 2, StudentP95: 30,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Summarize (-want +got):\n%s", diff)
	}
}

func TestPeakConcurrent(t *testing.T) {
	ses := func(arrive, leave time.Duration) workload.Session {
		return workload.Session{Arrive: arrive * time.Minute, Leave: leave * time.Minute}
	}
	cases := map[string]struct {
		ss   []workload.Session
		want int
	}{
		"none":                          {},
		"one":                           {ss: []workload.Session{ses(0, 5)}, want: 1},
		"one after the other":           {ss: []workload.Session{ses(0, 5), ses(5, 9), ses(9, 20)}, want: 1},
		"overlapping":                   {ss: []workload.Session{ses(0, 5), ses(4, 9), ses(6, 20)}, want: 2},
		"all at once, in any order":     {ss: []workload.Session{ses(3, 30), ses(0, 10), ses(2, 4), ses(1, 20)}, want: 4},
		"a peak that ends before later": {ss: []workload.Session{ses(0, 2), ses(1, 3), ses(2, 9), ses(8, 9), ses(8, 12)}, want: 3},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got := peakConcurrent(tc.ss); got != tc.want {
				t.Errorf("peakConcurrent = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestQuantile(t *testing.T) {
	sorted := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	cases := map[float64]float64{0.5: 5, 0.95: 10, 0.99: 10, 0.1: 1}
	for q, want := range cases {
		if got := Quantile(sorted, q); got != want {
			t.Errorf("Quantile(%v) = %v, want %v", q, got, want)
		}
	}
	if got := Quantile(nil, 0.5); got != 0 {
		t.Errorf("Quantile of nothing = %v, want 0", got)
	}
}

func TestReplaceSection(t *testing.T) {
	path := filepath.Join(t.TempDir(), "doc.md")
	if err := os.WriteFile(path, []byte("# Title\n\n"+BeginMarker+"\nold\n"+EndMarker+"\n\n## After\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := ReplaceSection(path, "new\n"); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	want := "# Title\n\n" + BeginMarker + "\nnew\n" + EndMarker + "\n\n## After\n"
	if diff := cmp.Diff(want, string(data)); diff != "" {
		t.Errorf("document (-want +got):\n%s", diff)
	}
	if err := ReplaceSection(path, "newer\n"); err != nil {
		t.Fatal(err)
	}
	data, _ = os.ReadFile(path)
	if strings.Count(string(data), BeginMarker) != 1 || !strings.Contains(string(data), "newer") {
		t.Errorf("second replacement:\n%s", data)
	}
}

func TestChart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "chart.png")
	rows := []Summary{
		{Arm: ArmNone, Scheduler: SchedulerDefault, ColdShare: 0.4, P95: 60, GBPerNode: 20},
		{Arm: ArmPrepuller, Scheduler: SchedulerDefault, ColdShare: 0.1, P95: 10, GBPerNode: 40},
		{Arm: ArmPlaced, Scheduler: SchedulerDefault, ColdShare: 0.1, P95: 10, GBPerNode: 10},
	}
	if err := Chart(rows, path); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) < 8 || string(data[1:4]) != "PNG" {
		t.Errorf("chart is not a PNG (%d bytes)", len(data))
	}
}

func TestTableColumns(t *testing.T) {
	table := Table([]Summary{{Arm: ArmPlaced, Scheduler: SchedulerDefault, DaemonSetWrites: 3, PullerPods: 50, PullerPodWrites: 123, Steered: 7}})
	lines := strings.Split(strings.TrimSpace(table), "\n")
	if len(lines) != 3 {
		t.Fatalf("table has %d lines, want 3:\n%s", len(lines), table)
	}
	cells := func(line string) []string { return strings.Split(strings.Trim(line, "|"), "|") }
	head, sep, row := cells(lines[0]), cells(lines[1]), cells(lines[2])
	if len(head) != len(sep) || len(head) != len(row) {
		t.Fatalf("header %d, separator %d, row %d cells", len(head), len(sep), len(row))
	}
	found := false
	for i, h := range head {
		if strings.TrimSpace(h) == "puller pod writes" {
			found = true
			if strings.TrimSpace(row[i]) != "123" {
				t.Errorf("puller pod writes = %q, want 123", row[i])
			}
		}
	}
	if !found {
		t.Errorf("no puller pod writes column:\n%s", table)
	}
}
