package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lifeline-go/lifeline/llpg"
	"github.com/lifeline-go/lifeline/longpoll"
)

// notificationsSchema is the table -postgres backs the notifications with:
// a row inserted, by this app or by anyone with psql, is a notification.
const notificationsSchema = `CREATE TABLE IF NOT EXISTS notifications (
	id bigserial PRIMARY KEY,
	text text NOT NULL,
	created_at timestamptz NOT NULL DEFAULT now()
)`

// postgresRelay describes the relay of -postgres: inserts into
// notifications become notification events on the notifications topic,
// shaped as POST /api/notify shapes them ({"text": ...}), so that the page
// shows both alike.
func postgresRelay(url string, lp *longpoll.Server, logger *slog.Logger) llpg.Config {
	return llpg.Config{
		ConnString:  url,
		Target:      lp,
		Slot:        "lifeline_example",
		Publication: "lifeline_example",
		Logger:      logger,
		Tables: []llpg.Table{{
			Name:  "notifications",
			Ops:   llpg.Insert,
			Topic: func(*llpg.Change) string { return notificationsTopic },
			Type:  longpoll.TypeNotification,
			Data: func(c *llpg.Change) any {
				text, _ := c.New["text"].(string)
				return notification{Text: text}
			},
		}},
	}
}

// startPostgres creates the notifications table if missing, installs the
// relay's publication and slot (idempotent) and starts the relay. The
// returned function stops it; call it before closing lp.
func startPostgres(ctx context.Context, url string, lp *longpoll.Server, logger *slog.Logger) (func(), error) {
	cfg := postgresRelay(url, lp, logger)
	ictx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ictx, url)
	if err != nil {
		return nil, fmt.Errorf("-postgres: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ictx, notificationsSchema); err != nil {
		return nil, fmt.Errorf("-postgres: create notifications: %w", err)
	}
	if err := llpg.Install(ictx, conn, cfg); err != nil {
		return nil, fmt.Errorf("-postgres: %w", err)
	}
	relay, err := llpg.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("-postgres: %w", err)
	}
	if err := relay.Start(); err != nil {
		return nil, err
	}
	logger.Info("notifications come from Postgres: INSERT INTO notifications(text) VALUES ('...')")
	return func() { relay.Close() }, nil
}
