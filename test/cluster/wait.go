package cluster

import "time"

func sleepBrief() { time.Sleep(100 * time.Millisecond) }
