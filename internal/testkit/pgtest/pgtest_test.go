package pgtest

import (
	"context"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestClusterRestartsWithItsData(t *testing.T) {
	c := StartCluster(t)
	url := c.DB(t)
	ctx := context.Background()
	conn := Connect(t, url)
	if _, err := conn.Exec(ctx, "CREATE TABLE t(x int); INSERT INTO t VALUES (7)"); err != nil {
		t.Fatal(err)
	}
	c.Restart()
	conn = Connect(t, url)
	var x int
	if err := conn.QueryRow(ctx, "SELECT x FROM t").Scan(&x); err != nil || x != 7 {
		t.Fatalf("after restart: x = %d, %v", x, err)
	}
	var level string
	if err := conn.QueryRow(ctx, "SHOW wal_level").Scan(&level); err != nil || level != "logical" {
		t.Fatalf("wal_level = %q, %v", level, err)
	}
}
