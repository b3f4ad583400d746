// Command pause sleeps until SIGTERM or SIGINT. make e2e serves it as the
// sandbox (pause) image and the puller's pause image: no image can come
// from outside the machine.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGTERM, syscall.SIGINT)
	<-c
}
