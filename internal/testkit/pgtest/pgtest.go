// Package pgtest gives tests a PostgreSQL database of their own: a fresh
// database on the machine's server (127.0.0.1:5432, user postgres, trust
// authentication), or a whole cluster of the test's own (initdb into a
// temporary directory, on a free port) for tests that must stop and
// restart the server, which must never happen to the machine's service.
//
// Both need wal_level = logical (.ci/run sets it on the machine's server;
// Cluster sets it on its own). A test on a machine without PostgreSQL is
// skipped with a message saying so, and fails instead under CI=true, where
// a skipped test would hide a gap.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// MachineServer is the machine's PostgreSQL, as .ci/run prepares it.
const MachineServer = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// skipOrFail skips t with why, or fails it under CI=true.
func skipOrFail(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s; CI must provide it", why)
	}
	t.Skip(why)
}

// DB creates a database of t's own on the machine's server and returns its
// connection string; the database (and any replication slot in it) is
// dropped when t ends.
func DB(t testing.TB) string {
	t.Helper()
	return createDB(t, MachineServer)
}

// createDB creates a fresh database on the server admin connects to.
func createDB(t testing.TB, admin string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		skipOrFail(t, fmt.Sprintf("PostgreSQL is not reachable at %s (%v): install and start it (apt-get install postgresql) with trust authentication for 127.0.0.1", admin, err))
	}
	defer conn.Close(context.Background())
	var level string
	if err := conn.QueryRow(ctx, "SHOW wal_level").Scan(&level); err != nil {
		t.Fatal(err)
	}
	if level != "logical" {
		skipOrFail(t, fmt.Sprintf("PostgreSQL has wal_level = %s: run ALTER SYSTEM SET wal_level = logical and restart it (.ci/run does)", level))
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "lltest_" + hex.EncodeToString(b[:])
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() { dropDB(t, admin, name) })
	cfg, err := pgx.ParseConfig(admin)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("postgres://%s@%s:%d/%s?sslmode=disable", cfg.User, cfg.Host, cfg.Port, name)
}

// dropDB drops a test's database with its replication slots, which would
// otherwise retain WAL on the machine's server for ever.
func dropDB(t testing.TB, admin, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Logf("pgtest: drop %s: %v", name, err)
		return
	}
	defer conn.Close(context.Background())
	for range 50 {
		_, err = conn.Exec(ctx, "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = $1 AND NOT active", name)
		var active bool
		if err == nil {
			err = conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_replication_slots WHERE database = $1)", name).Scan(&active)
		}
		if err == nil && !active {
			break
		}
		time.Sleep(100 * time.Millisecond) // a relay's connection is still closing
	}
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
		t.Logf("pgtest: drop %s: %v", name, err)
	}
}

// Connect connects to connString for t, closed when t ends.
func Connect(t testing.TB, connString string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, connString)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}
