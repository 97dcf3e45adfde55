package integration

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// daemon is a sluiced child process producing to the shared Tansu.
type daemon struct {
	t      *testing.T
	socket string
	args   []string
	log    string
	cmd    *exec.Cmd
	done   chan struct{}
}

// socketPath is a fresh socket path, short enough for sun_path's 108 bytes.
func socketPath(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "sluice-go-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return filepath.Join(dir, "sluiced.sock")
}

// startSluiced starts sluiced on socket with toml (may be empty) as its configuration
// file and sets (KEY=VALUE) on top, and waits until the socket accepts.
func startSluiced(t *testing.T, socket, toml string, sets ...string) *daemon {
	t.Helper()
	dir := filepath.Dir(socket)
	config := filepath.Join(dir, "sluiced.toml")
	if err := os.WriteFile(config, []byte(toml), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"--config", config, "--brokers", broker.Bootstrap, "--socket", socket,
		"--set", "listener.systemd=false", "--log-level", "info"}
	for _, s := range sets {
		args = append(args, "--set", s)
	}
	d := &daemon{t: t, socket: socket, args: args, log: filepath.Join(dir, "sluiced.log")}
	d.start()
	t.Cleanup(d.stop)
	return d
}

func (d *daemon) start() {
	d.t.Helper()
	logFile, err := os.OpenFile(d.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		d.t.Fatal(err)
	}
	defer logFile.Close()
	d.cmd = exec.Command(sluicedPath(), d.args...)
	d.cmd.Stdout, d.cmd.Stderr = logFile, logFile
	if err := d.cmd.Start(); err != nil {
		d.t.Fatalf("start sluiced: %v", err)
	}
	d.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { _ = cmd.Wait(); close(done) }(d.cmd, d.done)
	deadline := time.Now().Add(20 * time.Second)
	for {
		if c, err := net.Dial("unix", d.socket); err == nil {
			c.Close()
			return
		}
		select {
		case <-d.done:
			d.t.Fatalf("sluiced exited (%v) before listening; log:\n%s", d.cmd.ProcessState, tail(d.log))
		default:
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("sluiced not listening on %s after 20 s; log:\n%s", d.socket, tail(d.log))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// terminate sends SIGTERM (drain, exit 0), waits for the exit and checks its status.
func (d *daemon) terminate() {
	d.t.Helper()
	if state := d.sigterm(); state != "" {
		d.t.Errorf("sluiced after SIGTERM: %s; log:\n%s", state, tail(d.log))
	}
}

// sigterm sends SIGTERM and waits; it says what went wrong, or "" for exit 0.
func (d *daemon) sigterm() string {
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
		if !d.cmd.ProcessState.Success() {
			return d.cmd.ProcessState.String()
		}
		return ""
	case <-time.After(20 * time.Second):
		d.kill()
		return "still running 20 s after it (killed)"
	}
}

// kill ends sluiced with SIGKILL: nothing is drained, no final replies.
func (d *daemon) kill() {
	_ = d.cmd.Process.Kill()
	<-d.done
}

func (d *daemon) stop() {
	select {
	case <-d.done:
		return
	default:
	}
	// Not an assertion: sluiced traps SIGTERM only a moment after its socket accepts
	// (Gateway/Lifecycle/GatewayApp.run), so a daemon stopped right after its test's
	// first connection can die of the signal instead of draining.
	if state := d.sigterm(); state != "" {
		d.t.Logf("sluiced stopped at cleanup: %s", state)
	}
	if d.t.Failed() {
		fmt.Fprintf(os.Stderr, "--- sluiced log (%s):\n%s\n", d.log, tail(d.log))
	}
}
