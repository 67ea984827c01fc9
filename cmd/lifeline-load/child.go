package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// childEnv marks a process started by spawn: its first argument, -serve or
// -drive, says which role it plays.
const childEnv = "LIFELINE_LOAD_CHILD"

// childRole runs the role named by args[0] if this process is a child, and
// reports whether it was one.
func childRole(args []string) (code int, isChild bool) {
	role := ""
	if len(args) > 0 {
		role = strings.TrimLeft(args[0], "-")
	}
	switch {
	case role == "serve":
		return childMain(args), true
	case role == "drive":
		return driverMain(args), true
	case os.Getenv(childEnv) != "":
		fmt.Fprintf(os.Stderr, "lifeline-load child: unknown role %q\n", role)
		return 2, true
	}
	return 0, false
}

// proc is a child process (this binary re-executed as a server or a load
// driver) that talks through lines on its standard input and output. A
// server in its own process has an RSS of its own.
type proc struct {
	name   string
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout *os.File
	lines  *bufio.Reader
}

func spawn(name string, args ...string) (*proc, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), childEnv+"=1")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &proc{name: name, cmd: cmd, stdin: stdin, lines: bufio.NewReader(stdout)}
	p.stdout, _ = stdout.(*os.File)
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// readLine reads the child's next line of output, waiting at most timeout.
func (p *proc) readLine(timeout time.Duration) (string, error) {
	if p.stdout != nil {
		_ = p.stdout.SetReadDeadline(time.Now().Add(timeout))
	}
	line, err := p.lines.ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("%s: reading its output: %w", p.name, err)
	}
	return strings.TrimSuffix(line, "\n"), nil
}

// send writes one command line to the child.
func (p *proc) send(cmd string) error {
	_, err := io.WriteString(p.stdin, cmd+"\n")
	return err
}

// stop closes the child's standard input, its signal to finish, and waits
// for it to exit, killing it after 10 seconds.
func (p *proc) stop() {
	_ = p.stdin.Close()
	done := make(chan struct{})
	go func() {
		_ = p.cmd.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-done
	}
}

// startServer starts a server child of kind for transport and returns it
// with its address and GOMAXPROCS. A redis server keeps its state under
// shared.
func startServer(kind, transport string, settings serverSettings, withPprof bool, shared redisTarget, timeout time.Duration) (*proc, string, int, error) {
	args := []string{"-serve", kind, "-transport", transport, "-addr", "127.0.0.1:0"}
	if kind == targetRedis {
		args = append(args, "-redis", shared.url, "-prefix", shared.prefix)
	}
	args = append(args, settings.args()...)
	if withPprof {
		args = append(args, "-pprof")
	}
	p, err := spawn(transport+" "+kind+" server", args...)
	if err != nil {
		return nil, "", 0, err
	}
	line, err := p.readLine(timeout)
	fields := strings.Fields(line)
	if err != nil || len(fields) != 3 || fields[0] != "LISTENING" {
		p.stop()
		return nil, "", 0, fmt.Errorf("%s did not start: %q %v", p.name, line, err)
	}
	procs, _ := strconv.Atoi(fields[2])
	return p, fields[1], procs, nil
}

// rssKB reads VmRSS of pid from /proc, in KiB.
func rssKB(pid int) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	for line := range bytes.Lines(b) {
		if rest, ok := bytes.CutPrefix(line, []byte("VmRSS:")); ok {
			f := strings.Fields(string(rest))
			if len(f) < 1 {
				break
			}
			return strconv.ParseInt(f[0], 10, 64)
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}

// settledRSS waits until the RSS of pid stops moving (two readings 250 ms
// apart within 0.2% or 256 KiB), at most five seconds, and returns it.
func settledRSS(pid int) (int64, error) {
	prev, err := rssKB(pid)
	if err != nil {
		return 0, err
	}
	end := time.Now().Add(5 * time.Second)
	for {
		time.Sleep(250 * time.Millisecond)
		cur, err := rssKB(pid)
		if err != nil {
			return 0, err
		}
		if d := cur - prev; max(d, -d) <= max(prev/500, 256) || time.Now().After(end) {
			return cur, nil
		}
		prev = cur
	}
}
