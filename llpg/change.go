package llpg

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5/pgtype"
)

// A Change is one committed row change, as Table.Topic and Table.Data see
// it and, by default, as the event's data carries it.
type Change struct {
	// Op is INSERT, UPDATE or DELETE.
	Op Op `json:"op"`
	// Schema and Table name the table.
	Schema string `json:"schema"`
	Table  string `json:"table"`
	// New is the row after an INSERT or UPDATE: column name to value, as
	// pgx decodes the column's type (numbers, strings, booleans, times,
	// JSON documents; types pgx does not know as their text). Nil for a
	// DELETE.
	New map[string]any `json:"new,omitempty"`
	// Old is the row before an UPDATE or DELETE, as the table's REPLICA
	// IDENTITY provides it: its key columns by default (for an UPDATE only
	// when the key changed), every column with REPLICA IDENTITY FULL.
	Old map[string]any `json:"old,omitempty"`
	// Key is the row's replica identity (by default its primary key):
	// from New, or from Old for a DELETE.
	Key map[string]any `json:"key"`
	// Unchanged lists the columns of an UPDATE that Postgres did not send
	// because they are large (TOASTed) and were not changed; New lacks
	// them.
	Unchanged []string `json:"unchanged,omitempty"`
	// CommitTime is when the change's transaction committed.
	CommitTime time.Time `json:"commit_time"`
	// LSN is the commit's position in the change log.
	LSN string `json:"lsn"`
	// TooLarge says the row made an event over the buffer's size limit:
	// New and Old are left out; fetch the row by Key.
	TooLarge bool `json:"too_large,omitempty"`

	// text holds the row's values as Postgres printed them, for filters.
	text map[string]*string
}

// Row returns the row the change is about: New, or Old for a DELETE.
func (c *Change) Row() map[string]any {
	if c.Op == Delete {
		return c.Old
	}
	return c.New
}

// tuple is one decoded row: values, their text, and the columns Postgres
// left out as unchanged.
type tuple struct {
	values    map[string]any
	text      map[string]*string
	unchanged []string
}

// decodeTuple decodes a tuple of rel with the type map.
func decodeTuple(types *pgtype.Map, rel *pglogrepl.RelationMessage, td *pglogrepl.TupleData) (tuple, error) {
	if td == nil {
		return tuple{}, nil
	}
	if len(td.Columns) != len(rel.Columns) {
		return tuple{}, fmt.Errorf("llpg: %s.%s: tuple of %d columns, relation of %d", rel.Namespace, rel.RelationName, len(td.Columns), len(rel.Columns))
	}
	t := tuple{values: make(map[string]any, len(td.Columns)), text: make(map[string]*string, len(td.Columns))}
	for i, col := range td.Columns {
		name := rel.Columns[i].Name
		switch col.DataType {
		case pglogrepl.TupleDataTypeNull:
			t.values[name], t.text[name] = nil, nil
		case pglogrepl.TupleDataTypeToast:
			t.unchanged = append(t.unchanged, name)
		case pglogrepl.TupleDataTypeText:
			s := string(col.Data)
			t.text[name] = &s
			t.values[name] = decodeText(types, rel.Columns[i].DataType, col.Data, s)
		case pglogrepl.TupleDataTypeBinary:
			return tuple{}, fmt.Errorf("llpg: %s.%s: column %s in binary format", rel.Namespace, rel.RelationName, name)
		}
	}
	return t, nil
}

// decodedTypes are the types whose values become JSON numbers, booleans,
// documents or times; every other value stays as Postgres prints it,
// which keeps arrays, UUIDs, intervals and the like readable and exact.
var decodedTypes = map[uint32]bool{
	pgtype.BoolOID: true, pgtype.Int2OID: true, pgtype.Int4OID: true, pgtype.Int8OID: true,
	pgtype.Float4OID: true, pgtype.Float8OID: true, pgtype.JSONOID: true, pgtype.JSONBOID: true,
	pgtype.TimestamptzOID: true, pgtype.TimestampOID: true,
}

// decodeText decodes a value of type oid from Postgres's text format.
// numeric stays exact as a JSON number; a value that fails to decode
// stays text.
func decodeText(types *pgtype.Map, oid uint32, data []byte, text string) any {
	if oid == pgtype.NumericOID {
		if text == "NaN" || strings.HasSuffix(text, "Infinity") {
			return text
		}
		return json.Number(text)
	}
	if !decodedTypes[oid] {
		return text
	}
	dt, ok := types.TypeForOID(oid)
	if !ok {
		return text
	}
	v, err := dt.Codec.DecodeValue(types, oid, pgtype.TextFormatCode, data)
	if err != nil {
		return text
	}
	if f, ok := v.(float64); ok && (math.IsNaN(f) || math.IsInf(f, 0)) {
		return text // JSON has no NaN or Infinity
	}
	if f, ok := v.(float32); ok && (math.IsNaN(float64(f)) || math.IsInf(float64(f), 0)) {
		return text
	}
	return v
}

// keyOf returns the columns of row that rel marks as its replica identity.
func keyOf(rel *pglogrepl.RelationMessage, row map[string]any) map[string]any {
	key := make(map[string]any)
	for _, c := range rel.Columns {
		if c.Flags&1 != 0 { // part of the key
			if v, ok := row[c.Name]; ok {
				key[c.Name] = v
			}
		}
	}
	return key
}
