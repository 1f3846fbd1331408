package topics

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
	"unicode/utf8"
)

// MaxFieldBytes is the limit on id, order_id and menu_id, in bytes.
const MaxFieldBytes = 128

// Event is one input event, as DOMAIN.md defines it.
type Event struct {
	ID         string          `json:"id"`
	Type       string          `json:"type"`
	OrderID    string          `json:"order_id"`
	MenuID     string          `json:"menu_id,omitempty"`
	OccurredAt string          `json:"occurred_at,omitempty"`
	Data       json.RawMessage `json:"data,omitempty"`
}

// MalformedError says why a record is not a well-formed event. Reason is
// short and written for a person; it becomes the dlq-reason header. Kind
// is one of the Malformed* constants, a bounded label for metrics.
type MalformedError struct {
	Kind   string
	Reason string
}

// The kinds of malformed records.
const (
	MalformedEmptyKey    = "empty_key"
	MalformedNotObject   = "not_json_object"
	MalformedMissing     = "missing_field"
	MalformedEmpty       = "empty_field"
	MalformedWrongType   = "wrong_type"
	MalformedOverLimit   = "over_limit"
	MalformedKeyMismatch = "key_mismatch"
)

func (e *MalformedError) Error() string { return "malformed event: " + e.Reason }

func malformed(kind, format string, args ...any) error {
	return &MalformedError{Kind: kind, Reason: fmt.Sprintf(format, args...)}
}

// DecodeEvent decodes and validates an event record. It returns a
// *MalformedError for every record DOMAIN.md calls malformed: a value that is
// not a JSON object, a required field (id, type, order_id) missing, empty or
// not a string, a field over its limit, an empty key, or an order_id that
// differs from the key. Field names match exactly (JSON is case-sensitive
// here, unlike encoding/json's default); unknown fields are ignored.
func DecodeEvent(key, value []byte) (Event, error) {
	var ev Event
	if len(key) == 0 {
		return ev, malformed(MalformedEmptyKey, "record key is empty; it must be the order id")
	}
	trimmed := bytes.TrimLeft(value, jsonSpace)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return ev, malformed(MalformedNotObject, "value is not a JSON object")
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(trimmed, &fields); err != nil {
		return ev, malformed(MalformedNotObject, "value is not a JSON object: %v", err)
	}
	var err error
	if ev.ID, err = stringField(fields, "id", true, MaxFieldBytes); err != nil {
		return ev, err
	}
	if ev.Type, err = stringField(fields, "type", true, 0); err != nil {
		return ev, err
	}
	if ev.OrderID, err = stringField(fields, "order_id", true, MaxFieldBytes); err != nil {
		return ev, err
	}
	if ev.MenuID, err = stringField(fields, "menu_id", false, MaxFieldBytes); err != nil {
		return ev, err
	}
	if ev.OrderID != string(key) {
		return ev, malformed(MalformedKeyMismatch, "order_id %s differs from record key %s", quote(ev.OrderID), quote(string(key)))
	}
	// occurred_at and data are informational: carried, never interpreted,
	// so a value of another shape does not make the record malformed.
	if raw, ok := fields["occurred_at"]; ok {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			ev.OccurredAt = s
		}
	}
	if raw, ok := fields["data"]; ok && !isNull(raw) {
		ev.Data = raw
	}
	return ev, nil
}

// OccurredTime parses OccurredAt; ok is false when it is absent or not RFC 3339.
func (e Event) OccurredTime() (t time.Time, ok bool) {
	t, err := time.Parse(time.RFC3339Nano, e.OccurredAt)
	return t, err == nil
}

// EncodeEvent encodes an event as the wire JSON.
func EncodeEvent(e Event) ([]byte, error) { return json.Marshal(e) }

// stringField returns the string field name; limit > 0 bounds its bytes.
func stringField(fields map[string]json.RawMessage, name string, required bool, limit int) (string, error) {
	raw, ok := fields[name]
	if !ok || isNull(raw) {
		if required {
			return "", malformed(MalformedMissing, "required field %s is missing", name)
		}
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", malformed(MalformedWrongType, "field %s must be a string, got %s", name, truncate(string(raw), 40))
	}
	if required && s == "" {
		return "", malformed(MalformedEmpty, "required field %s is empty", name)
	}
	if limit > 0 && len(s) > limit {
		return "", malformed(MalformedOverLimit, "field %s is %d bytes, over the limit of %d", name, len(s), limit)
	}
	return s, nil
}

// jsonSpace is the white space JSON allows around values (RFC 8259).
const jsonSpace = " \t\n\r"

func isNull(raw json.RawMessage) bool { return string(bytes.Trim(raw, jsonSpace)) == "null" }

// quote quotes s for a reason, whole up to the id limit.
func quote(s string) string { return fmt.Sprintf("%q", truncate(s, MaxFieldBytes+2)) }

// truncate cuts s to at most n bytes on a rune boundary, so that a reason
// stays valid UTF-8 in the dlq-reason header.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
