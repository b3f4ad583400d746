package install

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// imageBinaries are the programs the Dockerfile puts in the image; the
// runtime image (distroless/static) has no libc, so each must be static.
var imageBinaries = []string{"prepuller", "prepuller-noop"}

// TestBinariesBuildStatic builds each binary the way the Dockerfile does
// (there is no container engine here; -trimpath is left out so the build
// cache of other tests is reused) and checks the ELF asks for no
// dynamic loader and no shared library.
func TestBinariesBuildStatic(t *testing.T) {
	if testing.Short() {
		t.Skip("builds binaries; skipped in -short")
	}
	root := repoRoot(t)
	out := t.TempDir()
	for _, name := range imageBinaries {
		t.Run(name, func(t *testing.T) {
			pkg := filepath.Join(root, "cmd", name)
			if _, err := os.Stat(pkg); err != nil {
				// The image ships this program: its absence is a defect.
				t.Fatalf("cmd/%s: %v", name, err)
			}
			bin := filepath.Join(out, name)
			cmd := exec.Command("go", "build", "-ldflags=-s -w", "-o", bin, "./cmd/"+name)
			cmd.Dir = root
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
			if b, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("go build ./cmd/%s with CGO_ENABLED=0: %v\n%s", name, err, b)
			}
			f, err := elf.Open(bin)
			if err != nil {
				t.Fatalf("reading ELF: %v", err)
			}
			defer f.Close()
			for _, p := range f.Progs {
				if p.Type == elf.PT_INTERP {
					t.Errorf("%s has an ELF interpreter: it is dynamically linked", name)
				}
			}
			if libs, err := f.ImportedLibraries(); err == nil && len(libs) > 0 {
				t.Errorf("%s needs shared libraries %v", name, libs)
			}
			info, _ := os.Stat(bin)
			t.Logf("%s: static, %d bytes", name, info.Size())
		})
	}
}

// TestDockerfile checks that the Dockerfile builds the same packages the
// same way and ships them where the manifests expect them.
func TestDockerfile(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	df := string(b)
	wants := []string{
		`(?m)^ENV CGO_ENABLED=0`,
		`(?m)^FROM gcr\.io/distroless/static:nonroot$`,
		`(?m)^USER 65532:65532$`,
	}
	for _, name := range imageBinaries {
		wants = append(wants,
			`-o /out/`+regexp.QuoteMeta(name)+` \./cmd/`+regexp.QuoteMeta(name)+`\b`,
			`(?m)^COPY --from=build /out/`+regexp.QuoteMeta(name)+` /usr/local/bin/`+regexp.QuoteMeta(name)+`$`)
	}
	for _, w := range wants {
		if !regexp.MustCompile(w).MatchString(df) {
			t.Errorf("Dockerfile does not match %s", w)
		}
	}
	// The manifests start the binary with the Dockerfile's default command.
	if !strings.Contains(df, `CMD ["serve", "--config=/etc/prepuller/config.yaml"]`) {
		t.Error("Dockerfile CMD differs from the Deployment's args")
	}
}
