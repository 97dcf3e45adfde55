package integration

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	repoRoot = mustRepoRoot()
	broker   *tansu // shared by every test: started once in TestMain
)

func mustRepoRoot() string {
	dir, err := filepath.Abs(filepath.Join("..", "..", ".."))
	if err != nil {
		panic(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "tools", "harness", "sluice_harness")); err != nil {
		panic("integration tests must run from clients/go/integration in the repository: " + err.Error())
	}
	return dir
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func pythonPath() string {
	return envOr("SLUICE_PYTHON", filepath.Join(repoRoot, ".venv", "bin", "python"))
}

func sluicedPath() string {
	return envOr("SLUICED", filepath.Join(repoRoot, ".build", "debug", "sluiced"))
}

func harnessCmd(args ...string) *exec.Cmd {
	cmd := exec.Command(pythonPath(), append([]string{"-m", "sluice_harness"}, args...)...)
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(), "PYTHONPATH="+filepath.Join(repoRoot, "tools", "harness"))
	return cmd
}

func TestMain(m *testing.M) {
	for _, p := range []string{pythonPath(), sluicedPath()} {
		if _, err := os.Stat(p); err != nil {
			fmt.Fprintf(os.Stderr, "integration: %v (SLUICED / SLUICE_PYTHON, scripts/bootstrap)\n", err)
			os.Exit(1)
		}
	}
	var err error
	broker, err = startTansu()
	if err != nil {
		fmt.Fprintf(os.Stderr, "integration: %v\n", err)
		os.Exit(1)
	}
	code := m.Run()
	broker.stop()
	os.Exit(code)
}

// tansu is the harness's `tansu` command: a Tansu broker on loopback and a JSON-line
// command channel on the harness's stdin/stdout.
type tansu struct {
	Bootstrap string `json:"bootstrap"`
	Pid       int    `json:"pid"`

	cmd   *exec.Cmd
	in    io.WriteCloser
	lines chan string
	log   string
	mu    sync.Mutex
	next  int
}

func startTansu() (*tansu, error) {
	logFile, err := os.CreateTemp("", "sluice-go-tansu-*.log")
	if err != nil {
		return nil, err
	}
	b := &tansu{log: logFile.Name(), lines: make(chan string, 16)}
	b.cmd = harnessCmd("tansu")
	b.cmd.Stderr = logFile
	if b.in, err = b.cmd.StdinPipe(); err != nil {
		return nil, err
	}
	out, err := b.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := b.cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			b.lines <- sc.Text()
		}
		close(b.lines)
	}()
	line, err := b.line(40 * time.Second)
	if err != nil {
		b.stop()
		return nil, fmt.Errorf("tansu did not start: %v; log %s:\n%s", err, b.log, tail(b.log))
	}
	if err := json.Unmarshal([]byte(line), b); err != nil || b.Bootstrap == "" {
		b.stop()
		return nil, fmt.Errorf("tansu greeting %q: %v", line, err)
	}
	return b, nil
}

func (b *tansu) line(timeout time.Duration) (string, error) {
	select {
	case l, ok := <-b.lines:
		if !ok {
			return "", fmt.Errorf("harness exited")
		}
		return l, nil
	case <-time.After(timeout):
		return "", fmt.Errorf("no answer in %v", timeout)
	}
}

// command sends one JSON command and returns its reply; an {"ok":false} reply is an error.
func (b *tansu) command(op map[string]any) (map[string]any, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.next++
	op["id"] = b.next
	msg, _ := json.Marshal(op)
	if _, err := b.in.Write(append(msg, '\n')); err != nil {
		return nil, err
	}
	for {
		line, err := b.line(30 * time.Second)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", msg, err)
		}
		var reply map[string]any
		if err := json.Unmarshal([]byte(line), &reply); err != nil {
			return nil, fmt.Errorf("%s: bad reply %q", msg, line)
		}
		if id, _ := reply["id"].(float64); int(id) != b.next {
			continue // the answer to a command we gave up on
		}
		if ok, _ := reply["ok"].(bool); !ok {
			return nil, fmt.Errorf("%s: %v", msg, reply["error"])
		}
		return reply, nil
	}
}

func (b *tansu) stop() {
	if b.in != nil {
		b.in.Close() // stdin EOF: the harness kills Tansu and exits
	}
	done := make(chan struct{})
	go func() { _ = b.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = b.cmd.Process.Kill()
		<-done
	}
	os.Remove(b.log)
}

var topicSeq struct {
	sync.Mutex
	n int
}

// newTopic creates a topic with a name unique to this run.
func newTopic(t *testing.T, partitions int) string {
	t.Helper()
	topicSeq.Lock()
	topicSeq.n++
	name := fmt.Sprintf("go-%s-%d-%d", strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-")), os.Getpid(), topicSeq.n)
	topicSeq.Unlock()
	if _, err := broker.command(map[string]any{"op": "create_topic", "topic": name, "partitions": partitions}); err != nil {
		t.Fatalf("create topic: %v", err)
	}
	return name
}

// pauseBroker stops Tansu (SIGSTOP): its connections stay open, nothing is answered.
// The returned func (also run at cleanup) resumes it.
func pauseBroker(t *testing.T) (resume func()) {
	t.Helper()
	if err := syscall.Kill(broker.Pid, syscall.SIGSTOP); err != nil {
		t.Fatalf("SIGSTOP tansu: %v", err)
	}
	// kill(2) returns before every thread has stopped (on a loaded machine a thread
	// ran on for a while and answered one more request): wait until all have.
	for deadline := time.Now().Add(5 * time.Second); !allThreadsStopped(broker.Pid); {
		if time.Now().After(deadline) {
			_ = syscall.Kill(broker.Pid, syscall.SIGCONT)
			t.Fatal("tansu's threads not all stopped 5 s after SIGSTOP")
		}
		time.Sleep(5 * time.Millisecond)
	}
	var once sync.Once
	resume = func() {
		once.Do(func() {
			if err := syscall.Kill(broker.Pid, syscall.SIGCONT); err != nil {
				t.Errorf("SIGCONT tansu: %v", err)
			}
		})
	}
	t.Cleanup(resume)
	return resume
}

// allThreadsStopped says whether every thread of pid is in state T (stopped), from
// /proc/PID/task/TID/stat ("TID (comm) STATE ...").
func allThreadsStopped(pid int) bool {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil || len(tasks) == 0 {
		return false
	}
	for _, task := range tasks {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/stat", pid, task.Name()))
		if err != nil {
			return false
		}
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 || i+2 >= len(stat) || stat[i+2] != 'T' {
			return false
		}
	}
	return true
}

// consumed is one record as the harness's consumer prints it: key, value and header
// values in base64, null for a null one.
type consumed struct {
	Partition     int32        `json:"partition"`
	Offset        int64        `json:"offset"`
	Key           *string      `json:"key"`
	Value         *string      `json:"value"`
	Headers       [][2]*string `json:"headers"`
	Timestamp     int64        `json:"timestamp"`
	TimestampType int          `json:"timestamp_type"`
}

// text decodes a base64 field; null is "<null>" so that it differs from "".
func text(t *testing.T, b64 *string) string {
	t.Helper()
	if b64 == nil {
		return "<null>"
	}
	data, err := base64.StdEncoding.DecodeString(*b64)
	if err != nil {
		t.Fatalf("base64 %q: %v", *b64, err)
	}
	return string(data)
}

// consume reads the topic back from the beginning with confluent-kafka's consumer,
// until it has expect records or none came for 2 s (expect 0: only the latter).
func consume(t *testing.T, topic string, expect int) []consumed {
	t.Helper()
	args := []string{"consume", "--bootstrap", broker.Bootstrap, "--topic", topic,
		"--idle-ms", "2000", "--timeout-s", "20"}
	if expect > 0 {
		args = append(args, "--expect", fmt.Sprint(expect))
	}
	cmd := harnessCmd(args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("consume %s: %v\n%s", topic, err, stderr.String())
	}
	var records []consumed
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if line == "" {
			continue
		}
		var r consumed
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("consume line %q: %v", line, err)
		}
		records = append(records, r)
	}
	return records
}

// tail is the end of a log file, for failure messages.
func tail(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	if len(data) > 4000 {
		data = data[len(data)-4000:]
	}
	return string(data)
}
