package topics

import (
	"errors"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"unsafe"

	"github.com/catering-match/catering-match/state"
)

// fastSeeds are inputs at the edges of decodeEventFast's common case: each
// must give the same result through DecodeEvent and decodeEventSlow.
var fastSeeds = []struct{ key, value string }{
	// FuzzDecodeEvent's seeds.
	{"42", `{"id":"0b6c5f5e-6b1e-4c55-9a52-8f1f3c1e2b7a","type":"CustomerConfirmedMenu","order_id":"42","menu_id":"menu-a","occurred_at":"2026-11-25T10:00:00Z","data":{}}`},
	{"42", `{"id":"e1","type":"CatererDeclinedMenu","order_id":"42","data":{"note":"<b>&amp;</b>","n":[1,2.50e3,null]}}`},
	{"42", ` {"ID":"e1","id":"e2","type":"t","order_id":"42","menu_id":null,"occurred_at":5}`},
	{"café", `{"id":"\u00e9","type":"t","order_id":"caf\u00e9"}`},
	{"42", `{"id":"e1","type":"t","order_id":"43"}`},
	{"", `{"id":"e1","type":"t","order_id":""}`},
	{"42", `{"id":7,"type":{},"order_id":["42"]}`},
	{"42", `[1,2]`},
	{"42", `{`},
	{"42", ""},
	// The fast path validates as it scans: invalid JSON anywhere, in a
	// field it reads or one it skips, must reach the reference.
	{"42", `{"id":"e1","type":"t","order_id":"42","data":[1,]}`},
	{"42", `{"id":"e1","type":"t","order_id":"42","x":01}`},
	{"42", `{"id":"e1","type":"t","order_id":"42","x":-}`},
	{"42", `{"id":"e1","type":"t","order_id":"42","x":1.}`},
	{"42", `{"id":"e1","type":"t","order_id":"42","x":1e+}`},
	{"42", `{"id":"e1","type":"t","order_id":"42","x":tru}`},
	{"42", `{"id":"e1","type":"t","order_id":"42","x":nul}`},
	{"42", "{\"id\":\"e1\",\"type\":\"t\",\"order_id\":\"42\",\"x\":\"a\x01b\"}"},
	{"42", `{"id":"e1","type":"t","order_id":"42","x":"\u12G4"}`},
	{"42", `{"id":"e1","type":"t","order_id":"42","x":"\q"}`},
	{"42", `{"id":"e1","type":"t","order_id":"42"}}`},
	{"42", `{"id":"e1","type":"t","order_id":"42"} x`},
	{"42", `{"id":"e1","type":"t","order_id":"42",}`},
	{"42", `{"id":"e1","type":"t","order_id":"42","x":{"a" 1}}`},
	{"42", `{"id":"e1","type":"t","order_id":"42","x":[1 2]}`},
	{"42", `{"id":"e1" "type":"t","order_id":"42"}`},
	{"42", `{"id":"e1","type":"t","order_id":"42","x":"unterminated}`},
	{"42", `{"id":"e1","type":"t","order_id":"42","x":-0.5e-7,"y":[true,false,null,{"z":[]}]}`},
	{"42", `{"id":"e1","type":"t","order_id":"42","deep":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`},
	{"42", `{"id":"e1","type":"t","order_id":"42","deep":` + strings.Repeat("[", 100) + strings.Repeat("]", 99) + `}`},

	// Escapes in keys and values.
	{"42", `{"\u0069d":"e1","type":"t","order_id":"42"}`},
	{"42", `{"id":"e1","id\u0000":"x","type":"t","order_id":"42"}`},
	{"42", `{"id":"e\"1","type":"t","order_id":"42"}`},
	{"42", `{"id":"e\\1","type":"t","order_id":"42"}`},
	{"4/2", `{"id":"e1","type":"t","order_id":"4\/2"}`},
	{"42", `{"id":"e1","type":"t\n","order_id":"42"}`},
	{"42", `{"id":"e1","type":"t","order_id":"42","occurred_at":"2026-11-25T10:00:00\u005a"}`},
	{"42", `{"id":"e1","type":"t","order_id":"42","data":"a\"b}"}`},
	{"42", `{"id":"e1","type":"t","order_id":"42","data":"plain"}`},
	{"42", `{"id":"e1","type":"t","order_id":"42","data":{"k\"}":"]\\","a":[{"b":"}"}]}}`},
	{"42", `{"x":"\"}","id":"e1","type":"t","order_id":"42"}`},
	// Unicode and non-ASCII bytes.
	{"café", `{"id":"é","type":"t","order_id":"café"}`},
	{"42", `{"id":"e1","type":"🍰","order_id":"42","menu_id":"mé"}`},
	{"42", "{\"id\":\"e\xff1\",\"type\":\"t\",\"order_id\":\"42\"}"},
	{"42", "{\"id\":\"e1\",\"type\":\"t\",\"order_id\":\"42\",\"k\xff\":1}"},
	{"42", "{\"id\":\"e\x7f\",\"type\":\"t\",\"order_id\":\"42\"}"},
	{"42", `{"id":"e1","type":"t","order_id":"42","occurred_at":"2026-11-25T10:00:00+01:00 é"}`},
	{"42", "{\"id\":\"e1\",\"type\":\"t\",\"order_id\":\"42\",\"data\":{\"é\":\"🍰\"}}"},
	// Nested data, numbers with exponents, literals.
	{"42", `{"id":"e1","type":"t","order_id":"42","data":[1,-2.5E+10,3e-2,true,false,null,{"a":{"b":[[]]}}]}`},
	{"42", `{"id":"e1","type":"t","order_id":"42","data":-0.0e0}`},
	{"42", `{"id":"e1","type":"t","order_id":"42","data":true}`},
	{"42", `{"id":"e1","type":"t","order_id":"42","n":1E400,"data":[]}`},
	{"42", `{"id":"e1","type":"t","order_id":"42","occurred_at":{"t":"x"}}`},
	{"42", `{"id":"e1","type":"t","order_id":"42","occurred_at":[1]}`},
	{"42", `{"id":"e1","type":"t","order_id":"42","occurred_at":false}`},
	{"42", `{"id":"e1","type":"t","order_id":"42","occurred_at":null}`},
	{"42", `{"id":"e1","type":"t","order_id":"42","menu_id":true}`},
	{"42", `{"id":"e1","type":-1e5,"order_id":"42"}`},
	{"42", `{"id":["x` + strings.Repeat("é", 30) + `"],"type":"t","order_id":"42"}`},
	// Duplicate keys.
	{"42", `{"id":"a","id":"b","type":"t","order_id":"42"}`},
	{"42", `{"id":"a","type":"t","order_id":"41","order_id":"42"}`},
	{"42", `{"id":null,"id":"b","type":"t","order_id":"42"}`},
	{"42", `{"id":"e1","type":"t","order_id":"42","data":{"a":1},"data":null}`},
	{"42", `{"id":"e1","type":"t","order_id":"42","data":null,"data":[2]}`},
	{"42", `{"id":"e1","type":"t","order_id":"42","menu_id":"a","menu_id":"b"}`},
	{"42", `{"id":"e1","type":"t","order_id":"42","occurred_at":"a","occurred_at":1}`},
	{"42", `{"id":"e1","type":"t","order_id":"42","x":1,"x":2}`},
	// Whitespace variants.
	{"42", " \t\r\n{ \"id\" :\t\"e1\" ,\n\"type\"\r:\"t\" , \"order_id\" : \"42\" , \"data\" : { \"a\" : [ 1 , 2 ] } \n}\n\t "},
	{"42", "{\"id\":\"e1\",\"type\":\"t\",\"order_id\":\"42\",\"data\":\n1 }"},
	{"42", "\v{\"id\":\"e1\",\"type\":\"t\",\"order_id\":\"42\"}"},
	{"42", "{\"id\":\"e1\",\"type\":\"t\",\"order_id\":\"42\"}\u00a0"},
	{"42", "{ }"},
	{"42", "{}"},
	// Null fields.
	{"42", `{"id":null,"type":null,"order_id":null}`},
	{"42", `{"id":"e1","type":null,"order_id":"42"}`},
	{"42", `{"id":"e1","type":"t","order_id":null}`},
	{"42", `{"id":"e1","type":"t","order_id":"42","menu_id":null,"occurred_at":null,"data":null}`},
	// Empty and over-limit fields, key mismatch, partial events on errors.
	{"42", `{"id":"","type":"t","order_id":"42"}`},
	{"42", `{"id":"e1","type":"","order_id":"42"}`},
	{"42", `{"id":"e1","type":"t","order_id":""}`},
	{"42", `{"id":"e1","type":"t","order_id":"42","menu_id":""}`},
	{"42", `{"id":"` + strings.Repeat("a", 129) + `","type":"t","order_id":"42"}`},
	{"42", `{"id":"` + strings.Repeat("a", 128) + `","type":"` + strings.Repeat("T", 500) + `","order_id":"42"}`},
	{"42", `{"id":"e1","type":"t","order_id":"42","menu_id":"` + strings.Repeat("m", 129) + `"}`},
	{strings.Repeat("k", 200), `{"id":"e1","type":"t","order_id":"` + strings.Repeat("k", 200) + `"}`},
	{"42", `{"id":"e1","type":"t","order_id":"` + strings.Repeat("o", 128) + `","menu_id":"m"}`},
	{"42 ", `{"id":"e1","type":"t","order_id":"42","menu_id":"m","occurred_at":"x","data":{}}`},
	{"order-A", `{"id":"e1","type":"t","order_id":"order-a"}`},
	// Not objects, trailing garbage, truncated.
	{"42", `null`},
	{"42", `"{}"`},
	{"42", `42`},
	{"42", `{"id":"e1","type":"t","order_id":"42"} x`},
	{"42", `{"id":"e1","type":"t","order_id":"42"}{}`},
	{"42", `{"id":"e1","type":"t","order_id":"42"},`},
	{"42", `{"id":"e1","type":"t","order_id":"4`},
	{"42", `{"id":"e1","type":"t","order_id":"42","data":{"a":[1,2}}`},
	{"42", `{"id":"e1","type":"t","order_id":"42",}`},
	{"42", `{"id":"e1","type":"t","order_id":"42","data":01}`},
	{"42", `{"id":"e1","type":"t","order_id":"42","data":tru}`},
	{"42", "{\"id\":\"e\x01\",\"type\":\"t\",\"order_id\":\"42\"}"},
	{"42", "\x00\x01\xff\xfe"},
	{"42", " \n\t "},
}

// checkFastEqualsSlow fails unless DecodeEvent and decodeEventSlow give the
// same Event and the same error for key and value.
func checkFastEqualsSlow(t *testing.T, key, value []byte) {
	t.Helper()
	checkDecodedSame(t, "DecodeEvent", DecodeEvent, key, value)
	checkDecodedSame(t, "DecodeEventView", DecodeEventView, key, value)
}

// checkDecodedSame fails unless decode gives what decodeEventSlow gives.
func checkDecodedSame(t *testing.T, name string, decode func(key, value []byte) (Event, error), key, value []byte) {
	t.Helper()
	got, gotErr := decode(key, value)
	want, wantErr := decodeEventSlow(key, value)
	if !reflect.DeepEqual(got, want) || string(got.Data) != string(want.Data) || (got.Data == nil) != (want.Data == nil) {
		t.Fatalf("%s(%q, %q) event\n%#v\nwant (decodeEventSlow)\n%#v", name, key, value, got, want)
	}
	if (gotErr == nil) != (wantErr == nil) {
		t.Fatalf("%s(%q, %q) error %v, want (decodeEventSlow) %v", name, key, value, gotErr, wantErr)
	}
	if gotErr == nil {
		return
	}
	var g, w *MalformedError
	if !errors.As(gotErr, &g) || !errors.As(wantErr, &w) {
		t.Fatalf("%s(%q, %q) errors %T %v and %T %v; want *MalformedError", name, key, value, gotErr, gotErr, wantErr, wantErr)
	}
	if g.Kind != w.Kind || g.Reason != w.Reason {
		t.Fatalf("%s(%q, %q) error %s %q, want (decodeEventSlow) %s %q", name, key, value, g.Kind, g.Reason, w.Kind, w.Reason)
	}
}

func FuzzDecodeEventFastEqualsSlow(f *testing.F) {
	for _, s := range fastSeeds {
		f.Add([]byte(s.key), []byte(s.value))
	}
	f.Fuzz(func(t *testing.T, key, value []byte) {
		checkFastEqualsSlow(t, key, value)
		if len(value) > 0 {
			// Data must be a copy, as the slow path's is: the caller may
			// reuse the value's buffer.
			ev, err := DecodeEvent(key, value)
			if err == nil && len(ev.Data) > 0 {
				before := string(ev.Data)
				v := append([]byte(nil), value...)
				ev, _ = DecodeEvent(key, v)
				for i := range v {
					v[i] = 'X'
				}
				if string(ev.Data) != before {
					t.Fatalf("Data aliases the value: %q", ev.Data)
				}
			}
		}
	})
}

// TestDecodeEventFastEqualsSlowCases runs the inputs of event_test.go, the
// committed FuzzDecodeEvent corpus and fastSeeds through both paths.
func TestDecodeEventFastEqualsSlowCases(t *testing.T) {
	type kv struct{ key, value string }
	var inputs []kv
	for _, s := range fastSeeds {
		inputs = append(inputs, kv{s.key, s.value})
	}

	// Every case of event_test.go, with its key and value.
	long := strings.Repeat("a", 129)
	longUTF8 := bytesOf('é', 129)
	longEmoji := bytesOf('🍰', 129)
	ok := `"id":"e1","type":"CustomerConfirmedMenu"`
	body := `{"id":"e1","type":"t","order_id":"42"}`
	inputs = append(inputs,
		kv{"42", `hello, kafka`}, kv{"42", "\x00\x01\xff\xfe"}, kv{"42", `[{"id":"e1","type":"t","order_id":"42"}]`},
		kv{"42", `"{\"id\":\"e1\"}"`}, kv{"42", `42`}, kv{"42", `true`}, kv{"42", `null`}, kv{"42", ``}, kv{"42", " \n\t "},
		kv{"42", `{`}, kv{"42", `{"id":"e1","type":"t","order_id":"4`}, kv{"42", body + ` x`}, kv{"42", body + `{}`},
		kv{"42", `{"type":"t","order_id":"42"}`}, kv{"42", `{"id":"e1","order_id":"42"}`}, kv{"42", `{"id":"e1","type":"t"}`}, kv{"42", `{}`},
		kv{"42", `{"ID":"e1","type":"t","order_id":"42"}`}, kv{"42", `{"id":"e1","Type":"t","order_id":"42"}`},
		kv{"42", `{"id":"e1","type":"t","orderId":"42"}`}, kv{"42", `{"id":"e1","type":"t","ORDER_ID":"42"}`},
		kv{"42", `{"id":"","type":"t","order_id":"42"}`}, kv{"42", `{"id":"e1","type":"","order_id":"42"}`}, kv{"42", `{"id":"e1","type":"t","order_id":""}`},
		kv{"42", `{"id":null,"type":"t","order_id":"42"}`}, kv{"42", `{"id":"e1","type":null,"order_id":"42"}`}, kv{"42", `{"id":"e1","type":"t","order_id":null}`},
		kv{"42", `{"id":7,"type":"t","order_id":"42"}`}, kv{"42", `{"id":{"v":"e1"},"type":"t","order_id":"42"}`},
		kv{"42", `{"id":["e1"],"type":"t","order_id":"42"}`}, kv{"42", `{"id":true,"type":"t","order_id":"42"}`},
		kv{"42", `{"id":"e1","type":1,"order_id":"42"}`}, kv{"42", `{"id":"e1","type":{},"order_id":"42"}`},
		kv{"42", `{"id":"e1","type":"t","order_id":42}`}, kv{"42", `{"id":"e1","type":"t","order_id":{"id":"42"}}`},
		kv{"42", `{` + ok + `,"order_id":"42","menu_id":3}`},
		kv{"42", `{"id":"` + long + `","type":"t","order_id":"42"}`}, kv{"42", `{"id":"` + longUTF8 + `","type":"t","order_id":"42"}`},
		kv{long, `{` + ok + `,"order_id":"` + long + `"}`}, kv{longEmoji, `{` + ok + `,"order_id":"` + longEmoji + `"}`},
		kv{"42", `{` + ok + `,"order_id":"42","menu_id":"` + long + `"}`}, kv{"42", `{` + ok + `,"order_id":"42","menu_id":"` + longUTF8 + `"}`},
		kv{"42", `{"id":"` + strings.Repeat(`\u00e9`, 64) + `x","type":"t","order_id":"42"}`},
		kv{"", body}, kv{"", `{"id":"e1","type":"t","order_id":""}`}, kv{"42", `{"id":"e1","type":"t","order_id":"43"}`},
		kv{"order-A", `{"id":"e1","type":"t","order_id":"order-a"}`}, kv{"42 ", body}, kv{"café", `{"id":"e1","type":"t","order_id":"cafe"}`},
		kv{"42", `{"id":"e1","type":"` + strings.Repeat("T", 129) + `","order_id":"42"}`},
		kv{"42", `{"id":"0b6c5f5e-6b1e-4c55-9a52-8f1f3c1e2b7a","type":"CustomerConfirmedMenu","order_id":"42","menu_id":"menu-a","occurred_at":"2026-11-25T10:00:00Z","data":{}}`},
		kv{"42", `{"id":"e1","type":"CatererConfirmedMenu","order_id":"42"}`},
		kv{"42", `{"id":"e1","type":"t","order_id":"42","schema":9,"source":{"x":[1,2]},"ID":"other","Order_ID":"nope","tags":null}`},
		kv{"42", `{"id":"e1","type":"t","order_id":"42","menu_id":""}`}, kv{"42", `{"id":"e1","type":"t","order_id":"42","menu_id":null}`},
		kv{"42", `{"id":"e1","type":"t","order_id":"42","data":{"note":"vegan <3","n":1.50,"nested":{"a":[true,null]}}}`},
		kv{"42", `{"id":"e1","type":"t","order_id":"42","data":null}`},
		kv{"42", `{"id":"e1","type":"t","order_id":"42","occurred_at":"2026-11-25T10:00:00.123456789+01:00"}`},
		kv{"42", " \t\r\n" + body + "\n"}, kv{"42", "{ \"id\" : \"e1\" ,\n \"type\" : \"t\" , \"order_id\" :\t\"42\" }"},
		kv{"café/42", `{"id":"e\u00e9","type":"t","order_id":"caf\u00e9\/42"}`}, kv{"42", `{"id":"e1","type":"InvoiceSent","order_id":"42"}`},
		kv{"42", `{"id":"e1","type":"t","order_id":"42","occurred_at":"2026-11-25T10:00:00.5Z"}`},
		kv{"42", `{"id":"e1","type":"t","order_id":"42","occurred_at":"yesterday"}`},
		kv{"42", `{"id":"e1","type":"t","order_id":"42","occurred_at":12345}`},
		kv{"42", `{"id":["x` + strings.Repeat("é", 30) + `"],"type":"t","order_id":"42"}`},
	)
	for _, n := range []int{1, 127, 128} {
		for _, r := range []rune{'a', 'é', '€', '🍰'} {
			s := bytesOf(r, n)
			inputs = append(inputs, kv{s, `{"id":"` + s + `","type":"t","order_id":"` + s + `","menu_id":"` + s + `"}`})
		}
	}
	for _, ws := range []string{"\v", "\f", "\u0085", "\u00a0", "\u2028"} {
		inputs = append(inputs, kv{"42", ws + body}, kv{"42", body + ws})
	}
	for _, e := range []Event{
		{ID: "e1", Type: "CustomerConfirmedMenu", OrderID: "42"},
		{ID: "e2", Type: "CatererConfirmedMenu", OrderID: "42", MenuID: "menu-a", OccurredAt: "2026-11-25T10:00:00Z", Data: []byte(`{"a":[1,2,{"b":null}]}`)},
		{ID: bytesOf('é', 128), Type: "CatererDeclinedMenu", OrderID: bytesOf('🍰', 128), MenuID: strings.Repeat("m", 128)},
		{ID: `quote " backslash \ <html> & ` + "\u2028", Type: "t\n", OrderID: "o\x00rder", MenuID: "\t"},
	} {
		b, err := EncodeEvent(e)
		if err != nil {
			t.Fatal(err)
		}
		inputs = append(inputs, kv{e.OrderID, string(b)})
	}

	// The committed FuzzDecodeEvent corpus.
	files, err := filepath.Glob(filepath.Join("testdata", "fuzz", "FuzzDecodeEvent", "*"))
	if err != nil {
		t.Fatal(err)
	}
	for _, file := range files {
		k, v := readCorpusFile(t, file)
		inputs = append(inputs, kv{string(k), string(v)})
	}

	for _, in := range inputs {
		checkFastEqualsSlow(t, []byte(in.key), []byte(in.value))
		if in.key == "" {
			checkFastEqualsSlow(t, nil, []byte(in.value))
		}
	}
}

// TestDecodeEventFastPathTaken: the common case does not fall back, so the
// fast path is what the benchmark measures.
func TestDecodeEventFastPathTaken(t *testing.T) {
	for _, v := range []string{
		`{"id":"0b6c5f5e-6b1e-4c55-9a52-8f1f3c1e2b7a","type":"CatererConfirmedMenu","order_id":"42","menu_id":"menu-vegetarian-3","occurred_at":"2026-11-25T10:00:00.123456789Z"}`,
		`{"id":"e1","type":"t","order_id":"42","menu_id":null,"data":{"note":"é \"x\"","n":[1,2.5e3]}}`,
		`{"id":"e1","type":"t","order_id":"43"}`,
		`{"id":"","type":"t","order_id":"42"}`,
		`{"type":"t","order_id":"42"}`,
	} {
		if _, _, ok := decodeEventFast([]byte("42"), []byte(v), false); !ok {
			t.Errorf("%s falls back to the slow path", v)
		}
	}
	for _, v := range []string{
		`{"id":"e1","id":"e2","type":"t","order_id":"42"}`,
		`{"id":"\u0065","type":"t","order_id":"42"}`,
		`{"id":"é","type":"t","order_id":"42"}`,
		`{"id":7,"type":"t","order_id":"42"}`,
		`{"id":"e1","type":"t","order_id":"42"`,
	} {
		if _, _, ok := decodeEventFast([]byte("42"), []byte(v), false); ok {
			t.Errorf("%s does not fall back to the slow path", v)
		}
	}
}

func TestDecodeEventFastAllocs(t *testing.T) {
	key := []byte("order-00012345")
	value := []byte(`{"id":"0b6c5f5e-6b1e-4c55-9a52-8f1f3c1e2b7a","type":"CatererConfirmedMenu","order_id":"order-00012345","menu_id":"menu-vegetarian-3","occurred_at":"2026-11-25T10:00:00.123456789Z"}`)
	if n := testing.AllocsPerRun(100, func() {
		if _, err := DecodeEvent(key, value); err != nil {
			t.Fatal(err)
		}
	}); n > 1 {
		t.Errorf("DecodeEvent makes %v allocations, want at most 1", n)
	}
	if n := testing.AllocsPerRun(100, func() {
		if _, err := DecodeEventView(key, value); err != nil {
			t.Fatal(err)
		}
	}); n > 0 {
		t.Errorf("DecodeEventView makes %v allocations, want none", n)
	}
}

// TestDecodeEventFastEqualsSlowGenerated compares both paths on objects built
// from pieces at the fast path's edges: keys of interest (plain, escaped,
// repeated), values of every kind, and JSON white space between tokens.
func TestDecodeEventFastEqualsSlowGenerated(t *testing.T) {
	keys := []string{`"id"`, `"type"`, `"order_id"`, `"menu_id"`, `"occurred_at"`, `"data"`, `"\u0069d"`, `"ID"`, `"x"`, `"id "`, `"data\""`}
	values := []string{`"42"`, `"e1"`, `""`, `"t"`, `null`, `7`, `-1.5e+3`, `true`, `false`, `{}`, `[]`, `{"a":[1,"}",{"b":null}]}`,
		`"\u0034\u0032"`, `"4\"2"`, `"é"`, `"\/"`, `"2026-11-25T10:00:00Z"`, `"` + strings.Repeat("a", 129) + `"`, `[" ]"]`}
	spaces := []string{"", "", "", " ", "\n", "\t ", "\r\n"}
	r := rand.New(rand.NewPCG(1, 2))
	pick := func(s []string) string { return s[r.IntN(len(s))] }
	for range 20000 {
		var b strings.Builder
		b.WriteString(pick(spaces) + "{")
		for j, n := 0, r.IntN(7); j < n; j++ {
			if j > 0 {
				b.WriteString(pick(spaces) + ",")
			}
			b.WriteString(pick(spaces) + pick(keys) + pick(spaces) + ":" + pick(spaces) + pick(values))
		}
		b.WriteString(pick(spaces) + "}" + pick(spaces))
		key := pick([]string{"42", "42", "e1", "t", "", "4\"2"})
		checkFastEqualsSlow(t, []byte(key), []byte(b.String()))
	}
}

// TestDecodeEventInternsKnownTypes: both paths return the process's own
// types as the package constants, so that histories share them.
func TestDecodeEventInternsKnownTypes(t *testing.T) {
	for _, v := range []string{
		`{"id":"e1","type":"CatererDeclinedMenu","order_id":"42"}`,           // fast path
		`{"id":"e1","type":"CatererDeclinedMenu","order_id":"42","id":"e2"}`, // duplicate key: the reference
	} {
		ev, err := DecodeEvent([]byte("42"), []byte(v))
		if err != nil {
			t.Fatal(err)
		}
		if unsafe.StringData(ev.Type) != unsafe.StringData(state.CatererDeclinedMenu) {
			t.Errorf("%s: type %q is a copy, not the constant", v, ev.Type)
		}
	}
}
