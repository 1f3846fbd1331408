package audit

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestDecodeEvent(t *testing.T) {
	long := func(n int) string { return strings.Repeat("x", n) }
	obj := func(fields string) string { return `{` + fields + `}` }
	base := `"id":"e1","type":"CustomerConfirmedMenu","order_id":"42"`
	for _, tc := range []struct {
		name, key, value string
		want             Event  // when well-formed
		bad              string // substring of the reason when malformed
	}{
		// Well-formed shapes.
		{name: "minimal", key: "42", value: obj(base), want: Event{"e1", "CustomerConfirmedMenu", "42", ""}},
		{name: "menu", key: "42", value: obj(base + `,"menu_id":"menu-a"`), want: Event{"e1", "CustomerConfirmedMenu", "42", "menu-a"}},
		{name: "menu empty is default", key: "42", value: obj(base + `,"menu_id":""`), want: Event{"e1", "CustomerConfirmedMenu", "42", ""}},
		{name: "menu null is default", key: "42", value: obj(base + `,"menu_id":null`), want: Event{"e1", "CustomerConfirmedMenu", "42", ""}},
		{name: "unknown fields ignored", key: "42", value: obj(base + `,"schema":9,"ID":"x","Order_ID":"y","x":{"a":[1,null]}`), want: Event{"e1", "CustomerConfirmedMenu", "42", ""}},
		{name: "occurred_at any shape", key: "42", value: obj(base + `,"occurred_at":12345`), want: Event{"e1", "CustomerConfirmedMenu", "42", ""}},
		{name: "occurred_at not RFC 3339", key: "42", value: obj(base + `,"occurred_at":"yesterday"`), want: Event{"e1", "CustomerConfirmedMenu", "42", ""}},
		{name: "data any shape", key: "42", value: obj(base + `,"data":[1,"two",null]`), want: Event{"e1", "CustomerConfirmedMenu", "42", ""}},
		{name: "other type", key: "42", value: `{"id":"e1","type":"OrderNoteAdded","order_id":"42"}`, want: Event{"e1", "OrderNoteAdded", "42", ""}},
		{name: "type has no limit", key: "42", value: `{"id":"e1","type":"` + long(5000) + `","order_id":"42"}`, want: Event{"e1", long(5000), "42", ""}},
		{name: "id at 128 bytes", key: "42", value: `{"id":"` + long(128) + `","type":"t","order_id":"42"}`, want: Event{long(128), "t", "42", ""}},
		{name: "id 64 two-byte runes", key: "42", value: `{"id":"` + strings.Repeat("é", 64) + `","type":"t","order_id":"42"}`, want: Event{strings.Repeat("é", 64), "t", "42", ""}},
		{name: "order_id at 128 bytes", key: long(128), value: `{"id":"e","type":"t","order_id":"` + long(128) + `"}`, want: Event{"e", "t", long(128), ""}},
		{name: "menu at 128 bytes", key: "42", value: obj(base + `,"menu_id":"` + long(128) + `"`), want: Event{"e1", "CustomerConfirmedMenu", "42", long(128)}},
		{name: "JSON white space around", key: "42", value: " \t\r\n" + obj(base) + "\n\t \r", want: Event{"e1", "CustomerConfirmedMenu", "42", ""}},
		{name: "escaped strings", key: "4\"2", value: `{"id":"e\u0031","type":"t","order_id":"4\"2"}`, want: Event{"e1", "t", "4\"2", ""}},
		{name: "unicode key", key: "bestellung-ü", value: `{"id":"e","type":"t","order_id":"bestellung-ü"}`, want: Event{"e", "t", "bestellung-ü", ""}},

		// Malformed: the value.
		{name: "nil value", key: "42", value: "", bad: "not a JSON object"},
		{name: "blank value", key: "42", value: " \n", bad: "not a JSON object"},
		{name: "not JSON", key: "42", value: "not json at all", bad: "not a JSON object"},
		{name: "null", key: "42", value: "null", bad: "not a JSON object"},
		{name: "array", key: "42", value: `[{"id":"e1"}]`, bad: "not a JSON object"},
		{name: "string", key: "42", value: `"{}"`, bad: "not a JSON object"},
		{name: "number", key: "42", value: `42`, bad: "not a JSON object"},
		{name: "truncated", key: "42", value: `{"id":"e1","type":"t","order_id":"42"`, bad: "not a JSON object"},
		{name: "trailing garbage", key: "42", value: obj(base) + ` x`, bad: "not a JSON object"},
		{name: "two objects", key: "42", value: obj(base) + obj(base), bad: "not a JSON object"},
		{name: "vertical tab before", key: "42", value: "\v" + obj(base), bad: "not a JSON object"},
		{name: "form feed after", key: "42", value: obj(base) + "\f", bad: "not a JSON object"},
		{name: "no-break space before", key: "42", value: "\u00a0" + obj(base), bad: "not a JSON object"},
		{name: "byte order mark", key: "42", value: "\ufeff" + obj(base), bad: "not a JSON object"},

		// Malformed: required fields.
		{name: "id missing", key: "42", value: `{"type":"t","order_id":"42"}`, bad: "id is missing"},
		{name: "id null", key: "42", value: `{"id":null,"type":"t","order_id":"42"}`, bad: "id is missing"},
		{name: "id null spaced", key: "42", value: `{"id" : null ,"type":"t","order_id":"42"}`, bad: "id is missing"},
		{name: "id empty", key: "42", value: `{"id":"","type":"t","order_id":"42"}`, bad: "id is empty"},
		{name: "id number", key: "42", value: `{"id":7,"type":"t","order_id":"42"}`, bad: "id is not a string"},
		{name: "id 129 bytes", key: "42", value: `{"id":"` + long(129) + `","type":"t","order_id":"42"}`, bad: "id is 129 bytes"},
		{name: "id 43 three-byte runes", key: "42", value: `{"id":"` + strings.Repeat("€", 43) + `","type":"t","order_id":"42"}`, bad: "id is 129 bytes"},
		{name: "id case-sensitive", key: "42", value: `{"ID":"e1","type":"t","order_id":"42"}`, bad: "id is missing"},
		{name: "id repeated, last not a string", key: "42", value: `{"id":"e1","id":5,"type":"t","order_id":"42"}`, bad: "id is not a string"},
		{name: "type missing", key: "42", value: `{"id":"e1","order_id":"42"}`, bad: "type is missing"},
		{name: "type null", key: "42", value: `{"id":"e1","type":null,"order_id":"42"}`, bad: "type is missing"},
		{name: "type empty", key: "42", value: `{"id":"e1","type":"","order_id":"42"}`, bad: "type is empty"},
		{name: "type bool", key: "42", value: `{"id":"e1","type":true,"order_id":"42"}`, bad: "type is not a string"},
		{name: "type case-sensitive", key: "42", value: `{"id":"e1","Type":"t","order_id":"42"}`, bad: "type is missing"},
		{name: "order_id missing", key: "42", value: `{"id":"e1","type":"t"}`, bad: "order_id is missing"},
		{name: "order_id null", key: "42", value: `{"id":"e1","type":"t","order_id":null}`, bad: "order_id is missing"},
		{name: "order_id empty", key: "42", value: `{"id":"e1","type":"t","order_id":""}`, bad: "order_id is empty"},
		{name: "order_id number", key: "42", value: `{"id":"e1","type":"t","order_id":42}`, bad: "order_id is not a string"},
		{name: "order_id object", key: "42", value: `{"id":"e1","type":"t","order_id":{"v":"42"}}`, bad: "order_id is not a string"},
		{name: "order_id 129 bytes", key: long(129), value: `{"id":"e","type":"t","order_id":"` + long(129) + `"}`, bad: "order_id is 129 bytes"},
		{name: "orderId spelling", key: "42", value: `{"id":"e1","type":"t","orderId":"42"}`, bad: "order_id is missing"},

		// Malformed: menu_id, key.
		{name: "menu number", key: "42", value: obj(base + `,"menu_id":1`), bad: "menu_id is not a string"},
		{name: "menu array", key: "42", value: obj(base + `,"menu_id":["a"]`), bad: "menu_id is not a string"},
		{name: "menu 129 bytes", key: "42", value: obj(base + `,"menu_id":"` + long(129) + `"`), bad: "menu_id is 129 bytes"},
		{name: "empty key", key: "", value: obj(base), bad: "empty record key"},
		{name: "order_id differs from key", key: "43", value: obj(base), bad: "differs from key"},
		{name: "order_id differs by case", key: "A1", value: `{"id":"e","type":"t","order_id":"a1"}`, bad: "differs from key"},
		{name: "order_id differs by space", key: "42 ", value: obj(base), bad: "differs from key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var value []byte
			if tc.value != "" {
				value = []byte(tc.value)
			}
			ev, reason := DecodeEvent([]byte(tc.key), value)
			if tc.bad != "" {
				require.Contains(t, reason, tc.bad)
				return
			}
			require.Empty(t, reason)
			require.Equal(t, tc.want, ev)
		})
	}
}

func TestCommandID(t *testing.T) {
	// Computed outside Go: python3 -c "import uuid; print(uuid.uuid5(
	// uuid.UUID('6f2b8c0e-3a6d-5b9e-8f41-6c1f0e2a9d57'), 'ConfirmOrder/42'))"
	require.Equal(t, "496338ce-23a6-5516-b38c-4ee1665e5e2d", CommandID("42"))
}

func TestDecodeCommand(t *testing.T) {
	c, problems, ok := DecodeCommand([]byte(`{"command_id":"c","type":"ConfirmOrder","order_id":"42","menu_id":"m","issued_at":"2026-01-01T00:00:00Z","causation_id":"e2","correlation_id":"42","extra":1}`))
	require.True(t, ok)
	require.Empty(t, problems)
	require.Equal(t, Command{"c", "ConfirmOrder", "42", "m", "2026-01-01T00:00:00Z", "e2", "42"}, c)

	_, problems, ok = DecodeCommand([]byte(`{"command_id":1,"type":"ConfirmOrder","order_id":"42"}`))
	require.True(t, ok)
	require.Equal(t, []string{"command_id is not a string", "causation_id is missing", "correlation_id is missing"}, problems)

	for _, v := range []string{"", "null", "[]", "{", `{"a":1} {}`, "ConfirmOrder"} {
		_, _, ok = DecodeCommand([]byte(v))
		require.False(t, ok, v)
	}
}
