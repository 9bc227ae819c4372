package main

import (
	"archive/tar"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// testRunsAsNonroot unpacks the image for this machine's architecture and
// runs `/webhook version` chrooted into it as uid/gid 65532, which is what a
// container runtime does with User 65532:65532: only the image's files are
// visible, so a missing loader or library would show here.
func testRunsAsNonroot(t *testing.T, spec Spec, res Result) {
	if os.Geteuid() != 0 {
		// CI runs as root; there a skip would hide a broken image.
		if os.Getenv("CI") != "" {
			t.Fatal("chroot and dropping to uid 65532 need root, and CI is expected to run as root")
		}
		t.Skip("SKIPPED LOUDLY: running the image's binary as uid 65532 needs root (chroot --userspec); run the tests as root to cover it")
	}
	chroot, err := exec.LookPath("chroot")
	if err != nil {
		t.Fatalf("chroot (coreutils) not found: %v", err)
	}
	var img v1.Image
	for _, i := range layoutImages(t, res) {
		cfg, err := i.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if cfg.OS == runtime.GOOS && cfg.Architecture == runtime.GOARCH {
			img = i
		}
	}
	if img == nil {
		t.Skipf("no image for this machine's %s/%s to run", runtime.GOOS, runtime.GOARCH)
	}

	root := filepath.Join(t.TempDir(), "rootfs")
	unpack(t, root, layerFiles(t, img))
	if fi, err := os.Stat(filepath.Join(root, "tmp")); err != nil || fi.Mode()&os.ModeSticky == 0 || fi.Mode().Perm() != 0o777 {
		t.Errorf("unpacked /tmp is %v (%v), want drwxrwxrwt", fi.Mode(), err)
	}

	cmd := exec.CommandContext(t.Context(), chroot, "--userspec=65532:65532", root, "/webhook", "version")
	cmd.Env = []string{}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", cmd, err, out)
	}
	got := string(out)
	t.Logf("as 65532: %s", strings.TrimSpace(got))
	for _, want := range []string{"meshguard " + testVersion + " ", runtime.GOOS + "/" + runtime.GOARCH} {
		if !strings.Contains(got, want) {
			t.Errorf("webhook version printed %q, want it to contain %q", got, want)
		}
	}
	if spec.Revision != "unknown" && !strings.Contains(got, "commit "+spec.Revision) {
		t.Errorf("webhook version printed %q, want commit %s stamped", got, spec.Revision)
	}
}

// unpack writes the layer's members under root with their modes (the umask
// would otherwise strip the sticky bit and group/other bits).
func unpack(t *testing.T, root string, files []file) {
	t.Helper()
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	// The unprivileged user must be able to traverse the new root.
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		path := filepath.Join(root, filepath.FromSlash(strings.TrimSuffix(f.hdr.Name, "/")))
		switch f.hdr.Typeflag {
		case tar.TypeDir:
			if err := os.Mkdir(path, 0o700); err != nil {
				t.Fatal(err)
			}
		case tar.TypeReg:
			if err := os.WriteFile(path, f.body, 0o600); err != nil {
				t.Fatal(err)
			}
		default:
			t.Fatalf("%s: unexpected tar type %c", f.hdr.Name, f.hdr.Typeflag)
		}
		if err := os.Chmod(path, f.hdr.FileInfo().Mode()); err != nil {
			t.Fatal(err)
		}
		if err := os.Lchown(path, f.hdr.Uid, f.hdr.Gid); err != nil {
			t.Fatal(err)
		}
	}
}
