package certs

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
)

func TestExpiryCollector(t *testing.T) {
	now := time.Now().Truncate(time.Second)
	ca := newTestCA(t, now)
	leaf, _ := ca.issue(t, "svc", now.Add(-time.Minute), now.Add(90*time.Minute))
	notAfter := float64(now.Add(90 * time.Minute).Unix())
	cases := map[string]struct {
		// file is tls.crt's content; nil: no file.
		file []byte
		// want are the series' values; none: no series.
		want []float64
	}{
		"leaf then CA":    {file: append(append([]byte{}, leaf...), ca.pem...), want: []float64{notAfter}},
		"key block first": {file: append([]byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"), leaf...), want: []float64{notAfter}},
		"no file":         {},
		"not PEM":         {file: []byte("hello")},
		"garbled DER":     {file: []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			if tc.file != nil {
				if err := os.WriteFile(filepath.Join(dir, CertFile), tc.file, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			reg := prometheus.NewPedanticRegistry()
			if err := registerExpiry(reg, dir); err != nil {
				t.Fatal(err)
			}
			mfs, err := reg.Gather()
			if err != nil {
				t.Fatal(err)
			}
			var got []float64
			for _, mf := range mfs {
				if mf.GetName() != expiryMetric {
					t.Errorf("unexpected series %s", mf.GetName())
				}
				for _, m := range mf.GetMetric() {
					got = append(got, m.GetGauge().GetValue())
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("series (-want +got):\n%s", diff)
			}
		})
	}
}

// Two components in one process register the collector twice (tests start
// two replicas); that must not fail.
func TestExpiryRegisteredTwice(t *testing.T) {
	reg := prometheus.NewRegistry()
	for range 2 {
		if err := registerExpiry(reg, t.TempDir()); err != nil {
			t.Fatal(err)
		}
	}
}
