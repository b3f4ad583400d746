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
// Build it with CGO_ENABLED=0.
package main

import (
	"io"
	"os"
	"path/filepath"
)

func main() {
	if len(os.Args) == 3 && os.Args[1] == "-install" {
		if err := install(os.Args[2]); err != nil {
			_, _ = os.Stderr.WriteString("prepuller-noop: " + err.Error() + "\n")
			os.Exit(1)
		}
	}
	// Any other arguments: nothing to do, on purpose.
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
