package llpg

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// Install prepares the database for cfg's relay, once (it is idempotent):
// it checks that wal_level is logical, creates (or updates) the
// publication of cfg.Tables and creates the logical replication slot.
// From the moment Install returns, every committed change of those tables
// is kept for the relay, whether an app runs or not. conn must be a
// connection of a role that may create publications on the tables (their
// owner) and has REPLICATION. It runs the same SQL as InstallSQL.
func Install(ctx context.Context, conn *pgx.Conn, cfg Config) error {
	cfg = cfg.withDefaults()
	if err := cfg.checkNames(); err != nil {
		return err
	}
	var level string
	if err := conn.QueryRow(ctx, "SHOW wal_level").Scan(&level); err != nil {
		return fmt.Errorf("llpg: install: %w", err)
	}
	if level != "logical" {
		return fmt.Errorf("%w (it is %q): ALTER SYSTEM SET wal_level = logical, then restart Postgres", ErrNotLogical, level)
	}
	var pubExists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = $1)", cfg.Publication).Scan(&pubExists); err != nil {
		return fmt.Errorf("llpg: install: %w", err)
	}
	verb := "CREATE PUBLICATION %s FOR TABLE %s"
	if pubExists {
		verb = "ALTER PUBLICATION %s SET TABLE %s"
	}
	if _, err := conn.Exec(ctx, fmt.Sprintf(verb, pgx.Identifier{cfg.Publication}.Sanitize(), cfg.tableList())); err != nil {
		return fmt.Errorf("llpg: install: publication: %w", err)
	}
	var slotExists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = $1)", cfg.Slot).Scan(&slotExists); err != nil {
		return fmt.Errorf("llpg: install: %w", err)
	}
	if !slotExists {
		if _, err := conn.Exec(ctx, "SELECT pg_create_logical_replication_slot($1, 'pgoutput')", cfg.Slot); err != nil {
			return fmt.Errorf("llpg: install: slot: %w", err)
		}
	}
	return nil
}

// Uninstall removes what Install created: the slot (which frees the WAL it
// retains) and the publication. Run it with every relay of the slot
// closed: Postgres refuses to drop a slot in use.
func Uninstall(ctx context.Context, conn *pgx.Conn, cfg Config) error {
	cfg = cfg.withDefaults()
	if err := cfg.checkNames(); err != nil && !errors.Is(err, errNoTables) {
		return err
	}
	if _, err := conn.Exec(ctx, "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1", cfg.Slot); err != nil {
		return fmt.Errorf("llpg: uninstall: slot: %w", err)
	}
	if _, err := conn.Exec(ctx, "DROP PUBLICATION IF EXISTS "+pgx.Identifier{cfg.Publication}.Sanitize()); err != nil {
		return fmt.Errorf("llpg: uninstall: publication: %w", err)
	}
	return nil
}

// InstallSQL returns SQL equivalent to Install, for apps that run their
// migrations as SQL files.
func InstallSQL(cfg Config) (string, error) {
	cfg = cfg.withDefaults()
	if err := cfg.checkNames(); err != nil {
		return "", err
	}
	return fmt.Sprintf("-- needs wal_level = logical\nCREATE PUBLICATION %s FOR TABLE %s;\nSELECT pg_create_logical_replication_slot('%s', 'pgoutput');\n",
		pgx.Identifier{cfg.Publication}.Sanitize(), cfg.tableList(), cfg.Slot), nil
}

var errNoTables = fmt.Errorf("%w: no tables", ErrConfig)

// checkNames checks the names of the slot (Postgres allows [a-z0-9_], at
// most 63 bytes) and of the publication (held to the same, since the
// replication command names it unquoted, folded to lower case), and that
// there are tables with names.
func (c *Config) checkNames() error {
	for _, n := range []struct{ what, name string }{{"slot", c.Slot}, {"publication", c.Publication}} {
		if n.name == "" || len(n.name) > 63 || strings.Trim(n.name, "abcdefghijklmnopqrstuvwxyz0123456789_") != "" {
			return fmt.Errorf("%w: %s %q: use 1 to 63 of [a-z0-9_]", ErrConfig, n.what, n.name)
		}
	}
	if len(c.Tables) == 0 {
		return errNoTables
	}
	for _, t := range c.Tables {
		if t.Name == "" {
			return fmt.Errorf("%w: a table without a name", ErrConfig)
		}
	}
	return nil
}

// tableList returns the tables as a quoted, comma-separated list, each
// once.
func (c *Config) tableList() string {
	seen := make(map[string]bool)
	var names []string
	for _, t := range c.Tables {
		n := pgx.Identifier{t.Schema, t.Name}.Sanitize()
		if !seen[n] {
			seen[n] = true
			names = append(names, n)
		}
	}
	return strings.Join(names, ", ")
}
