// Command prepuller-noop is the program every init container of the puller
// DaemonSet runs. It does nothing and exits 0: the kubelet pulled the image
// to start it, which is all the puller wants. It is a static binary with no
// dependency on the image it runs in, so images without a shell (or libc)
// pull fine.
//
// "prepuller-noop -install DST" copies the program itself to DST; the
// DaemonSet's first init container runs that from prepuller's image to put
// the program into an emptyDir shared with the others, without needing a
// shell or cp in any image.
//
// "prepuller-noop -wait" runs until it is told to stop (SIGTERM or SIGINT)
// and then exits 0. The slot containers of the placed puller DaemonSet
// (demand placement) run it: a running container keeps its image safe
// from the kubelet's image garbage collection, and a container that exited
// would be restarted in a loop under the pod's restartPolicy Always.
//
// Build it with CGO_ENABLED=0.
package main

import (
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
)

func main() {
	if len(os.Args) == 3 && os.Args[1] == "-install" {
		if err := install(os.Args[2]); err != nil {
			_, _ = os.Stderr.WriteString("prepuller-noop: " + err.Error() + "\n")
			os.Exit(1)
		}
	}
	if len(os.Args) == 2 && os.Args[1] == "-wait" {
		wait()
	}
	// Any other arguments: nothing to do, on purpose.
}

// wait blocks until SIGTERM or SIGINT. The kubelet sends SIGTERM when it
// stops the container (an image change in place, pod deletion); exiting
// at once makes the image change fast, with no grace period to sit out.
func wait() {
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	<-stop
}

// install copies the running executable to dst, executable by everyone.
// It writes a temporary file and renames it, so a concurrent reader never
// runs a half-written program.
func install(dst string) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	src, err := os.Open(self)
	if err != nil {
		return err
	}
	defer src.Close()
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".noop-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	if _, err := io.Copy(tmp, src); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o555); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), dst)
}
