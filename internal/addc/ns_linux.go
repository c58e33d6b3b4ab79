package addc

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// nsEnv marks the test binary that runs inside the private namespaces: its
// value is the file descriptor of the pipe whose end tells it that the
// outer process is gone.
const nsEnv = "GOSSPI_ADDC_NAMESPACE"

// InNamespace reports whether this process is the test binary that Main
// started inside the private network, PID, mount and UTS namespaces.
func InNamespace() bool { return os.Getenv(nsEnv) != "" }

// Main is the TestMain of a package whose tests talk to the DC:
//
//	func TestMain(m *testing.M) { addc.Main(m) }
//
// Outside the namespaces it runs the test binary again, with the same
// arguments, environment and standard streams, under
//
//	unshare --net --pid --mount --uts --fork --kill-child --mount-proc
//
// and exits with the child's code. The DC binds the fixed AD ports (88,
// 389, 445...), which only a private network namespace gives every test
// binary to itself; the private PID namespace is what leaves nothing
// behind: when its first process (the test binary) ends, the kernel kills
// every process in it, samba-dcerpcd included, which leaves samba's process
// group. unshare dies with the outer process (Pdeathsig) and its child, the
// inner test binary, with unshare (--kill-child); the outer process ends
// itself (and so the namespace) when the go command that started it dies
// or a signal reaches it.
//
// Inside, Main brings the loopback interface up, sets the host name to the
// DC's, mounts a private tmpfs on /run/samba (winbind's client library
// looks only there) and a private /etc/hosts that names the DC, runs the
// tests, stops the DC and exits with the tests' code.
//
// It needs root (CI runs as root) and util-linux's unshare. When the
// namespaces cannot be made, every test of the binary fails: none skips.
func Main(m *testing.M) {
	if !InNamespace() {
		os.Exit(reexec())
	}
	if err := setupNamespace(); err != nil {
		nsErr = err
		fmt.Fprintln(os.Stderr, "addc: cannot set up the namespace; the tests that need the DC will fail:", err)
	}
	code := m.Run()
	stopShared()
	os.Exit(code)
}

// nsErr is why the namespace could not be set up, for Start to report.
var nsErr error

// runRoot is where DCs get their run directories: the namespace's private
// tmpfs once it is mounted.
var runRoot string

// reexec runs this test binary inside new namespaces and returns its exit
// code.
func reexec() int {
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "addc:", err)
		return 1
	}
	unshare, err := lookTool("unshare")
	if err != nil {
		fmt.Fprintln(os.Stderr, "addc:", err)
		return 1
	}
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "addc: the AD DC tests run in private namespaces that need root (make test and CI run as root); they fail here")
	}
	// Pdeathsig belongs to the thread that started the child: keep this
	// goroutine on one thread until the process exits.
	runtime.LockOSThread()
	r, w, err := os.Pipe()
	if err != nil {
		fmt.Fprintln(os.Stderr, "addc:", err)
		return 1
	}
	args := append([]string{"--net", "--pid", "--mount", "--uts", "--fork", "--kill-child", "--mount-proc", self}, os.Args[1:]...)
	cmd := exec.Command(unshare, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.ExtraFiles = []*os.File{r} // fd 3 in the child
	cmd.Env = append(os.Environ(), nsEnv+"=3")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "addc: cannot start the tests in private namespaces (%s %v; it needs root): %v\n", unshare, args[:7], err)
		return 1
	}
	r.Close()
	kill := func() { _ = cmd.Process.Kill() } // --kill-child takes the namespace down

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	// A go command killed with SIGKILL leaves its test binary running:
	// notice the new parent and end the run.
	ppid := os.Getppid()
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			w.Close()
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				if ee.ExitCode() >= 0 {
					return ee.ExitCode()
				}
				fmt.Fprintln(os.Stderr, "addc: the tests in the namespace ended:", err)
				return 1
			}
			if err != nil {
				fmt.Fprintln(os.Stderr, "addc:", err)
				return 1
			}
			return 0
		case s := <-sigs:
			fmt.Fprintf(os.Stderr, "addc: %v: stopping the tests and the DC\n", s)
			kill()
			<-done
			return 1
		case <-tick.C:
			if os.Getppid() != ppid {
				kill()
				<-done
				return 1
			}
		}
	}
}

// setupNamespace prepares the namespace the tests run in.
func setupNamespace() error {
	if os.Getpid() != 1 {
		return fmt.Errorf("addc: %s is set but this process is not the first of a PID namespace (pid %d)", nsEnv, os.Getpid())
	}
	// The outer process holds the write end of the pipe: its end (EOF)
	// means it is gone, and so must this namespace be.
	if f := os.NewFile(3, "addc-parent"); f != nil {
		go func() {
			_, _ = io.Copy(io.Discard, f)
			fmt.Fprintln(os.Stderr, "addc: the outer test process is gone; ending the namespace")
			os.Exit(1)
		}()
	}
	if err := loopbackUp(); err != nil {
		return fmt.Errorf("addc: bring lo up: %w", err)
	}
	if err := syscall.Sethostname([]byte(HostName)); err != nil {
		return fmt.Errorf("addc: sethostname: %w", err)
	}
	// Nothing mounted here may reach the host's mount table.
	if err := syscall.Mount("", "/", "", syscall.MS_REC|syscall.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("addc: make mounts private: %w", err)
	}
	if err := os.MkdirAll("/run/samba", 0o755); err != nil {
		return err
	}
	if err := syscall.Mount("tmpfs", "/run/samba", "tmpfs", 0, "mode=0755"); err != nil {
		return fmt.Errorf("addc: tmpfs on /run/samba: %w", err)
	}
	runRoot = "/run/samba"
	// A private /etc/hosts naming the DC and the service host: name
	// lookups of the DC's own name must not go to DNS.
	hosts := filepath.Join("/run/samba", "hosts")
	content := fmt.Sprintf("127.0.0.1\tlocalhost\n127.0.0.1\t%s.%s %s\n127.0.0.1\t%s\n::1\tlocalhost ip6-localhost ip6-loopback\n",
		HostName, DNSDomain, HostName, ServiceHost)
	if err := os.WriteFile(hosts, []byte(content), 0o644); err != nil {
		return err
	}
	if err := syscall.Mount(hosts, "/etc/hosts", "", syscall.MS_BIND, ""); err != nil {
		return fmt.Errorf("addc: bind mount /etc/hosts: %w", err)
	}
	return nil
}

// loopbackUp sets IFF_UP on lo (ip link set lo up) with SIOCGIFFLAGS and
// SIOCSIFFLAGS.
func loopbackUp() error {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_DGRAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer syscall.Close(fd)
	var ifr struct {
		name  [syscall.IFNAMSIZ]byte
		flags uint16
		_     [22]byte
	}
	copy(ifr.name[:], "lo")
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), syscall.SIOCGIFFLAGS, uintptr(unsafe.Pointer(&ifr))); e != 0 {
		return e
	}
	ifr.flags |= syscall.IFF_UP | syscall.IFF_RUNNING
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), syscall.SIOCSIFFLAGS, uintptr(unsafe.Pointer(&ifr))); e != 0 {
		return e
	}
	return nil
}
