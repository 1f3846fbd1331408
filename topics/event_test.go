package topics

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

// bytesOf returns a string of exactly n bytes made of the multi-byte rune r
// (padded with ASCII 'x' when n is not a multiple of r's width).
func bytesOf(r rune, n int) string {
	w := utf8.RuneLen(r)
	s := strings.Repeat(string(r), n/w) + strings.Repeat("x", n%w)
	if len(s) != n {
		panic("bytesOf")
	}
	return s
}

func TestDecodeEventMalformed(t *testing.T) {
	long := strings.Repeat("a", 129)
	longUTF8 := bytesOf('é', 129)  // 64 'é' + 'x': 65 runes, 129 bytes
	longEmoji := bytesOf('🍰', 129) // 32 four-byte runes + 'x'
	ok := `"id":"e1","type":"CustomerConfirmedMenu"`
	cases := []struct {
		name   string
		key    string
		value  string
		reason []string // all must appear in Reason
	}{
		// Value not a JSON object.
		{"garbage", "42", `hello, kafka`, []string{"not a JSON object"}},
		{"binary", "42", "\x00\x01\xff\xfe", []string{"not a JSON object"}},
		{"json array", "42", `[{"id":"e1","type":"t","order_id":"42"}]`, []string{"not a JSON object"}},
		{"json string", "42", `"{\"id\":\"e1\"}"`, []string{"not a JSON object"}},
		{"json number", "42", `42`, []string{"not a JSON object"}},
		{"json true", "42", `true`, []string{"not a JSON object"}},
		{"json null", "42", `null`, []string{"not a JSON object"}},
		{"empty value", "42", ``, []string{"not a JSON object"}},
		{"whitespace value", "42", " \n\t ", []string{"not a JSON object"}},
		{"truncated brace", "42", `{`, []string{"not a JSON object"}},
		{"truncated object", "42", `{"id":"e1","type":"t","order_id":"4`, []string{"not a JSON object"}},
		{"trailing garbage", "42", `{"id":"e1","type":"t","order_id":"42"} x`, []string{"not a JSON object"}},
		{"two objects", "42", `{"id":"e1","type":"t","order_id":"42"}{}`, []string{"not a JSON object"}},

		// Required field missing.
		{"id missing", "42", `{"type":"t","order_id":"42"}`, []string{"field id ", "missing"}},
		{"type missing", "42", `{"id":"e1","order_id":"42"}`, []string{"field type ", "missing"}},
		{"order_id missing", "42", `{"id":"e1","type":"t"}`, []string{"field order_id ", "missing"}},
		{"empty object", "42", `{}`, []string{"missing"}},
		// Field names are case-sensitive: "ID" is not "id".
		{"ID uppercase is not id", "42", `{"ID":"e1","type":"t","order_id":"42"}`, []string{"field id ", "missing"}},
		{"Type capitalised is not type", "42", `{"id":"e1","Type":"t","order_id":"42"}`, []string{"field type ", "missing"}},
		{"orderId is not order_id", "42", `{"id":"e1","type":"t","orderId":"42"}`, []string{"field order_id ", "missing"}},
		{"ORDER_ID is not order_id", "42", `{"id":"e1","type":"t","ORDER_ID":"42"}`, []string{"field order_id ", "missing"}},

		// Required field empty.
		{"id empty", "42", `{"id":"","type":"t","order_id":"42"}`, []string{"field id ", "empty"}},
		{"type empty", "42", `{"id":"e1","type":"","order_id":"42"}`, []string{"field type ", "empty"}},
		{"order_id empty", "42", `{"id":"e1","type":"t","order_id":""}`, []string{"field order_id ", "empty"}},

		// Required field JSON null (counts as missing).
		{"id null", "42", `{"id":null,"type":"t","order_id":"42"}`, []string{"field id ", "missing"}},
		{"type null", "42", `{"id":"e1","type":null,"order_id":"42"}`, []string{"field type ", "missing"}},
		{"order_id null", "42", `{"id":"e1","type":"t","order_id":null}`, []string{"field order_id ", "missing"}},

		// Required field of the wrong type.
		{"id number", "42", `{"id":7,"type":"t","order_id":"42"}`, []string{"field id ", "must be a string", "7"}},
		{"id object", "42", `{"id":{"v":"e1"},"type":"t","order_id":"42"}`, []string{"field id ", "must be a string"}},
		{"id array", "42", `{"id":["e1"],"type":"t","order_id":"42"}`, []string{"field id ", "must be a string"}},
		{"id bool", "42", `{"id":true,"type":"t","order_id":"42"}`, []string{"field id ", "must be a string"}},
		{"type number", "42", `{"id":"e1","type":1,"order_id":"42"}`, []string{"field type ", "must be a string"}},
		{"type object", "42", `{"id":"e1","type":{},"order_id":"42"}`, []string{"field type ", "must be a string"}},
		{"order_id number", "42", `{"id":"e1","type":"t","order_id":42}`, []string{"field order_id ", "must be a string", "42"}},
		{"order_id object", "42", `{"id":"e1","type":"t","order_id":{"id":"42"}}`, []string{"field order_id ", "must be a string"}},
		{"menu_id number", "42", `{` + ok + `,"order_id":"42","menu_id":3}`, []string{"field menu_id ", "must be a string"}},

		// Over the 128-byte limit (bytes, not runes).
		{"id 129 bytes", "42", `{"id":"` + long + `","type":"t","order_id":"42"}`, []string{"field id ", "129 bytes", "128"}},
		{"id 129 bytes utf8", "42", `{"id":"` + longUTF8 + `","type":"t","order_id":"42"}`, []string{"field id ", "129 bytes", "128"}},
		{"order_id 129 bytes", long, `{` + ok + `,"order_id":"` + long + `"}`, []string{"field order_id ", "129 bytes", "128"}},
		{"order_id 129 bytes emoji", longEmoji, `{` + ok + `,"order_id":"` + longEmoji + `"}`, []string{"field order_id ", "129 bytes", "128"}},
		{"menu_id 129 bytes", "42", `{` + ok + `,"order_id":"42","menu_id":"` + long + `"}`, []string{"field menu_id ", "129 bytes", "128"}},
		{"menu_id 129 bytes utf8", "42", `{` + ok + `,"order_id":"42","menu_id":"` + longUTF8 + `"}`, []string{"field menu_id ", "129 bytes", "128"}},
		// A JSON escape counts by its decoded bytes: 64 × "\u00e9" + "x" = 129 bytes (385 on the wire).
		{"id escaped 129 bytes", "42", `{"id":"` + strings.Repeat(`\u00e9`, 64) + `x","type":"t","order_id":"42"}`, []string{"field id ", "129 bytes"}},

		// Key.
		{"empty key", "", `{"id":"e1","type":"t","order_id":"42"}`, []string{"key is empty"}},
		{"empty key and empty order_id", "", `{"id":"e1","type":"t","order_id":""}`, []string{"key is empty"}},
		{"order_id differs from key", "42", `{"id":"e1","type":"t","order_id":"43"}`, []string{"order_id", "key", `"43"`, `"42"`}},
		{"order_id differs in case", "order-A", `{"id":"e1","type":"t","order_id":"order-a"}`, []string{`"order-a"`, `"order-A"`}},
		{"order_id differs by trailing space", "42 ", `{"id":"e1","type":"t","order_id":"42"}`, []string{`"42"`, `"42 "`}},
		{"order_id utf8 differs", "café", `{"id":"e1","type":"t","order_id":"cafe"}`, []string{`"cafe"`, `"café"`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var key []byte
			if c.key != "" {
				key = []byte(c.key)
			}
			ev, err := DecodeEvent(key, []byte(c.value))
			if err == nil {
				t.Fatalf("DecodeEvent(%q, %q) = %+v, nil; want a *MalformedError", c.key, c.value, ev)
			}
			var me *MalformedError
			if !errors.As(err, &me) {
				t.Fatalf("error %v (%T) is not a *MalformedError", err, err)
			}
			for _, want := range c.reason {
				if !strings.Contains(me.Reason, want) {
					t.Errorf("reason %q does not contain %q", me.Reason, want)
				}
			}
			if !strings.HasPrefix(err.Error(), "malformed event: ") || !strings.HasSuffix(err.Error(), me.Reason) {
				t.Errorf("Error() = %q, want %q", err.Error(), "malformed event: "+me.Reason)
			}
		})
	}
}

func TestDecodeEventNilAndEmptyValue(t *testing.T) {
	for _, v := range [][]byte{nil, {}} {
		_, err := DecodeEvent([]byte("42"), v)
		var me *MalformedError
		if !errors.As(err, &me) || me.Reason == "" {
			t.Fatalf("DecodeEvent(42, %#v) err = %v, want *MalformedError", v, err)
		}
	}
	// nil key and empty key are the same.
	for _, k := range [][]byte{nil, {}} {
		_, err := DecodeEvent(k, []byte(`{"id":"e1","type":"t","order_id":"42"}`))
		var me *MalformedError
		if !errors.As(err, &me) || !strings.Contains(me.Reason, "key is empty") {
			t.Fatalf("DecodeEvent(%#v, ...) err = %v, want *MalformedError about the empty key", k, err)
		}
	}
}

func TestDecodeEventLimits(t *testing.T) {
	for _, n := range []int{1, 127, 128} {
		for _, r := range []rune{'a', 'é', '€', '🍰'} {
			s := bytesOf(r, n)
			v := `{"id":"` + s + `","type":"t","order_id":"` + s + `","menu_id":"` + s + `"}`
			ev, err := DecodeEvent([]byte(s), []byte(v))
			if err != nil {
				t.Fatalf("%d bytes of %q: %v", n, r, err)
			}
			if ev.ID != s || ev.OrderID != s || ev.MenuID != s {
				t.Fatalf("%d bytes of %q: got %+v", n, r, ev)
			}
		}
	}
}

// TestDecodeEventTypeHasNoLimit: docs/contract.md limits id, order_id and menu_id to
// 128 bytes but gives type no limit ("required, non-empty"); event.go's
// MaxFieldBytes doc says the same. A long type of someone else's event on a
// shared topic must be skipped as another type, not dead-lettered.
func TestDecodeEventTypeHasNoLimit(t *testing.T) {
	longType := strings.Repeat("T", 129)
	_, err := DecodeEvent([]byte("42"), []byte(`{"id":"e1","type":"`+longType+`","order_id":"42"}`))
	if err != nil {
		t.Fatalf("event.go:58/108 applies MaxFieldBytes to type: %v", err)
	}
}

func TestDecodeEventWellFormed(t *testing.T) {
	cases := []struct {
		name  string
		key   string
		value string
		want  Event
	}{
		{
			name:  "domain example",
			key:   "42",
			value: `{"id":"0b6c5f5e-6b1e-4c55-9a52-8f1f3c1e2b7a","type":"CustomerConfirmedMenu","order_id":"42","menu_id":"menu-a","occurred_at":"2026-11-25T10:00:00Z","data":{}}`,
			want:  Event{ID: "0b6c5f5e-6b1e-4c55-9a52-8f1f3c1e2b7a", Type: "CustomerConfirmedMenu", OrderID: "42", MenuID: "menu-a", OccurredAt: "2026-11-25T10:00:00Z", Data: json.RawMessage(`{}`)},
		},
		{
			name:  "minimal",
			key:   "42",
			value: `{"id":"e1","type":"CatererConfirmedMenu","order_id":"42"}`,
			want:  Event{ID: "e1", Type: "CatererConfirmedMenu", OrderID: "42"},
		},
		{
			name:  "unknown fields ignored",
			key:   "42",
			value: `{"id":"e1","type":"t","order_id":"42","schema":9,"source":{"x":[1,2]},"ID":"other","Order_ID":"nope","tags":null}`,
			want:  Event{ID: "e1", Type: "t", OrderID: "42"},
		},
		{
			name:  "menu_id empty means default",
			key:   "42",
			value: `{"id":"e1","type":"t","order_id":"42","menu_id":""}`,
			want:  Event{ID: "e1", Type: "t", OrderID: "42"},
		},
		{
			name:  "menu_id null means default",
			key:   "42",
			value: `{"id":"e1","type":"t","order_id":"42","menu_id":null}`,
			want:  Event{ID: "e1", Type: "t", OrderID: "42"},
		},
		{
			name:  "data kept as raw JSON",
			key:   "42",
			value: `{"id":"e1","type":"t","order_id":"42","data":{"note":"vegan <3","n":1.50,"nested":{"a":[true,null]}}}`,
			want:  Event{ID: "e1", Type: "t", OrderID: "42", Data: json.RawMessage(`{"note":"vegan <3","n":1.50,"nested":{"a":[true,null]}}`)},
		},
		{
			name:  "data null is absent",
			key:   "42",
			value: `{"id":"e1","type":"t","order_id":"42","data":null}`,
			want:  Event{ID: "e1", Type: "t", OrderID: "42"},
		},
		{
			name:  "occurred_at carried with nanoseconds and offset",
			key:   "42",
			value: `{"id":"e1","type":"t","order_id":"42","occurred_at":"2026-11-25T10:00:00.123456789+01:00"}`,
			want:  Event{ID: "e1", Type: "t", OrderID: "42", OccurredAt: "2026-11-25T10:00:00.123456789+01:00"},
		},
		{
			name:  "leading and trailing whitespace",
			key:   "42",
			value: " \t\r\n{\"id\":\"e1\",\"type\":\"t\",\"order_id\":\"42\"}\n",
			want:  Event{ID: "e1", Type: "t", OrderID: "42"},
		},
		{
			name:  "whitespace inside",
			key:   "42",
			value: "{ \"id\" : \"e1\" ,\n \"type\" : \"t\" , \"order_id\" :\t\"42\" }",
			want:  Event{ID: "e1", Type: "t", OrderID: "42"},
		},
		{
			name:  "json escapes decoded before comparing with key",
			key:   "café/42",
			value: `{"id":"e\u00e9","type":"t","order_id":"caf\u00e9\/42"}`,
			want:  Event{ID: "eé", Type: "t", OrderID: "café/42"},
		},
		{
			name:  "other type is well-formed",
			key:   "42",
			value: `{"id":"e1","type":"InvoiceSent","order_id":"42"}`,
			want:  Event{ID: "e1", Type: "InvoiceSent", OrderID: "42"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := DecodeEvent([]byte(c.key), []byte(c.value))
			if err != nil {
				t.Fatalf("DecodeEvent: %v", err)
			}
			assertEventEqual(t, got, c.want)
			if string(got.Data) != string(c.want.Data) {
				t.Errorf("Data = %s, want byte for byte %s", got.Data, c.want.Data)
			}
		})
	}
}

func TestDecodeEventOccurredTime(t *testing.T) {
	ev, err := DecodeEvent([]byte("42"), []byte(`{"id":"e1","type":"t","order_id":"42","occurred_at":"2026-11-25T10:00:00.5Z"}`))
	if err != nil {
		t.Fatal(err)
	}
	tm, ok := ev.OccurredTime()
	if !ok || tm.Nanosecond() != 500_000_000 || tm.Hour() != 10 {
		t.Fatalf("OccurredTime() = %v, %v", tm, ok)
	}
	// Informational: absent or unparsable is not malformed.
	for _, v := range []string{
		`{"id":"e1","type":"t","order_id":"42"}`,
		`{"id":"e1","type":"t","order_id":"42","occurred_at":"yesterday"}`,
		`{"id":"e1","type":"t","order_id":"42","occurred_at":12345}`,
	} {
		ev, err := DecodeEvent([]byte("42"), []byte(v))
		if err != nil {
			t.Fatalf("%s: %v", v, err)
		}
		if _, ok := ev.OccurredTime(); ok {
			t.Errorf("%s: OccurredTime ok", v)
		}
	}
}

func TestEventRoundTrip(t *testing.T) {
	events := []Event{
		{ID: "e1", Type: "CustomerConfirmedMenu", OrderID: "42"},
		{ID: "e2", Type: "CatererConfirmedMenu", OrderID: "42", MenuID: "menu-a", OccurredAt: "2026-11-25T10:00:00Z", Data: json.RawMessage(`{"a":[1,2,{"b":null}]}`)},
		{ID: bytesOf('é', 128), Type: "CatererDeclinedMenu", OrderID: bytesOf('🍰', 128), MenuID: strings.Repeat("m", 128)},
		{ID: `quote " backslash \ <html> & ` + "\u2028", Type: "t\n", OrderID: "o\x00rder", MenuID: "\t"},
	}
	for _, e := range events {
		b, err := EncodeEvent(e)
		if err != nil {
			t.Fatalf("EncodeEvent(%+v): %v", e, err)
		}
		got, err := DecodeEvent([]byte(e.OrderID), b)
		if err != nil {
			t.Fatalf("DecodeEvent(EncodeEvent(%+v)) = %v; wire %s", e, err, b)
		}
		assertEventEqual(t, got, e)
	}
}

func TestEncodeEventFieldNames(t *testing.T) {
	b, err := EncodeEvent(Event{ID: "e1", Type: "t", OrderID: "42", MenuID: "m", OccurredAt: "2026-11-25T10:00:00Z", Data: json.RawMessage(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"id", "type", "order_id", "menu_id", "occurred_at", "data"} {
		if _, ok := m[k]; !ok {
			t.Errorf("EncodeEvent output %s lacks %q", b, k)
		}
	}
	if len(m) != 6 {
		t.Errorf("EncodeEvent output %s has %d fields, want 6", b, len(m))
	}
}

// TestDecodeEventReasonIsValidUTF8: the Reason becomes the dlq-reason header,
// "short human-readable". A wrong-typed field whose raw JSON is cut at byte 40
// in the middle of a multi-byte rune yields a Reason that is not valid UTF-8.
func TestDecodeEventReasonIsValidUTF8(t *testing.T) {
	// raw = `["` + "x" + 'é'×N: byte 40 falls inside an 'é'.
	raw := `["x` + strings.Repeat("é", 30) + `"]`
	_, err := DecodeEvent([]byte("42"), []byte(`{"id":`+raw+`,"type":"t","order_id":"42"}`))
	var me *MalformedError
	if !errors.As(err, &me) {
		t.Fatalf("err = %v, want *MalformedError", err)
	}
	if !utf8.ValidString(me.Reason) {
		t.Fatalf("event.go stringField/truncate cuts raw JSON at byte 40 mid-rune: Reason %q is not valid UTF-8", me.Reason)
	}
}

// assertEventEqual compares events; Data is compared as JSON values.
func assertEventEqual(t *testing.T, got, want Event) {
	t.Helper()
	if got.ID != want.ID || got.Type != want.Type || got.OrderID != want.OrderID ||
		got.MenuID != want.MenuID || got.OccurredAt != want.OccurredAt {
		t.Errorf("event = %+v, want %+v", got, want)
	}
	if !jsonEqual(got.Data, want.Data) {
		t.Errorf("Data = %s, want %s", got.Data, want.Data)
	}
}

// jsonEqual reports whether a and b are the same JSON value (both empty
// counts as equal).
func jsonEqual(a, b []byte) bool {
	if len(a) == 0 || len(b) == 0 {
		return len(a) == len(b)
	}
	ca, errA := canonicalJSON(a)
	cb, errB := canonicalJSON(b)
	return errA == nil && errB == nil && ca == cb
}

func canonicalJSON(b []byte) (string, error) {
	var v any
	d := json.NewDecoder(strings.NewReader(string(b)))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		return "", err
	}
	out, err := json.Marshal(v) // maps marshal with sorted keys
	return string(out), err
}

// TestDecodeEventNonJSONWhitespace: JSON whitespace is space, tab, CR and LF
// only (RFC 8259 §2). A value that starts with another Unicode space (\v, \f,
// U+0085, U+00A0) is not JSON, so not a JSON object: malformed.
func TestDecodeEventNonJSONWhitespace(t *testing.T) {
	body := `{"id":"e1","type":"t","order_id":"42"}`
	var accepted []string
	for _, ws := range []string{"\v", "\f", "\u0085", "\u00a0", "\u2028"} {
		for _, v := range []string{ws + body, body + ws} {
			if json.Valid([]byte(v)) {
				t.Fatalf("%q is valid JSON?", v)
			}
			if _, err := DecodeEvent([]byte("42"), []byte(v)); err == nil {
				accepted = append(accepted, v)
			}
		}
	}
	if len(accepted) > 0 {
		t.Fatalf("event.go:46 bytes.TrimSpace strips Unicode spaces, so these non-JSON values decode as events: %q", accepted)
	}
}
