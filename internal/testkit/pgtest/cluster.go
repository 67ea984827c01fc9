package pgtest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// A Cluster is a PostgreSQL server of one test's own: its data in a
// temporary directory, listening on a free port of 127.0.0.1 with trust
// authentication and wal_level = logical. Its methods must be called from
// the test's goroutine.
type Cluster struct {
	t    testing.TB
	bin  string
	dir  string
	port int
	// as runs the server's commands as the postgres user when the test
	// runs as root, which PostgreSQL refuses to run as.
	as []string
}

// StartCluster initdbs and starts a cluster for t, stopped and removed
// when t ends.
func StartCluster(t testing.TB) *Cluster {
	t.Helper()
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(bins) == 0 {
		skipOrFail(t, "PostgreSQL server binaries are not installed (no /usr/lib/postgresql/*/bin/initdb): apt-get install postgresql")
	}
	c := &Cluster{t: t, bin: filepath.Dir(bins[len(bins)-1])}
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			skipOrFail(t, "running as root without a postgres user to run a test cluster as")
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
		c.as = []string{"runuser", "-u", "postgres", "--"}
	}
	c.dir = filepath.Join(dir, "data")
	c.port = freePort(t)
	c.run("initdb", "-D", c.dir, "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8")
	conf := fmt.Sprintf("\nlisten_addresses = '127.0.0.1'\nport = %d\nunix_socket_directories = '%s'\nwal_level = logical\nmax_wal_senders = 4\nmax_replication_slots = 4\nfsync = off\nshared_buffers = 16MB\n", c.port, dir)
	f, err := os.OpenFile(filepath.Join(c.dir, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.WriteString(conf)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	c.Start()
	t.Cleanup(c.Stop)
	return c
}

// run runs one of the server's programs, failing t with its output.
func (c *Cluster) run(prog string, args ...string) {
	c.t.Helper()
	argv := append(append([]string{}, c.as...), append([]string{filepath.Join(c.bin, prog)}, args...)...)
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		c.t.Fatalf("%s: %v\n%s", prog, err, out)
	}
}

// Start starts the server and waits until it accepts connections.
func (c *Cluster) Start() {
	c.t.Helper()
	c.run("pg_ctl", "-D", c.dir, "-l", filepath.Join(filepath.Dir(c.dir), "log"), "-w", "-t", "30", "start")
}

// Stop stops the server at once (immediate mode: as a crash, without a
// checkpoint), if it runs.
func (c *Cluster) Stop() {
	argv := append(append([]string{}, c.as...), filepath.Join(c.bin, "pg_ctl"), "-D", c.dir, "-m", "immediate", "-w", "stop")
	_ = exec.Command(argv[0], argv[1:]...).Run() // fails when it is not running
}

// Restart stops the server as a crash would and starts it again.
func (c *Cluster) Restart() {
	c.t.Helper()
	c.Stop()
	c.Start()
}

// URL returns the connection string of database db.
func (c *Cluster) URL(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.port, db)
}

// DB creates a database of t's own on the cluster and returns its
// connection string.
func (c *Cluster) DB(t testing.TB) string {
	t.Helper()
	return createDB(t, c.URL("postgres"))
}

// Wait waits until the server accepts connections again.
func (c *Cluster) Wait(ctx context.Context) error {
	for {
		conn, err := pgx.Connect(ctx, c.URL("postgres"))
		if err == nil {
			conn.Close(ctx)
			return nil
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// freePort returns a port of 127.0.0.1 that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
