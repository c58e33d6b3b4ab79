package gssproxy

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"github.com/gosspi/gosspi/bench/mitkrb"
	"github.com/gosspi/gosspi/internal/sysenv"
	"github.com/gosspi/gosspi/internal/testutil"
)

// A worker is a process that runs MIT's acceptor on the benchmark
// process's behalf: the test binary started again with WorkerEnv set, its
// TestMain calling ServeWorker. Requests and answers are JSON lines on its
// stdin and stdout.
type request struct {
	Op      string `json:"op"` // accept, unwrap, loop, parallel, open
	Token   []byte `json:"token,omitempty"`
	N       int    `json:"n,omitempty"`
	Workers int    `json:"workers,omitempty"`
	Path    string `json:"path,omitempty"`
	Cred    bool   `json:"cred,omitempty"` // loop, parallel: one acceptor credential, not GSS_C_NO_CREDENTIAL
}

type reply struct {
	Err    string `json:"err,omitempty"`
	Token  []byte `json:"token,omitempty"`
	Src    string `json:"src,omitempty"`
	Target string `json:"target,omitempty"`
	Conf   bool   `json:"conf,omitempty"`
	NS     int64  `json:"ns,omitempty"`     // wall time
	CPUNS  int64  `json:"cpu_ns,omitempty"` // the worker's CPU time (user + system)
	UID    int    `json:"uid"`
}

// WorkerEnv is the environment variable that makes the test binary's
// TestMain serve as a worker (ServeWorker) instead of running tests.
const WorkerEnv = "GOSSPI_GSSPROXY_WORKER"

// ServeWorker answers requests from r on w until r ends. It runs in the
// worker process; its GSS calls use the process environment (KRB5_KTNAME,
// GSS_USE_PROXY, GSSPROXY_SOCKET, ...), set by StartWorker before the
// process's first GSS call.
func ServeWorker(r io.Reader, w io.Writer) error {
	dec := json.NewDecoder(bufio.NewReader(r))
	enc := json.NewEncoder(w)
	var cur *mitkrb.Context
	defer func() {
		if cur != nil {
			cur.Delete()
		}
	}()
	for {
		var q request
		if err := dec.Decode(&q); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		a := reply{UID: os.Getuid()}
		var err error
		switch q.Op {
		case "accept":
			// One accept into a context kept for unwrap, and the names
			// gss_inquire_context gives.
			if cur != nil {
				cur.Delete()
			}
			cur = new(mitkrb.Context)
			if a.Token, err = cur.Accept(q.Token); err == nil {
				a.Src, a.Target, err = cur.Names()
			}
		case "unwrap":
			if cur == nil {
				err = errors.New("no context")
				break
			}
			a.Token, a.Conf, err = cur.Unwrap(q.Token)
		case "loop":
			c0, start := testutil.ProcessCPU(), sysenv.Now()
			err = acceptLoop(q.Token, q.N, q.Cred)
			a.NS, a.CPUNS = sysenv.Now().Sub(start).Nanoseconds(), int64(testutil.ProcessCPU()-c0)
		case "parallel":
			c0, start := testutil.ProcessCPU(), sysenv.Now()
			err = parallel(q.Token, q.N, q.Workers, q.Cred)
			a.NS, a.CPUNS = sysenv.Now().Sub(start).Nanoseconds(), int64(testutil.ProcessCPU()-c0)
		case "open":
			// Can this process read the file (the keytab)?
			var f *os.File
			if f, err = os.Open(q.Path); err == nil {
				f.Close()
			}
		default:
			err = fmt.Errorf("unknown op %q", q.Op)
		}
		if err != nil {
			a.Err = err.Error()
		}
		if err := enc.Encode(&a); err != nil {
			return err
		}
	}
}

func acceptLoop(token []byte, n int, cred bool) error {
	if cred {
		return mitkrb.AcceptLoopCred(token, n)
	}
	return mitkrb.AcceptLoop(token, n)
}

// parallel accepts token n times in total from workers concurrent
// callers, each in its own thread (one cgo call each; with cred, each
// acquires its credential once).
func parallel(token []byte, n, workers int, cred bool) error {
	if workers < 1 {
		workers = 1
	}
	var wg sync.WaitGroup
	errs := make([]error, workers)
	for i := 0; i < workers; i++ {
		share := n / workers
		if i < n%workers {
			share++
		}
		wg.Add(1)
		go func(i, share int) {
			defer wg.Done()
			if share > 0 {
				errs[i] = acceptLoop(token, share, cred)
			}
		}(i, share)
	}
	wg.Wait()
	return errors.Join(errs...)
}

// WorkerConfig says how to start a worker.
type WorkerConfig struct {
	// Exe is the test binary; it must be executable by UID.
	Exe string
	// UID and GID the worker runs as, with no supplementary groups.
	UID, GID int
	// Env is the worker's whole environment (WorkerEnv is added).
	Env []string
}

// Worker is the benchmark process's handle on a worker process.
type Worker struct {
	mu     sync.Mutex
	cmd    *exec.Cmd
	in     io.WriteCloser
	enc    *json.Encoder
	dec    *json.Decoder
	stderr testutil.SyncBuffer // written by exec's copying goroutine
}

// StartWorker starts a worker process.
func StartWorker(c WorkerConfig) (*Worker, error) {
	w := &Worker{cmd: exec.Command(c.Exe)}
	w.cmd.Env = append(append([]string(nil), c.Env...), WorkerEnv+"=1")
	w.cmd.Dir = "/"
	w.cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential: &syscall.Credential{Uid: uint32(c.UID), Gid: uint32(c.GID), Groups: []uint32{}},
		Pdeathsig:  syscall.SIGKILL,
	}
	w.cmd.Stderr = &w.stderr
	in, err := w.cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := w.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := w.cmd.Start(); err != nil {
		return nil, fmt.Errorf("gssproxy: start worker: %v", err)
	}
	w.in, w.enc, w.dec = in, json.NewEncoder(in), json.NewDecoder(bufio.NewReader(out))
	return w, nil
}

func (w *Worker) call(q request) (reply, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	var a reply
	if err := w.enc.Encode(&q); err != nil {
		return a, fmt.Errorf("gssproxy: worker: %v (%s)", err, w.stderr.String())
	}
	if err := w.dec.Decode(&a); err != nil {
		return a, fmt.Errorf("gssproxy: worker: %v (%s)", err, w.stderr.String())
	}
	if a.Err != "" {
		return a, errors.New(a.Err)
	}
	return a, nil
}

// Timing is what a batch of accepts in a worker took: wall time and the
// worker's CPU time.
type Timing struct{ Wall, CPU time.Duration }

// Accepted is what one gss_accept_sec_context in a worker gave.
type Accepted struct {
	Token  []byte // the output token (AP-REP)
	Src    string // the initiator's name (gss_display_name)
	Target string // the acceptor's name
	UID    int    // the worker's uid
}

// Accept runs gss_accept_sec_context on token in the worker, which keeps
// the context for Unwrap.
func (w *Worker) Accept(token []byte) (Accepted, error) {
	a, err := w.call(request{Op: "accept", Token: token})
	return Accepted{Token: a.Token, Src: a.Src, Target: a.Target, UID: a.UID}, err
}

// Unwrap is gss_unwrap with the worker's last accepted context.
func (w *Worker) Unwrap(token []byte) (data []byte, conf bool, err error) {
	a, err := w.call(request{Op: "unwrap", Token: token})
	return a.Token, a.Conf, err
}

// AcceptLoop accepts token n times in the worker (fresh contexts, one cgo
// call) and returns the worker's elapsed time. With cred the worker
// acquires an acceptor credential once and passes it to every accept;
// without, each accept gets GSS_C_NO_CREDENTIAL (MIT then finds the
// default credential itself, and gssproxy's interposer asks the daemon for
// it: two round trips per accept instead of one).
func (w *Worker) AcceptLoop(token []byte, n int, cred bool) (Timing, error) {
	a, err := w.call(request{Op: "loop", Token: token, N: n, Cred: cred})
	return Timing{Wall: time.Duration(a.NS), CPU: time.Duration(a.CPUNS)}, err
}

// AcceptParallel accepts token n times in the worker from workers
// concurrent threads and returns the elapsed time; cred as for
// AcceptLoop.
func (w *Worker) AcceptParallel(token []byte, n, workers int, cred bool) (Timing, error) {
	a, err := w.call(request{Op: "parallel", Token: token, N: n, Workers: workers, Cred: cred})
	return Timing{Wall: time.Duration(a.NS), CPU: time.Duration(a.CPUNS)}, err
}

// CanOpen reports whether the worker process can open path for reading.
func (w *Worker) CanOpen(path string) (bool, error) {
	a, err := w.call(request{Op: "open", Path: path})
	if a.Err != "" && err != nil {
		return false, nil
	}
	return err == nil, err
}

// Close ends the worker (its stdin closes; it exits).
func (w *Worker) Close() error {
	w.in.Close()
	return w.cmd.Wait()
}
