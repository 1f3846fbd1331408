package audit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"unicode/utf8"
)

// MaxFieldBytes is the contract's limit on id, order_id and menu_id, in bytes
// (of the decoded string, not runes).
const MaxFieldBytes = 128

// The event types the process reacts to (docs/contract.md, "Event (input) JSON").
const (
	CustomerConfirmedMenu = "CustomerConfirmedMenu"
	CatererConfirmedMenu  = "CatererConfirmedMenu"
	CatererDeclinedMenu   = "CatererDeclinedMenu"
)

// Event is a well-formed event: the fields the rules look at. occurred_at
// and data are carried whatever their shape and never interpreted, so they
// are not kept.
type Event struct {
	ID, Type, OrderID, MenuID string
}

// jsonSpace is the only white space JSON allows around a value (RFC 8259).
const jsonSpace = " \t\r\n"

// DecodeEvent applies the contract's definition of a malformed record to one
// input record. It returns the event, or a non-empty reason when the record
// is malformed: the value is not a JSON object; id, type or order_id is
// missing, null, empty or not a string; id, order_id or menu_id is over
// MaxFieldBytes; menu_id is neither a string nor null; the key is empty;
// order_id differs from the key. Field names are case-sensitive; unknown
// fields are ignored; an absent or null menu_id is the default menu ("").
func DecodeEvent(key, value []byte) (Event, string) {
	var ev Event
	if len(key) == 0 {
		return ev, "empty record key"
	}
	trimmed := bytes.Trim(value, jsonSpace)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return ev, "value is not a JSON object"
	}
	// encoding/json matches map keys exactly (no case folding, unlike
	// struct fields); a repeated name keeps its last value.
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(trimmed, &fields); err != nil {
		return ev, "value is not a JSON object: " + err.Error()
	}
	var reason string
	if ev.ID, reason = field(fields, "id", true, MaxFieldBytes); reason != "" {
		return ev, reason
	}
	if ev.Type, reason = field(fields, "type", true, 0); reason != "" {
		return ev, reason
	}
	if ev.OrderID, reason = field(fields, "order_id", true, MaxFieldBytes); reason != "" {
		return ev, reason
	}
	if ev.MenuID, reason = field(fields, "menu_id", false, MaxFieldBytes); reason != "" {
		return ev, reason
	}
	if ev.OrderID != string(key) {
		return ev, fmt.Sprintf("order_id %q differs from key %q", clip(ev.OrderID), clip(string(key)))
	}
	return ev, ""
}

// field returns the string field name, or why it makes the record
// malformed. limit > 0 bounds its length in bytes.
func field(fields map[string]json.RawMessage, name string, required bool, limit int) (string, string) {
	raw, ok := fields[name]
	if !ok || string(raw) == "null" { // RawMessage values carry no surrounding space
		if required {
			return "", name + " is missing"
		}
		return "", ""
	}
	if len(raw) == 0 || raw[0] != '"' {
		return "", name + " is not a string"
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", name + " is not a string"
	}
	if required && s == "" {
		return "", name + " is empty"
	}
	if limit > 0 && len(s) > limit {
		return "", fmt.Sprintf("%s is %d bytes, over %d", name, len(s), limit)
	}
	return s, ""
}

// clip shortens s for a message, on a rune boundary.
func clip(s string) string {
	const n = 40
	if len(s) <= n {
		return s
	}
	i := n
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "…"
}
