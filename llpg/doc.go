// Package llpg turns committed PostgreSQL row changes into Lifeline
// events: each change of the tables an app declares is appended once, in
// commit order, to a topic the app chooses (tasks rows to
// "board:<board_id>", say), and clients follow those topics like any
// other, through the app's Authorize hook, resuming by cursor.
//
// # Mechanism
//
// The relay reads the database's logical replication stream (the pgoutput
// plugin, protocol 1, through github.com/jackc/pglogrepl): transactions
// arrive whole, at their commit, in commit order, and a replication slot
// keeps the relay's position durably on the server. Changes committed
// while no app runs are kept for it. The alternative, triggers writing an
// outbox table read by id, loses rows when a transaction takes its id
// early and commits after a later one (the reader has moved past the id);
// the slot has no such trap. Its cost: Postgres needs wal_level = logical,
// the role needs REPLICATION, and the slot retains WAL while no relay
// consumes it (see the README's "Database changes" for how to watch and
// bound it).
//
// # Exactly once
//
// Each event is appended at its position in the stream (the commit's LSN
// and the change's index in its transaction) through a
// longpoll.PositionedBuffer, which stores the position atomically with the
// event. The relay confirms a position to Postgres only after appending
// everything before it; after a crash it replays from the last confirmed
// position, and the buffer refuses what it already holds. With the
// llredis buffer this holds across instances; with the in-memory buffer a
// restarted app is a new epoch (clients reset) and receives everything
// committed since the last confirmation.
//
// # Once per cluster
//
// Every app instance runs a Relay; they elect one through a session-level
// advisory lock held on a connection of its own. The others try again
// every RetryInterval, so a successor takes over within about a second of
// the leader's death (Postgres releases the lock when the leader's
// connection closes). The slot also refuses a second consumer.
//
// # Setup
//
// Install (or the SQL of InstallSQL) creates the publication and the slot
// once; Uninstall removes them. New and Start run the relay; Close stops
// it.
package llpg
