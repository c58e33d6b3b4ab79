//go:build unix

package testutil

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
)

// childEnv marks a process started by RunUnprivileged.
const childEnv = "GOSSPI_TEST_UNPRIVILEGED_CHILD"

// nobody is the uid and gid the child runs as when the test runs as root.
const nobody = 65534

// IsUnprivilegedChild reports whether this test binary was started by
// RunUnprivileged: the test it named should then do its unprivileged part
// and return.
func IsUnprivilegedChild() bool { return os.Getenv(childEnv) == "1" }

// SharedDir returns a new directory that every user can enter and read, for
// the files an unprivileged child must reach (t.TempDir's are private to
// the test's user). It is removed when the test ends.
func SharedDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "gosspi-shared-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// RunUnprivileged runs the test named test of this test binary in a child
// process that cannot read a file its parent made unreadable with chmod
// 000: as uid and gid 65534 (nobody) when the test runs as root, which reads
// any file whatever its mode, and as the test's own user otherwise. The
// child sees env added to the environment and IsUnprivilegedChild true, and
// runs verbosely, so that its t.Log lines are in the output. It returns the child's combined output and its error (an *exec.ExitError for
// a failed test).
func RunUnprivileged(t testing.TB, test string, env ...string) (string, error) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := self
	var attr *syscall.SysProcAttr
	if os.Geteuid() == 0 {
		// The test binary lives in a directory only root can enter: run a
		// copy from one that nobody can too.
		bin = filepath.Join(SharedDir(t), filepath.Base(self))
		if err := copyFile(self, bin, 0o755); err != nil {
			t.Fatal(err)
		}
		attr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	}
	cmd := exec.Command(bin, "-test.run=^"+test+"$", "-test.count=1", "-test.v")
	cmd.Env = append(append(os.Environ(), childEnv+"=1", "HOME=/", "TMPDIR=/tmp"), env...)
	cmd.Dir = "/"
	cmd.SysProcAttr = attr
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func copyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
