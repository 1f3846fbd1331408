package topics

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/catering-match/catering-match/state"
)

// RecordSchema is the version of the process record this release writes and
// reads. A record with a higher version was written by a newer release.
const RecordSchema = 1

type wireRecord struct {
	Schema  int         `json:"schema"`
	OrderID string      `json:"order_id"`
	History []wireEntry `json:"history"`
}

type wireEntry struct {
	ID     string `json:"id"`
	Type   string `json:"type"`
	MenuID string `json:"menu_id"`
	At     string `json:"at"`
}

// EncodeProcess returns the changelog value for a process: its own event
// stream, never a snapshot of derived fields.
func EncodeProcess(orderID string, history []state.Entry) []byte {
	w := wireRecord{Schema: RecordSchema, OrderID: orderID, History: make([]wireEntry, len(history))}
	for i, e := range history {
		w.History[i] = wireEntry{ID: e.ID, Type: e.Type, MenuID: e.MenuID, At: e.At.UTC().Format(time.RFC3339Nano)}
	}
	b, _ := json.Marshal(w) // only strings and ints: cannot fail
	return b
}

// DecodeProcess decodes a changelog value into the order id and history.
// key is the record key; it must equal the record's order_id.
func DecodeProcess(key, value []byte) (string, []state.Entry, error) {
	var w wireRecord
	if err := json.Unmarshal(value, &w); err != nil {
		return "", nil, fmt.Errorf("process record is not valid JSON: %w", err)
	}
	switch {
	case w.Schema < 1:
		return "", nil, fmt.Errorf("process record has no schema version (got %d)", w.Schema)
	case w.Schema > RecordSchema:
		return "", nil, fmt.Errorf("process record schema %d is newer than this release reads (%d): upgrade the service", w.Schema, RecordSchema)
	case w.OrderID != string(key):
		return "", nil, fmt.Errorf("process record order_id %q differs from record key %q", w.OrderID, key)
	case len(w.History) == 0:
		return "", nil, fmt.Errorf("process record for order %q has an empty history", w.OrderID)
	}
	h := make([]state.Entry, len(w.History))
	for i, e := range w.History {
		at, err := time.Parse(time.RFC3339Nano, e.At)
		if err != nil {
			return "", nil, fmt.Errorf("process record for order %q: history[%d].at: %w", w.OrderID, i, err)
		}
		// Records are written in UTC; a time whose UTC year leaves 0001-9999
		// could not be written back.
		if y := at.UTC().Year(); y < 1 || y > 9999 {
			return "", nil, fmt.Errorf("process record for order %q: history[%d].at %q is outside years 0001-9999 in UTC", w.OrderID, i, e.At)
		}
		if e.ID == "" || e.Type == "" {
			return "", nil, fmt.Errorf("process record for order %q: history[%d] needs an id and a type", w.OrderID, i)
		}
		h[i] = state.Entry{ID: e.ID, Type: e.Type, MenuID: e.MenuID, At: at}
	}
	return w.OrderID, h, nil
}
