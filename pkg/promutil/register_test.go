package promutil

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestRegisterReusesExisting(t *testing.T) {
	reg := prometheus.NewRegistry()
	opts := prometheus.CounterOpts{Name: "x_total", Help: "x"}
	first, err := Register(reg, prometheus.NewCounter(opts))
	if err != nil {
		t.Fatal(err)
	}
	second, err := Register(reg, prometheus.NewCounter(opts))
	if err != nil {
		t.Fatalf("second registration: %v", err)
	}
	second.Inc()
	if first != second {
		t.Error("the second registration did not return the first collector")
	}
	// Same name, other help: a real conflict, reported.
	if _, err := Register(reg, prometheus.NewCounter(prometheus.CounterOpts{Name: "x_total", Help: "y"})); err == nil {
		t.Error("a conflicting description was accepted")
	}
}

func TestRegistrarKeepsFirstError(t *testing.T) {
	r := &Registrar{Reg: prometheus.NewRegistry()}
	Add(r, prometheus.NewCounter(prometheus.CounterOpts{Name: "a_total", Help: "a"}))
	Add(r, prometheus.NewGauge(prometheus.GaugeOpts{Name: "a_total", Help: "other"}))
	if r.Err == nil {
		t.Fatal("no error for a conflicting series")
	}
}
