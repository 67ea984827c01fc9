package llpg_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/jackc/pgx/v5"

	"github.com/lifeline-go/lifeline/llpg"
	"github.com/lifeline-go/lifeline/longpoll"
)

// An app relays its tasks table to board topics: a client following
// "board:7" sees every task of board 7 inserted, updated or deleted.
func Example() {
	url := os.Getenv("LIFELINE_PG_URL") // e.g. postgres://app@127.0.0.1:5432/app
	if url == "" {
		fmt.Println("set LIFELINE_PG_URL to run this example")
		return
	}
	lp := longpoll.New(longpoll.Config{})
	defer lp.Close()

	cfg := llpg.Config{
		ConnString: url,
		Target:     lp,
		Tables: []llpg.Table{{
			Name:  "tasks",
			Topic: func(c *llpg.Change) string { return fmt.Sprint("board:", c.Row()["board_id"]) },
		}},
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close(ctx)
	// Once, as a migration: the publication and the slot.
	if err := llpg.Install(ctx, conn, cfg); err != nil {
		log.Fatal(err)
	}
	relay, err := llpg.New(cfg)
	if err != nil {
		log.Fatal(err)
	}
	if err := relay.Start(); err != nil {
		log.Fatal(err)
	}
	defer relay.Close()
}

// The SQL Install runs, for apps whose migrations are SQL files.
func ExampleInstallSQL() {
	sql, err := llpg.InstallSQL(llpg.Config{Tables: []llpg.Table{{Name: "tasks"}, {Schema: "billing", Name: "invoices"}}})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print(sql)
	// Output:
	// -- needs wal_level = logical
	// CREATE PUBLICATION "lifeline" FOR TABLE "public"."tasks", "billing"."invoices";
	// SELECT pg_create_logical_replication_slot('lifeline', 'pgoutput');
}
