package topics

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// MaxFieldBytes is the limit on id, order_id and menu_id, in bytes.
const MaxFieldBytes = 128

// Event is one input event, as docs/contract.md defines it.
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
// *MalformedError for every record docs/contract.md calls malformed: a value that is
// not a JSON object, a required field (id, type, order_id) missing, empty or
// not a string, a field over its limit, an empty key, or an order_id that
// differs from the key. Field names match exactly (JSON is case-sensitive
// here, unlike encoding/json's default); unknown fields are ignored.
//
// It is on the hot path: a hand-written scanner (decodeEventFast) handles the
// common case without encoding/json's reflection, and everything outside that
// case falls back to decodeEventSlow, the reference implementation. Both
// return the same Event and the same error for every input
// (FuzzDecodeEventFastEqualsSlow).
func DecodeEvent(key, value []byte) (Event, error) {
	if ev, err, ok := decodeEventFast(key, value, false); ok {
		return ev, err
	}
	return decodeEventSlow(key, value)
}

// DecodeEventView is DecodeEvent without copies: on the common path the
// event's strings and Data are views of value, valid while value is and
// does not change. It is for a caller that copies what it keeps, as the
// processor does with the few fields a history holds.
func DecodeEventView(key, value []byte) (Event, error) {
	if ev, err, ok := decodeEventFast(key, value, true); ok {
		return ev, err
	}
	return decodeEventSlow(key, value)
}

// decodeEventSlow is the reference implementation of DecodeEvent, built on
// encoding/json. decodeEventFast must agree with it on every input.
func decodeEventSlow(key, value []byte) (Event, error) {
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
	if known, ok := knownType([]byte(ev.Type)); ok {
		ev.Type = known
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

// The fields decodeEventFast looks at, in the order of fastFieldNames.
const (
	fastID = iota
	fastType
	fastOrderID
	fastMenuID
	fastOccurredAt
	fastData
	fastFields
)

// The kinds of a field's value that decodeEventFast tells apart.
const (
	fastAbsent = iota // the key does not occur
	fastString        // a string without escapes, all bytes 0x20..0x7e
	fastNull          // the literal null
	fastOther         // anything else: number, true, false, object, array, other string
	fastKnown         // a fastString that is one of the process's own types (see knownType)
)

// fastField is where one field's value lies in the record value: value[start:end]
// is the raw JSON of the value (for fastString, without the quotes).
type fastField struct {
	kind       int
	start, end int
}

// fastFieldIndex maps a key, as it appears between its quotes, to its field;
// -1 for a key decodeEventFast ignores.
func fastFieldIndex(name []byte) int {
	switch string(name) { // no allocation: the compiler compares in place
	case "id":
		return fastID
	case "type":
		return fastType
	case "order_id":
		return fastOrderID
	case "menu_id":
		return fastMenuID
	case "occurred_at":
		return fastOccurredAt
	case "data":
		return fastData
	}
	return -1
}

// decodeEventFast is DecodeEvent's fast path. ok is false when the input is
// outside the common case it handles, and the caller must use
// decodeEventSlow; when ok is true, ev and err are exactly what
// decodeEventSlow returns. It handles a valid JSON object whose keys hold no
// escape, where each field of interest occurs at most once, and id, type,
// order_id, menu_id and occurred_at, when strings, are plain printable ASCII
// without escapes (or null; occurred_at and data may be anything). It falls
// back for an empty key, a value that is not a valid JSON object, an escape in
// any key, a duplicate field of interest, a non-string non-null id, type,
// order_id or menu_id, and an escape or a byte outside 0x20..0x7e in one of
// the five strings.
//
// With views set, the strings and Data are views of value instead of
// copies (DecodeEventView).
func decodeEventFast(key, value []byte, views bool) (ev Event, err error, ok bool) {
	if len(key) == 0 {
		return ev, nil, false
	}
	// The scan validates as it goes (scanValue): anything it is not sure
	// is valid JSON, it leaves to the reference, which then reports it.
	i := skipJSONSpace(value, 0)
	if i >= len(value) || value[i] != '{' {
		return ev, nil, false
	}
	var f [fastFields]fastField
	i = skipJSONSpace(value, i+1)
	if i < len(value) && value[i] == '}' {
		i++
	} else {
		for {
			// Key; value[i] should be its opening quote.
			if i >= len(value) || value[i] != '"' {
				return ev, nil, false
			}
			ks := i + 1
			end, simple, valid := scanString(value, i)
			if !valid || (!simple && bytes.IndexByte(value[ks:end-1], '\\') >= 0) {
				return ev, nil, false
			}
			idx := fastFieldIndex(value[ks : end-1])
			i = skipJSONSpace(value, end)
			if i >= len(value) || value[i] != ':' {
				return ev, nil, false
			}
			i = skipJSONSpace(value, i+1) // at the value
			vs := i
			if i, simple, valid = scanValue(value, i, 1); !valid {
				return ev, nil, false
			}
			if idx >= 0 {
				if f[idx].kind != fastAbsent {
					return ev, nil, false // the slow path keeps the last one
				}
				switch {
				case value[vs] == '"' && simple:
					f[idx] = fastField{kind: fastString, start: vs + 1, end: i - 1}
				case value[vs] == 'n':
					f[idx] = fastField{kind: fastNull}
				case idx == fastData || (idx == fastOccurredAt && value[vs] != '"'):
					f[idx] = fastField{kind: fastOther, start: vs, end: i}
				default:
					// A string with an escape or non-ASCII, or a required
					// string of another type: leave it to the reference.
					return ev, nil, false
				}
			}
			i = skipJSONSpace(value, i)
			if i >= len(value) {
				return ev, nil, false
			}
			if value[i] == '}' {
				i++
				break
			}
			if value[i] != ',' {
				return ev, nil, false
			}
			i = skipJSONSpace(value, i+1)
		}
	}
	if skipJSONSpace(value, i) != len(value) {
		return ev, nil, false // more after the object
	}

	// One allocation for all the returned strings but a known type, which
	// is returned as its constant (as DecodeProcess does).
	var strs [fastOccurredAt + 1]string
	if t := f[fastType]; t.kind == fastString {
		if known, ok := knownType(value[t.start:t.end]); ok {
			strs[fastType], f[fastType].kind = known, fastKnown
		}
	}
	n := 0
	for k := fastID; k <= fastOccurredAt; k++ {
		if f[k].kind == fastString {
			n += f[k].end - f[k].start
		}
	}
	var all string
	switch {
	case n > 0 && views:
		for k := fastID; k <= fastOccurredAt; k++ {
			if f[k].kind == fastString {
				strs[k] = view(value[f[k].start:f[k].end])
			}
		}
		n = 0 // nothing to cut out of all
	case n > 0:
		var b strings.Builder
		b.Grow(n)
		for k := fastID; k <= fastOccurredAt; k++ {
			if f[k].kind == fastString {
				b.Write(value[f[k].start:f[k].end])
			}
		}
		all = b.String()
	}
	off := 0
	for k := fastID; k <= fastOccurredAt && n > 0; k++ {
		if f[k].kind == fastString {
			l := f[k].end - f[k].start
			strs[k] = all[off : off+l]
			off += l
		}
	}

	// The same checks, in the same order, as decodeEventSlow.
	if ev.ID, err = fastStringField(f[fastID].kind, strs[fastID], "id", true, MaxFieldBytes); err != nil {
		return ev, err, true
	}
	if ev.Type, err = fastStringField(f[fastType].kind, strs[fastType], "type", true, 0); err != nil {
		return ev, err, true
	}
	if ev.OrderID, err = fastStringField(f[fastOrderID].kind, strs[fastOrderID], "order_id", true, MaxFieldBytes); err != nil {
		return ev, err, true
	}
	if ev.MenuID, err = fastStringField(f[fastMenuID].kind, strs[fastMenuID], "menu_id", false, MaxFieldBytes); err != nil {
		return ev, err, true
	}
	if ev.OrderID != string(key) {
		return ev, malformed(MalformedKeyMismatch, "order_id %s differs from record key %s", quote(ev.OrderID), quote(string(key))), true
	}
	ev.OccurredAt = strs[fastOccurredAt] // "" unless a string
	if d := f[fastData]; d.kind == fastString || d.kind == fastOther {
		if d.kind == fastString {
			d.start, d.end = d.start-1, d.end+1 // with the quotes
		}
		if views {
			ev.Data = value[d.start:d.end:d.end]
		} else {
			// A copy, as encoding/json's RawMessage makes one.
			ev.Data = append(json.RawMessage(nil), value[d.start:d.end]...)
		}
	}
	return ev, nil, true
}

// fastStringField is stringField for decodeEventFast: kind is fastAbsent,
// fastNull or fastString (with s the string).
func fastStringField(kind int, s, name string, required bool, limit int) (string, error) {
	if kind != fastString && kind != fastKnown {
		if required {
			return "", malformed(MalformedMissing, "required field %s is missing", name)
		}
		return "", nil
	}
	if required && s == "" {
		return "", malformed(MalformedEmpty, "required field %s is empty", name)
	}
	if limit > 0 && len(s) > limit {
		return "", malformed(MalformedOverLimit, "field %s is %d bytes, over the limit of %d", name, len(s), limit)
	}
	return s, nil
}

// skipJSONSpace returns the index of the first byte at or after i that is not
// JSON white space.
func skipJSONSpace(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// fastMaxDepth bounds the nesting scanValue checks; deeper values go to
// the reference (encoding/json allows 10,000 levels).
const fastMaxDepth = 64

// scanValue checks the JSON value starting at b[i] (no white space before
// it) and returns the index just past it. valid is false when the bytes
// are not one valid JSON value by RFC 8259, as encoding/json checks it, or
// when it nests deeper than fastMaxDepth: the caller then falls back to the
// reference. simple reports, for a string, that it holds no escape and only
// bytes 0x20..0x7e.
func scanValue(b []byte, i, depth int) (end int, simple, valid bool) {
	if i >= len(b) {
		return i, false, false
	}
	switch c := b[i]; {
	case c == '"':
		return scanString(b, i)
	case c == '{', c == '[':
		if depth >= fastMaxDepth {
			return i, false, false
		}
		closer := byte('}')
		if c == '[' {
			closer = ']'
		}
		i = skipJSONSpace(b, i+1)
		if i < len(b) && b[i] == closer {
			return i + 1, false, true
		}
		for {
			if c == '{' {
				if i >= len(b) || b[i] != '"' {
					return i, false, false
				}
				var ok bool
				if i, _, ok = scanString(b, i); !ok {
					return i, false, false
				}
				i = skipJSONSpace(b, i)
				if i >= len(b) || b[i] != ':' {
					return i, false, false
				}
				i = skipJSONSpace(b, i+1)
			}
			var ok bool
			if i, _, ok = scanValue(b, i, depth+1); !ok {
				return i, false, false
			}
			i = skipJSONSpace(b, i)
			switch {
			case i >= len(b):
				return i, false, false
			case b[i] == closer:
				return i + 1, false, true
			case b[i] != ',':
				return i, false, false
			}
			i = skipJSONSpace(b, i+1)
		}
	case c == 't':
		return scanLiteral(b, i, "true")
	case c == 'f':
		return scanLiteral(b, i, "false")
	case c == 'n':
		return scanLiteral(b, i, "null")
	case c == '-' || (c >= '0' && c <= '9'):
		return scanNumber(b, i)
	}
	return i, false, false
}

func scanLiteral(b []byte, i int, lit string) (end int, simple, valid bool) {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return i, false, false
	}
	return i + len(lit), false, true
}

// scanNumber checks -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? at b[i].
// What may follow it is the caller's to check.
func scanNumber(b []byte, i int) (end int, simple, valid bool) {
	digits := func(i int) int {
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		return i
	}
	if b[i] == '-' {
		i++
	}
	switch {
	case i >= len(b):
		return i, false, false
	case b[i] == '0':
		i++
	case b[i] >= '1' && b[i] <= '9':
		i = digits(i + 1)
	default:
		return i, false, false
	}
	if i < len(b) && b[i] == '.' {
		j := digits(i + 1)
		if j == i+1 {
			return i, false, false
		}
		i = j
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := digits(i)
		if j == i {
			return i, false, false
		}
		i = j
	}
	return i, false, true
}

// scanString checks the JSON string whose opening quote is b[i] and returns
// the index just past its closing quote; simple as for scanValue.
func scanString(b []byte, i int) (end int, simple, valid bool) {
	simple = true
	for i++; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			return i + 1, simple, true
		case c == '\\':
			simple = false
			i++
			if i >= len(b) {
				return i, false, false
			}
			switch b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if len(b)-i <= 4 {
					return i, false, false
				}
				for _, h := range b[i+1 : i+5] {
					if !isHex(h) {
						return i, false, false
					}
				}
				i += 4
			default:
				return i, false, false
			}
		case c < 0x20:
			return i, false, false // a control character must be escaped
		case c > 0x7e:
			simple = false
		}
	}
	return i, false, false // no closing quote
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}
