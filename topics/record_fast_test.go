package topics

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"pgregory.net/rapid"

	"github.com/catering-match/catering-match/state"
)

// encodeProcessRef is the reference encoder EncodeProcess must match byte
// for byte: json.Marshal of the wire struct.
func encodeProcessRef(orderID string, history []state.Entry) []byte {
	w := wireRecord{Schema: RecordSchema, OrderID: orderID, History: make([]wireEntry, len(history))}
	for i, e := range history {
		w.History[i] = wireEntry{ID: e.ID, Type: e.Type, MenuID: e.Ref, At: e.At.Time().Format(time.RFC3339Nano)}
	}
	b, err := json.Marshal(w)
	if err != nil {
		panic(err)
	}
	return b
}

// fataler is what checkDecodeSame needs of *testing.T and *rapid.T.
type fataler interface {
	Helper()
	Fatalf(format string, args ...any)
}

// checkDecodeSame fails unless DecodeProcess and decodeProcessSlow give the
// same results for (key, value): order id, history, the same error
// message, and the same slice capacity.
func checkDecodeSame(t fataler, key, value []byte) {
	t.Helper()
	checkViewSame(t, key, value)
	id1, h1, err1 := DecodeProcess(key, value)
	id2, h2, err2 := decodeProcessSlow(key, value)
	if (err1 == nil) != (err2 == nil) || (err1 != nil && err1.Error() != err2.Error()) {
		t.Fatalf("key %q value %q: errors differ:\nfast: %v\nslow: %v", key, value, err1, err2)
	}
	if id1 != id2 {
		t.Fatalf("key %q value %q: order id %q, slow %q", key, value, id1, id2)
	}
	if (h1 == nil) != (h2 == nil) || len(h1) != len(h2) || cap(h1) != cap(h2) {
		t.Fatalf("key %q value %q: history len %d cap %d nil %v, slow len %d cap %d nil %v",
			key, value, len(h1), cap(h1), h1 == nil, len(h2), cap(h2), h2 == nil)
	}
	for i := range h1 {
		a, b := h1[i], h2[i]
		if a.ID != b.ID || a.Type != b.Type || a.Ref != b.Ref {
			t.Fatalf("key %q value %q: history[%d] = %+v, slow %+v", key, value, i, a, b)
		}
		if a.At != b.At {
			t.Fatalf("key %q value %q: history[%d].At = %v, slow %v", key, value, i, a.At, b.At)
		}
	}
}

// checkViewSame fails unless DecodeProcessView gives what DecodeProcess
// gives, appended after what dst held, and unless its strings stay views
// of value (a change to value shows in them) when it takes its fast path.
func checkViewSame(t fataler, key, value []byte) {
	t.Helper()
	id1, h1, err1 := DecodeProcess(key, value)
	value = slices.Clone(value)
	prefix := []state.Entry{{ID: "kept"}}
	id2, h2, err2 := DecodeProcessView(key, value, prefix)
	if (err1 == nil) != (err2 == nil) || (err1 != nil && err1.Error() != err2.Error()) {
		t.Fatalf("key %q value %q: errors differ:\nview: %v\ncopy: %v", key, value, err2, err1)
	}
	if len(h2) == 0 || h2[0] != prefix[0] {
		t.Fatalf("key %q value %q: view lost what dst held: %+v", key, value, h2)
	}
	if err1 != nil {
		if len(h2) != 1 {
			t.Fatalf("key %q value %q: view appended %d entries on an error", key, value, len(h2)-1)
		}
		return
	}
	if id1 != id2 || !slices.Equal(h1, h2[1:]) {
		t.Fatalf("key %q value %q: view %q %+v, copy %q %+v", key, value, id2, h2[1:], id1, h1)
	}
	if _, _, fast := decodeProcessFast(key, value); fast && len(id2) > 0 {
		i := bytes.Index(value, []byte(`"order_id":"`)) + len(`"order_id":"`)
		value[i] ^= 0x20
		if id2[0] != value[i] {
			t.Fatalf("key %q value %q: the order id %q is not a view of the value", key, value, id2)
		}
	}
}

func FuzzProcessFastEqualsSlow(f *testing.F) {
	h := []state.Entry{
		{ID: "0b6c5f5e-6b1e-4c55-9a52-8f1f3c1e2b7a", Type: "CustomerConfirmedMenu", Ref: "menu-a", At: state.StampOf(time.Date(2026, 11, 25, 10, 0, 0, 123456789, time.UTC))},
		{ID: "e2", Type: "CatererConfirmedMenu", Ref: "", At: state.StampOf(time.Date(2026, 11, 25, 10, 0, 1, 0, time.UTC))},
		{ID: state.CommandID("42"), Type: "ConfirmOrderIssued", Ref: "menu-a", At: state.StampOf(time.Date(2024, 2, 29, 23, 59, 59, 100, time.UTC))},
		{ID: "x", Type: "SomethingElse", Ref: "café", At: state.StampOf(time.Unix(0, math.MinInt64))},
	}
	for i := 1; i <= len(h); i++ {
		f.Add([]byte("42"), EncodeProcess("42", h[:i]))
	}
	f.Add([]byte("café-🍰"), EncodeProcess("café-🍰", h))
	f.Add([]byte(`q"<&>`), EncodeProcess(`q"<&>`, h))
	f.Add([]byte("42"), []byte(`{"schema":1,"order_id":"42","history":[{"id":"e1","type":"t","menu_id":"m","at":"2026-11-25T10:00:00.5Z"}]} `))
	f.Add([]byte("42"), []byte(`{"schema":1,"order_id":"42","history":[{"id":"e1","type":"t","menu_id":"m","at":"2026-02-29T10:00:00Z"}]}`))
	f.Add([]byte("42"), []byte(`{"schema":1,"order_id":"42","history":[{"id":"e1","type":"t","menu_id":"m","at":"0000-01-01T00:00:00Z"}]}`))
	f.Add([]byte("42"), []byte(`{"schema":1,"order_id":"42","history":[{"id":"e1","type":"t","menu_id":"m","at":"1677-09-21T00:12:43.145224191Z"}]}`))
	f.Add([]byte("42"), []byte(`{"schema":1,"order_id":"42","history":[{"id":"e1","type":"t","menu_id":"m","at":"2262-04-11T23:47:16.854775807Z"}]}`))
	f.Add([]byte("42"), []byte(`{"schema":1,"order_id":"42","history":[{"id":"e1","type":"t","menu_id":"m","at":"2262-04-11T23:47:16.854775808Z"}]}`))
	f.Add([]byte("42"), []byte(`{"schema":1,"order_id":"42","history":[{"id":"e1","type":"t","menu_id":"m","at":"2026-11-25T10:00:00.1234567891Z"}]}`))
	f.Add([]byte("42"), []byte(`{"schema":1,"order_id":"42","history":[{"id":"e1","type":"t","menu_id":"m","at":"2026-11-25t10:00:00z"}]}`))
	f.Add([]byte("42"), []byte(`{"schema":1,"order_id":"42","history":[{"id":"e1","type":"t","menu_id":"m","at":"2026-11-25T24:00:00Z"}]}`))
	f.Add([]byte("42"), []byte(`{"schema":1,"order_id":"42","history":[{"id":"","type":"t","menu_id":"m","at":"2026-11-25T10:00:00Z"}]}`))
	f.Add([]byte("42"), []byte(`{"schema":1,"order_id":"42","history":[{"id":"e\u0031","type":"t","menu_id":"\xff","at":"2026-11-25T10:00:00Z"}]}`))
	f.Add([]byte("42"), []byte(`{"schema":1,"order_id":"42","history":[{"id":"e1","type":"t","menu_id":"m","at":"2026-11-25T10:00:00Z","id":"e2"}]}`))
	f.Add([]byte("42"), []byte(`{"schema":1,"order_id":"42","history":[{"id":"e1","type":"t","menu_id":"m","at":"2026-11-25T11:00:00+01:00"}]}`))
	f.Add([]byte("42"), []byte(`{"schema":1,"order_id":"42","history":[]}`))
	f.Add([]byte("42"), []byte(`{"schema":2,"order_id":"42","history":[{"id":"e1","type":"t","menu_id":"m","at":"2026-11-25T10:00:00Z"}]}`))
	f.Add([]byte("42"), []byte(nil))

	f.Fuzz(func(t *testing.T, key, value []byte) {
		checkDecodeSame(t, key, value)
	})
}

// FuzzEncodeProcess checks EncodeProcess against json.Marshal for arbitrary
// strings and times, and the two decoders against each other on the result.
func FuzzEncodeProcess(f *testing.F) {
	f.Add("42", "e1", "CustomerConfirmedMenu", "menu-a", int64(1764064800), int64(123456789))
	f.Add("café", "\u2028<&>", "t\"\\", "\xff\xed\xa0\x80", int64(-9223372037), int64(145224192)) // the earliest Stamp
	f.Add("\x00\x1f\x7f", "\b\f\n\r\t", "🍰", "", int64(9223372036), int64(854775807))             // the latest
	f.Add("", "", "", "", int64(-1), int64(999999999))
	f.Add("o", "i", "t", "m", int64(0), int64(5e8))
	f.Fuzz(func(t *testing.T, orderID, id, typ, menu string, sec, nsec int64) {
		at := time.Unix(sec, nsec)
		if !state.InStampRange(at) {
			t.Skip("not an entry's time")
		}
		h := []state.Entry{
			{ID: id, Type: typ, Ref: menu, At: state.StampOf(at)},
			{ID: menu, Type: id, Ref: typ, At: state.StampOf(time.Unix(sec/7, nsec/3))},
		}
		got, want := EncodeProcess(orderID, h), encodeProcessRef(orderID, h)
		if string(got) != string(want) {
			t.Fatalf("EncodeProcess =\n%q\njson.Marshal =\n%q", got, want)
		}
		checkDecodeSame(t, []byte(orderID), got)
	})
}

// fragments are the pieces random strings are made of: plain ASCII, every
// character json.Marshal escapes, multi-byte UTF-8, and invalid UTF-8.
var fragments = []string{
	"a", "Z", "0", "-", " ", "/", "~", "e1", "menu-a", "CustomerConfirmedMenu",
	`"`, `\`, "<", ">", "&", "\x00", "\x01", "\x1f", "\x7f", "\n", "\r", "\t", "\b", "\f",
	"é", "€", "🍰", "\u2028", "\u2029", "\ufffd", "\ufeff",
	"\xff", "\xc3", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xe2\x80", "\x80",
}

func drawString(rt *rapid.T, label string) string {
	switch rapid.IntRange(0, 3).Draw(rt, label+"Kind") {
	case 0:
		return rapid.StringMatching(`[A-Za-z0-9._:-]{0,40}`).Draw(rt, label)
	case 1:
		return string(rapid.SliceOfN(rapid.Byte(), 0, 20).Draw(rt, label))
	case 2:
		return rapid.String().Draw(rt, label)
	}
	parts := rapid.SliceOfN(rapid.SampledFrom(fragments), 0, 8).Draw(rt, label)
	return strings.Join(parts, "")
}

// drawStamp draws an entry's time: around now, anywhere in Stamp's range,
// or at its edges and the edges of the fast path's years (1678-2261).
func drawStamp(rt *rapid.T, label string) state.Stamp {
	switch rapid.IntRange(0, 3).Draw(rt, label+"Range") {
	case 0: // around now, to the millisecond or the nanosecond
		ns := rapid.Int64Range(1.7e18, 1.9e18).Draw(rt, label+"Ns")
		if rapid.Bool().Draw(rt, label+"Ms") {
			ns -= ns % 1e6
		}
		return state.Stamp(ns)
	case 1: // anywhere
		return state.Stamp(rapid.Int64().Draw(rt, label+"Ns"))
	case 2: // the edges of the range
		return state.Stamp(rapid.SampledFrom([]int64{math.MinInt64, math.MinInt64 + 1, -1, 0, 1,
			math.MaxInt64 - 1, math.MaxInt64}).Draw(rt, label+"Ns"))
	}
	// the edges of the fast path's years
	edges := []time.Time{time.Date(1678, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2262, 1, 1, 0, 0, 0, 0, time.UTC)}
	e := rapid.SampledFrom(edges).Draw(rt, label+"Edge")
	return state.StampOf(e.Add(time.Duration(rapid.Int64Range(-1e9, 1e9).Draw(rt, label+"Off"))))
}

func TestEncodeProcessEqualsMarshal(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		orderID := drawString(rt, "orderID")
		n := rapid.IntRange(0, 12).Draw(rt, "n") // past 8: the decoder's second walk
		h := make([]state.Entry, n)
		for i := range h {
			h[i] = state.Entry{
				ID:   drawString(rt, fmt.Sprintf("id%d", i)),
				Type: rapid.OneOf(rapid.SampledFrom([]string{state.CustomerConfirmedMenu, state.CatererConfirmedMenu, state.CatererDeclinedMenu, state.ConfirmOrderIssued, state.MatchExpired}), rapid.Custom(func(rt *rapid.T) string { return drawString(rt, "type") })).Draw(rt, fmt.Sprintf("type%d", i)),
				Ref:  drawString(rt, fmt.Sprintf("menu%d", i)),
				At:   drawStamp(rt, fmt.Sprintf("at%d", i)),
			}
		}
		got, want := EncodeProcess(orderID, h), encodeProcessRef(orderID, h)
		if string(got) != string(want) {
			rt.Fatalf("EncodeProcess =\n%q\njson.Marshal =\n%q", got, want)
		}
		if app := AppendProcess([]byte("prefix"), orderID, h); string(app) != "prefix"+string(got) {
			rt.Fatalf("AppendProcess = %q, want the prefix and %q", app, got)
		}
		checkDecodeSame(rt, []byte(orderID), got)
		// A key that differs from the order id is rejected the same way.
		checkDecodeSame(rt, []byte(orderID+"x"), got)
	})
}

// TestDecodeProcessFastPathTaken: the records the service writes (plain ids
// and menus, times in years 1678-2261) are read by the fast path, not by
// json.Unmarshal.
func TestDecodeProcessFastPathTaken(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		orderID := rapid.StringMatching(`[A-Za-z0-9._:-]{1,40}`).Draw(rt, "orderID")
		h := make([]state.Entry, rapid.IntRange(1, 20).Draw(rt, "n"))
		for i := range h {
			h[i] = state.Entry{
				ID:   rapid.StringMatching(`[a-f0-9-]{1,36}`).Draw(rt, "id"),
				Type: rapid.StringMatching(`[A-Za-z]{1,30}`).Draw(rt, "type"),
				Ref:  rapid.StringMatching(`[a-z0-9-]{0,20}|[a-zé€🍰]{0,5}`).Draw(rt, "menu"),
				At:   state.Stamp(rapid.Int64Range(fastFirst, fastLast).Draw(rt, "ns")),
			}
		}
		v := EncodeProcess(orderID, h)
		if _, _, ok := decodeProcessFast([]byte(orderID), v); !ok {
			rt.Fatalf("fast path refused %s", v)
		}
		checkDecodeSame(rt, []byte(orderID), v)
	})
}

// The first and last nanosecond of the fast path's years, 1678-2261.
var (
	fastFirst = time.Date(1678, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	fastLast  = time.Date(2262, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano() - 1
)

// TestAppendStamp compares appendStamp with time.Format on the ends of
// the Stamp range, on every day of some years, and on random Stamps.
func TestAppendStamp(t *testing.T) {
	check := func(s state.Stamp) {
		t.Helper()
		if got, want := string(appendStamp([]byte("x"), s)), "x"+s.Time().Format(time.RFC3339Nano); got != want {
			t.Fatalf("appendStamp(%d) = %q, want %q", int64(s), got, want)
		}
	}
	for _, s := range []int64{math.MinInt64, math.MinInt64 + 1, -1e9 - 1, -1e9, -1, 0, 1, 999999999, 1e9, 1e9 + 10, math.MaxInt64} {
		check(state.Stamp(s))
	}
	for _, y := range []int{1678, 1900, 1969, 1970, 2000, 2024, 2100, 2261} {
		for d := time.Date(y, 1, 1, 0, 0, 0, 0, time.UTC); d.Year() == y; d = d.AddDate(0, 0, 1) {
			check(state.StampOf(d))
			check(state.StampOf(d.Add(86399*time.Second + 999999999)))
			check(state.StampOf(d.Add(time.Millisecond * 10)))
		}
	}
	rapid.Check(t, func(rt *rapid.T) {
		s := state.Stamp(rapid.Int64().Draw(rt, "ns"))
		if got, want := string(appendStamp(nil, s)), s.Time().Format(time.RFC3339Nano); got != want {
			rt.Fatalf("appendStamp(%d) = %q, want %q", int64(s), got, want)
		}
	})
}

// TestParseAtFast compares the fixed-layout time parser with time.Parse on
// every day of some years and on malformed times, and checks that it takes
// every time of the years 1678-2261 and none outside.
func TestParseAtFast(t *testing.T) {
	check := func(s string) {
		t.Helper()
		got, ok := parseAtFast([]byte(s))
		want, err := time.Parse(time.RFC3339Nano, s)
		if !ok {
			return // falls back to time.Parse
		}
		if err != nil || got != state.StampOf(want) {
			t.Fatalf("parseAtFast(%q) = %v; time.Parse = %v, %v", s, got, want, err)
		}
	}
	for _, y := range []int{1, 1677, 1678, 1900, 2000, 2023, 2024, 2100, 2261, 2262, 9999} {
		for d := time.Date(y, 1, 1, 0, 0, 0, 0, time.UTC); d.Year() == y; d = d.AddDate(0, 0, 1) {
			check(d.Format(time.RFC3339Nano))
			check(d.Add(86399*time.Second + 999999999).Format(time.RFC3339Nano))
			check(d.Add(time.Millisecond * 10).Format(time.RFC3339Nano))
			if _, ok := parseAtFast([]byte(d.Format(time.RFC3339Nano))); ok != (y >= 1678 && y <= 2261) {
				t.Fatalf("parseAtFast(%s): ok = %v", d.Format(time.RFC3339Nano), ok)
			}
		}
	}
	for _, s := range []string{
		"2026-02-29T00:00:00Z", "2024-02-29T00:00:00Z", "2100-02-29T00:00:00Z", "2000-02-29T00:00:00Z",
		"2026-04-31T00:00:00Z", "2026-00-01T00:00:00Z", "2026-13-01T00:00:00Z", "2026-01-00T00:00:00Z",
		"2026-01-01T24:00:00Z", "2026-01-01T00:60:00Z", "2026-01-01T00:00:60Z", "0000-01-01T00:00:00Z",
		"2026-01-01T00:00:00.Z", "2026-01-01T00:00:00.1234567891Z", "2026-01-01T00:00:00,5Z",
		"2026-01-01T00:00:00.+5Z", "+026-01-01T00:00:00Z", "2026-01-01T00:00:00.-5Z", "2026-1-01T00:00:00Z",
		"2026-01-01 00:00:00Z", "2026-01-01T00:00:00z", "2026-01-01T00:00:00+00:00", "2026-01-01T00:00:00.000000000Z",
	} {
		check(s)
	}
}

// The reference implementations, for comparison with BenchmarkEncodeProcess
// and BenchmarkDecodeProcess in the same run.

func BenchmarkEncodeProcessJSONMarshal(b *testing.B) {
	h := benchHistory()
	b.ReportAllocs()
	for b.Loop() {
		if v := encodeProcessRef("order-00012345", h); len(v) == 0 {
			b.Fatal("empty record")
		}
	}
}

func BenchmarkDecodeProcessSlow(b *testing.B) {
	key := []byte("order-00012345")
	value := EncodeProcess(string(key), benchHistory())
	b.SetBytes(int64(len(value)))
	b.ReportAllocs()
	for b.Loop() {
		if _, h, err := decodeProcessSlow(key, value); err != nil || len(h) != 2 {
			b.Fatal(err)
		}
	}
}

// TestPlainJSONString compares the word-at-a-time check with a byte loop.
func TestPlainJSONString(t *testing.T) {
	naive := func(b []byte) bool {
		for _, c := range b {
			if c < 0x20 || c == '\\' {
				return false
			}
		}
		return utf8.Valid(b)
	}
	rapid.Check(t, func(rt *rapid.T) {
		var b []byte
		if rapid.Bool().Draw(rt, "bytes") {
			b = rapid.SliceOfN(rapid.Byte(), 0, 40).Draw(rt, "b")
		} else {
			b = []byte(drawString(rt, "s"))
		}
		if got, want := plainJSONString(b), naive(b); got != want {
			rt.Fatalf("plainJSONString(%q) = %v, want %v", b, got, want)
		}
		checkPlainASCII(rt, string(b))
	})
	for c := range 256 {
		for pos := range 17 {
			b := []byte(strings.Repeat("a", 17))
			b[pos] = byte(c)
			if got, want := plainJSONString(b), naive(b); got != want {
				t.Fatalf("plainJSONString(%q) = %v, want %v", b, got, want)
			}
			checkPlainASCII(t, string(b))
		}
	}
}

// checkPlainASCII: plainASCII(s) holds exactly when s is ASCII and
// json.Marshal writes it unchanged between quotes.
func checkPlainASCII(t fataler, s string) {
	t.Helper()
	q, _ := json.Marshal(s)
	ascii := true
	for i := range len(s) {
		ascii = ascii && s[i] < utf8.RuneSelf
	}
	if want := ascii && string(q) == `"`+s+`"`; plainASCII(s) != want {
		t.Fatalf("plainASCII(%q) = %v, want %v", s, !want, want)
	}
}
