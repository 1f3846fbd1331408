package topics

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/catering-match/catering-match/state"
)

func TestNewConfirmOrderWire(t *testing.T) {
	issued := time.Date(2026, 11, 25, 11, 0, 1, 0, time.FixedZone("CET", 3600))
	c := NewConfirmOrder("42", "menu-a", "evt-7", issued)
	b := c.Encode()

	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("command is not a JSON object: %v: %s", err, b)
	}
	want := map[string]string{
		"command_id":     state.CommandID("42"),
		"type":           "ConfirmOrder",
		"order_id":       "42",
		"menu_id":        "menu-a",
		"issued_at":      "2026-11-25T10:00:01Z",
		"causation_id":   "evt-7",
		"correlation_id": "42",
	}
	if len(m) != len(want) {
		t.Errorf("command %s has %d fields, want exactly %d (docs/contract.md)", b, len(m), len(want))
	}
	for k, w := range want {
		v, ok := m[k]
		if !ok {
			t.Errorf("command %s lacks %q", b, k)
			continue
		}
		s, ok := v.(string)
		if !ok {
			t.Errorf("%s = %v (%T), want a JSON string", k, v, v)
			continue
		}
		if s != w {
			t.Errorf("%s = %q, want %q", k, s, w)
		}
	}
	if ConfirmOrderType != "ConfirmOrder" {
		t.Errorf("ConfirmOrderType = %q", ConfirmOrderType)
	}
}

func TestConfirmOrderIssuedAt(t *testing.T) {
	for _, at := range []time.Time{
		time.Date(2026, 11, 25, 10, 0, 1, 0, time.UTC),
		time.Date(2026, 11, 25, 10, 0, 1, 123456789, time.UTC),
		time.Date(2026, 11, 25, 5, 0, 1, 5e8, time.FixedZone("EST", -5*3600)),
		time.Date(2026, 11, 25, 10, 0, 1, 0, time.Local),
	} {
		c := NewConfirmOrder("42", "", "e", at)
		got, err := time.Parse(time.RFC3339, c.IssuedAt)
		if err != nil {
			t.Fatalf("issued_at %q is not RFC 3339: %v", c.IssuedAt, err)
		}
		if !got.Equal(at) {
			t.Errorf("issued_at %q = %v, want %v", c.IssuedAt, got, at)
		}
		if c.IssuedAt[len(c.IssuedAt)-1] != 'Z' {
			t.Errorf("issued_at %q is not in UTC", c.IssuedAt)
		}
	}
}

func TestConfirmOrderCommandID(t *testing.T) {
	orders := []string{"42", "43", "", "café-🍰", "ConfirmOrder/42"}
	seen := map[string]string{}
	for _, o := range orders {
		c := NewConfirmOrder(o, "m", "e", time.Now())
		if c.CommandID != state.CommandID(o) {
			t.Errorf("order %q: command_id %q, want state.CommandID = %q", o, c.CommandID, state.CommandID(o))
		}
		u, err := uuid.Parse(c.CommandID)
		if err != nil {
			t.Fatalf("order %q: command_id %q is not a UUID: %v", o, c.CommandID, err)
		}
		if u.Version() != 5 {
			t.Errorf("order %q: command_id %s is UUID version %d, want 5", o, u, u.Version())
		}
		if u.Variant() != uuid.RFC4122 {
			t.Errorf("order %q: command_id %s variant %v, want RFC 4122", o, u, u.Variant())
		}
		if u.String() != c.CommandID {
			t.Errorf("command_id %q is not in canonical lower-case form %q", c.CommandID, u)
		}
		// Deterministic: another issue (other menu, cause, time) gives the same id.
		if again := NewConfirmOrder(o, "other", "cause", time.Unix(0, 0)); again.CommandID != c.CommandID {
			t.Errorf("order %q: command_id not deterministic: %q vs %q", o, c.CommandID, again.CommandID)
		}
		if prev, dup := seen[c.CommandID]; dup {
			t.Errorf("orders %q and %q share command_id %s", prev, o, c.CommandID)
		}
		seen[c.CommandID] = o
	}
	// docs/contract.md: UUID v5 in a fixed namespace of the name
	// "ConfirmOrder/<order_id>". Downstream systems deduplicate on this id,
	// so the namespace (pinned here from state/catering.go) must never change
	// between releases.
	ns := uuid.MustParse("6f2b8c0e-3a6d-5b9e-8f41-6c1f0e2a9d57")
	for _, o := range orders {
		if want := uuid.NewSHA1(ns, []byte("ConfirmOrder/"+o)).String(); state.CommandID(o) != want {
			t.Errorf("CommandID(%q) = %s, want v5(%s, %q) = %s", o, state.CommandID(o), ns, "ConfirmOrder/"+o, want)
		}
	}
}

func TestConfirmOrderRoundTrip(t *testing.T) {
	c := NewConfirmOrder("42", "menu-a", "evt-7", time.Date(2026, 11, 25, 10, 0, 1, 42, time.UTC))
	got, err := DecodeConfirmOrder(c.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if got != c {
		t.Fatalf("DecodeConfirmOrder(Encode()) = %+v, want %+v", got, c)
	}
	// The default menu travels as an empty menu_id; the field is still there.
	var m map[string]json.RawMessage
	if err := json.Unmarshal(NewConfirmOrder("42", "", "e", time.Now()).Encode(), &m); err != nil {
		t.Fatal(err)
	}
	if string(m["menu_id"]) != `""` {
		t.Errorf(`menu_id for the default menu = %s, want ""`, m["menu_id"])
	}
}

// FuzzConfirmOrderEncode: the hand-written encoder writes exactly what
// json.Marshal writes, escapes and invalid UTF-8 included.
func FuzzConfirmOrderEncode(f *testing.F) {
	f.Add("42", "menu-a", "evt-7", "2026-11-25T10:00:01Z")
	f.Add("ö<&>\"\\\u2028", "\x00\xff", "", "x")
	f.Add("order-1", "", "e", "")
	f.Fuzz(func(t *testing.T, order, menu, causation, issued string) {
		c := ConfirmOrder{CommandID: state.CommandID(order), Type: ConfirmOrderType, OrderID: order,
			MenuID: menu, IssuedAt: issued, CausationID: causation, CorrelationID: order}
		if fast, slow := c.Encode(), c.encodeSlow(); string(fast) != string(slow) {
			t.Fatalf("Encode = %s\njson.Marshal = %s", fast, slow)
		}
		// EncodeConfirmOrder, with a time drawn from the strings.
		var ns int64
		for _, r := range order + menu + causation + issued {
			ns = ns*31 + int64(r)
		}
		at := state.Stamp(ns)
		want := NewConfirmOrderWithID(c.CommandID, order, menu, causation, at.Time()).encodeSlow()
		if got := EncodeConfirmOrder(c.CommandID, order, menu, causation, at); string(got) != string(want) {
			t.Fatalf("EncodeConfirmOrder = %s\njson.Marshal = %s", got, want)
		}
	})
}

func TestNewConfirmOrderWithID(t *testing.T) {
	at := time.Date(2026, 12, 2, 1, 0, 0, 0, time.UTC)
	if a, b := NewConfirmOrder("42", "m", "e", at), NewConfirmOrderWithID(state.CommandID("42"), "42", "m", "e", at); a != b {
		t.Fatalf("%+v != %+v", a, b)
	}
}
