package llpg

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/lifeline-go/lifeline/longpoll"
)

// txn is the transaction being relayed: its commit position and time,
// and how many changes of it came so far. A change's position is the
// commit's LSN and the change's index in it: commit LSNs grow in commit
// order, so positions do too, and a replayed transaction yields the same
// positions again.
type txn struct {
	open       bool
	commitLSN  pglogrepl.LSN
	commitTime time.Time
	changes    uint32
}

// position formats a change's position: fixed-width hex, so that byte
// order is commit order (longpoll.PositionedBuffer compares bytes).
func (t *txn) position() string { return fmt.Sprintf("%016X%08X", uint64(t.commitLSN), t.changes) }

// stream opens a replication connection and relays from the slot's
// confirmed position until ctx ends or the connection fails. It confirms
// a transaction's end to Postgres only after every event of it is in the
// buffer.
func (r *Relay) stream(ctx context.Context) error {
	pcfg, err := pgconn.ParseConfig(r.cfg.ConnString)
	if err != nil {
		return err
	}
	pcfg.RuntimeParams["replication"] = "database"
	conn, err := pgconn.ConnectConfig(ctx, pcfg)
	if err != nil {
		return fmt.Errorf("llpg: replication connection: %w", err)
	}
	defer r.track(conn.Conn())()
	defer conn.Close(context.WithoutCancel(ctx))
	// The stream's name in the buffer includes the server's system
	// identifier and the database: LSNs grow within one cluster only, so a
	// database restored elsewhere (lower LSNs) must not be taken for a
	// replay of the old one and skipped.
	sys, err := pglogrepl.IdentifySystem(ctx, conn)
	if err != nil {
		return fmt.Errorf("llpg: identify system: %w", err)
	}
	r.streamName = fmt.Sprintf("pg:%s:%s:%s", sys.SystemID, sys.DBName, r.cfg.Slot)
	err = pglogrepl.StartReplication(ctx, conn, r.cfg.Slot, 0, pglogrepl.StartReplicationOptions{
		// Protocol 1 sends each transaction whole at its commit, in commit
		// order; it never streams transactions in progress.
		PluginArgs: []string{"proto_version '1'", fmt.Sprintf("publication_names '%s'", r.cfg.Publication)},
	})
	if err != nil {
		return fmt.Errorf("llpg: start replication on slot %s: %w", r.cfg.Slot, err)
	}
	s := &streamState{r: r, conn: conn, relations: make(map[uint32]*pglogrepl.RelationMessage), types: pgtype.NewMap()}
	err = s.loop(ctx)
	if !r.abrupt.Load() && s.confirmed > 0 && !conn.IsClosed() {
		// A clean stop confirms the position, so that a successor replays
		// nothing (it would skip it anyway). A failed connection is left
		// alone: pgconn is already writing its Terminate from a goroutine
		// of its own, and a status update would race with it.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		_ = s.sendStatus(sctx)
		cancel()
	}
	return err
}

// streamState is one replication session's state.
type streamState struct {
	r         *Relay
	conn      *pgconn.PgConn
	relations map[uint32]*pglogrepl.RelationMessage
	types     *pgtype.Map
	tx        txn
	// confirmed is the position up to which everything is relayed.
	confirmed pglogrepl.LSN
}

func (s *streamState) sendStatus(ctx context.Context) error {
	err := pglogrepl.SendStandbyStatusUpdate(ctx, s.conn, pglogrepl.StandbyStatusUpdate{
		WALWritePosition: s.confirmed, WALFlushPosition: s.confirmed, WALApplyPosition: s.confirmed,
	})
	if err == nil {
		s.r.acked.Store(uint64(s.confirmed))
	}
	return err
}

func (s *streamState) loop(ctx context.Context) error {
	next := time.Now().Add(s.r.cfg.StatusInterval)
	for {
		if !time.Now().Before(next) {
			if err := s.sendStatus(ctx); err != nil {
				return fmt.Errorf("llpg: status update: %w", err)
			}
			next = time.Now().Add(s.r.cfg.StatusInterval)
		}
		rctx, cancel := context.WithDeadline(ctx, next)
		raw, err := s.conn.ReceiveMessage(rctx)
		cancel()
		if err != nil {
			if pgconn.Timeout(err) && ctx.Err() == nil {
				continue
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("llpg: receive: %w", err)
		}
		switch m := raw.(type) {
		case *pgproto3.ErrorResponse:
			return fmt.Errorf("llpg: replication: %w", pgconn.ErrorResponseToPgError(m))
		case *pgproto3.CopyData:
			if len(m.Data) == 0 {
				continue
			}
			reply, err := s.handle(ctx, m.Data)
			if err != nil {
				return err
			}
			if reply {
				next = time.Time{}
			}
		}
	}
}

// handle handles one message of the copy stream; reply says Postgres asked
// for a status update now.
func (s *streamState) handle(ctx context.Context, data []byte) (reply bool, err error) {
	switch data[0] {
	case pglogrepl.PrimaryKeepaliveMessageByteID:
		k, err := pglogrepl.ParsePrimaryKeepaliveMessage(data[1:])
		if err != nil {
			return false, fmt.Errorf("llpg: keepalive: %w", err)
		}
		// Between transactions, everything that committed before the
		// server's position has been sent and relayed: confirming it lets
		// the slot free WAL of tables that are not published.
		if !s.tx.open && k.ServerWALEnd > s.confirmed {
			s.confirmed = k.ServerWALEnd
		}
		return k.ReplyRequested, nil
	case pglogrepl.XLogDataByteID:
		x, err := pglogrepl.ParseXLogData(data[1:])
		if err != nil {
			return false, fmt.Errorf("llpg: xlog data: %w", err)
		}
		msg, err := pglogrepl.Parse(x.WALData)
		if err != nil {
			return false, fmt.Errorf("llpg: decode: %w", err)
		}
		return false, s.apply(ctx, msg)
	}
	return false, nil
}

// apply applies one logical replication message.
func (s *streamState) apply(ctx context.Context, msg pglogrepl.Message) error {
	switch m := msg.(type) {
	case *pglogrepl.RelationMessage:
		s.relations[m.RelationID] = m
	case *pglogrepl.BeginMessage:
		s.tx = txn{open: true, commitLSN: m.FinalLSN, commitTime: m.CommitTime}
	case *pglogrepl.CommitMessage:
		s.tx.open = false
		if m.TransactionEndLSN > s.confirmed {
			s.confirmed = m.TransactionEndLSN
		}
	case *pglogrepl.InsertMessage:
		return s.change(ctx, Insert, m.RelationID, m.Tuple, nil, 0)
	case *pglogrepl.UpdateMessage:
		return s.change(ctx, Update, m.RelationID, m.NewTuple, m.OldTuple, m.OldTupleType)
	case *pglogrepl.DeleteMessage:
		return s.change(ctx, Delete, m.RelationID, nil, m.OldTuple, m.OldTupleType)
	}
	// Truncate, type and origin messages carry no rows: a TRUNCATE is not
	// relayed (the README says so).
	return nil
}

// change relays one row change through every rule of its table.
// oldType is 'K' when the old tuple holds only the key (its other columns
// come as NULLs and are left out), 'O' when it is the whole old row.
func (s *streamState) change(ctx context.Context, op Op, relID uint32, newTD, oldTD *pglogrepl.TupleData, oldType uint8) error {
	s.tx.changes++
	rel, ok := s.relations[relID]
	if !ok {
		return fmt.Errorf("llpg: change of unknown relation %d", relID)
	}
	rules := s.r.rules[rel.Namespace+"."+rel.RelationName]
	if len(rules) == 0 {
		return nil
	}
	nt, err := decodeTuple(s.types, rel, newTD)
	if err != nil {
		return err
	}
	ot, err := decodeTuple(s.types, rel, oldTD)
	if err != nil {
		return err
	}
	if oldType == pglogrepl.UpdateMessageTupleTypeKey {
		ot.values = keyOf(rel, ot.values)
		for name := range ot.text {
			if _, ok := ot.values[name]; !ok {
				delete(ot.text, name)
			}
		}
	}
	c := &Change{
		Op: op, Schema: rel.Namespace, Table: rel.RelationName,
		New: nt.values, Old: ot.values, Unchanged: nt.unchanged,
		CommitTime: s.tx.commitTime.UTC(), LSN: s.tx.commitLSN.String(), text: nt.text,
	}
	if op == Delete {
		c.text = ot.text
	}
	if op == Update && c.Old == nil {
		c.Key = keyOf(rel, c.New)
	} else {
		c.Key = keyOf(rel, c.Row())
	}
	if len(rules) > 1 {
		// Several rules of one table share the change's position: each
		// needs a position of its own.
		for i, ru := range rules {
			if err := s.r.relayRule(ctx, ru, c, fmt.Sprintf("%s%04X", s.tx.position(), i)); err != nil {
				return err
			}
		}
		return nil
	}
	return s.r.relayRule(ctx, rules[0], c, s.tx.position()+"0000")
}

// relayRule appends c's event under ru at pos, unless ru leaves it out.
// Errors of the buffer are returned, so that the stream restarts from the
// last confirmed position and nothing is lost; a change no event can be
// made of is logged, counted and skipped.
func (r *Relay) relayRule(ctx context.Context, ru *rule, c *Change, pos string) error {
	if ru.Ops&c.Op == 0 || (ru.filter != nil && !ru.filter.match(c.text)) {
		r.filtered.Add(1)
		return nil
	}
	d, err := ru.draft(c)
	if err != nil {
		r.dropped.Add(1)
		r.report("change dropped", err)
		return nil
	}
	_, err = r.cfg.Target.PublishAt(ctx, r.streamName, pos, d)
	if errors.Is(err, longpoll.ErrEventTooLarge) {
		small := *c
		small.New, small.Old, small.Unchanged, small.TooLarge = nil, nil, nil, true
		if d.Data, err = json.Marshal(&small); err == nil {
			r.tooLarge.Add(1)
			_, err = r.cfg.Target.PublishAt(ctx, r.streamName, pos, d)
		}
	}
	switch {
	case err == nil:
		r.relayed.Add(1)
		if r.afterAppend != nil {
			r.afterAppend()
		}
		return nil
	case errors.Is(err, longpoll.ErrStalePosition):
		r.replayed.Add(1)
		return nil
	case errors.Is(err, longpoll.ErrBadTopic), errors.Is(err, longpoll.ErrBadEvent), errors.Is(err, longpoll.ErrEventTooLarge):
		r.dropped.Add(1)
		r.report(fmt.Sprintf("change of %s.%s at %s dropped", c.Schema, c.Table, c.LSN), err)
		return nil
	}
	return fmt.Errorf("llpg: relay to the buffer: %w", err)
}

// draft builds the event of c under ru.
func (ru *rule) draft(c *Change) (longpoll.Draft, error) {
	topic := ru.Topic(c)
	var v any = c
	if ru.Data != nil {
		v = ru.Data(c)
	}
	data, err := json.Marshal(v)
	if err != nil {
		return longpoll.Draft{}, fmt.Errorf("llpg: encode the event of %s.%s: %w", c.Schema, c.Table, err)
	}
	return longpoll.Draft{Topic: topic, Type: ru.Type, Data: data}, nil
}
