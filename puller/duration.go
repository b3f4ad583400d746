package puller

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// metav1Duration reads "10s" or "168h" from YAML.
type metav1Duration = metav1.Duration

func duration(d time.Duration) metav1Duration { return metav1.Duration{Duration: d} }
