package puller

import (
	"strings"
	"testing"
)

func TestEventAction(t *testing.T) {
	short := eventAction("Pull", "docker.io/library/busybox:latest")
	if short != "Pull docker.io/library/busybox:latest" {
		t.Errorf("short action = %q", short)
	}
	long1 := eventAction("Pull", "docker.io/org/"+strings.Repeat("a", 200)+":1")
	long2 := eventAction("Pull", "docker.io/org/"+strings.Repeat("a", 200)+":2")
	if len(long1) > maxActionLen || len(long2) > maxActionLen {
		t.Errorf("actions of %d and %d bytes exceed %d", len(long1), len(long2), maxActionLen)
	}
	if long1 == long2 {
		t.Error("two long images share an action: their events would merge")
	}
}
