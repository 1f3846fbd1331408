package topics

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/catering-match/catering-match/state"
)

// Seed corpora also live in testdata/fuzz/FuzzDecodeEvent and
// testdata/fuzz/FuzzDecodeProcess (run by plain `go test`).

func FuzzDecodeEvent(f *testing.F) {
	f.Add([]byte("42"), []byte(`{"id":"0b6c5f5e-6b1e-4c55-9a52-8f1f3c1e2b7a","type":"CustomerConfirmedMenu","order_id":"42","menu_id":"menu-a","occurred_at":"2026-11-25T10:00:00Z","data":{}}`))
	f.Add([]byte("42"), []byte(`{"id":"e1","type":"CatererDeclinedMenu","order_id":"42","data":{"note":"<b>&amp;</b>","n":[1,2.50e3,null]}}`))
	f.Add([]byte("42"), []byte(` {"ID":"e1","id":"e2","type":"t","order_id":"42","menu_id":null,"occurred_at":5}`))
	f.Add([]byte("café"), []byte(`{"id":"\u00e9","type":"t","order_id":"caf\u00e9"}`))
	f.Add([]byte("42"), []byte(`{"id":"e1","type":"t","order_id":"43"}`))
	f.Add([]byte(""), []byte(`{"id":"e1","type":"t","order_id":""}`))
	f.Add([]byte("42"), []byte(`{"id":7,"type":{},"order_id":["42"]}`))
	f.Add([]byte("42"), []byte(`[1,2]`))
	f.Add([]byte("42"), []byte(`{`))
	f.Add([]byte("42"), []byte(nil))

	f.Fuzz(func(t *testing.T, key, value []byte) {
		ev, err := DecodeEvent(key, value)
		if err != nil {
			var me *MalformedError
			if !errors.As(err, &me) {
				t.Fatalf("error %v (%T) is not a *MalformedError", err, err)
			}
			if me.Reason == "" {
				t.Fatalf("MalformedError with an empty Reason")
			}
			return
		}
		checkEventInvariants(t, key, ev)

		b, err := EncodeEvent(ev)
		if err != nil {
			t.Fatalf("EncodeEvent(%+v): %v", ev, err)
		}
		ev2, err := DecodeEvent(key, b)
		if err != nil {
			t.Fatalf("DecodeEvent(EncodeEvent(ev)) = %v; ev %+v, wire %s", err, ev, b)
		}
		checkEventInvariants(t, key, ev2)
		if ev2.ID != ev.ID || ev2.Type != ev.Type || ev2.OrderID != ev.OrderID ||
			ev2.MenuID != ev.MenuID || ev2.OccurredAt != ev.OccurredAt || !jsonEqual(ev2.Data, ev.Data) {
			t.Fatalf("round trip changed the event:\n%+v\n%+v", ev, ev2)
		}
		// Encoding is a fixed point after one round (data is compacted once).
		b2, err := EncodeEvent(ev2)
		if err != nil || string(b2) != string(b) {
			t.Fatalf("second encoding differs (%v):\n%s\n%s", err, b, b2)
		}
	})
}

func checkEventInvariants(t *testing.T, key []byte, ev Event) {
	t.Helper()
	if ev.ID == "" || ev.Type == "" || ev.OrderID == "" {
		t.Fatalf("accepted event with an empty required field: %+v", ev)
	}
	if ev.OrderID != string(key) {
		t.Fatalf("accepted order_id %q for key %q", ev.OrderID, key)
	}
	for name, v := range map[string]string{"id": ev.ID, "order_id": ev.OrderID, "menu_id": ev.MenuID} {
		if len(v) > MaxFieldBytes {
			t.Fatalf("accepted %s of %d bytes", name, len(v))
		}
	}
	if ev.Data != nil && string(ev.Data) == "null" {
		t.Fatalf("data null carried as raw JSON")
	}
}

func FuzzDecodeProcess(f *testing.F) {
	h := []state.Entry{
		{ID: "e1", Type: "CustomerConfirmedMenu", Ref: "menu-a", At: state.StampOf(time.Date(2026, 11, 25, 10, 0, 0, 123456789, time.UTC))},
		{ID: "e2", Type: "CatererConfirmedMenu", Ref: "menu-a", At: state.StampOf(time.Date(2026, 11, 25, 10, 0, 1, 0, time.UTC))},
		{ID: state.CommandID("42"), Type: "ConfirmOrderIssued", Ref: "menu-a", At: state.StampOf(time.Date(2026, 11, 25, 10, 0, 1, 1, time.UTC))},
	}
	f.Add([]byte("42"), EncodeProcess("42", h))
	f.Add([]byte("42"), EncodeProcess("42", h[:1]))
	f.Add([]byte("42"), []byte(`{"schema":1,"order_id":"42","history":[{"id":"e1","type":"t","at":"2026-11-25T11:00:00.5+01:00"}]}`))
	f.Add([]byte("42"), []byte(`{"schema":2,"order_id":"42","history":[{"id":"e1","type":"t","at":"2026-11-25T10:00:00Z"}]}`))
	f.Add([]byte("42"), []byte(`{"schema":1,"order_id":"42","history":[]}`))
	f.Add([]byte("42"), []byte(`{"schema":1,"order_id":"42","history":[{"id":"","type":"t","at":"2026-11-25T10:00:00Z"}]}`))
	f.Add([]byte("42"), []byte(`{"schema":1,"order_id":"42","history":[{"id":"e1","type":"t","at":"yesterday"}]}`))
	f.Add([]byte("43"), []byte(`{"schema":1,"order_id":"42","history":[{"id":"e1","type":"t","at":"2026-11-25T10:00:00Z"}]}`))
	f.Add([]byte("42"), []byte(nil))

	f.Fuzz(func(t *testing.T, key, value []byte) {
		orderID, hist, err := DecodeProcess(key, value)
		if err != nil {
			if err.Error() == "" {
				t.Fatalf("empty error message")
			}
			if orderID != "" || hist != nil {
				t.Fatalf("error %v with results %q %+v", err, orderID, hist)
			}
			return
		}
		if orderID != string(key) {
			t.Fatalf("order id %q for key %q", orderID, key)
		}
		if len(hist) == 0 {
			t.Fatalf("accepted an empty history")
		}
		for i, e := range hist {
			if e.ID == "" || e.Type == "" {
				t.Fatalf("history[%d] = %+v lacks id or type", i, e)
			}
		}
		b := EncodeProcess(orderID, hist)
		orderID2, hist2, err := DecodeProcess(key, b)
		if err != nil {
			t.Fatalf("DecodeProcess(EncodeProcess(...)) = %v; wire %s", err, b)
		}
		if orderID2 != orderID || len(hist2) != len(hist) {
			t.Fatalf("round trip: %q %d entries, want %q %d", orderID2, len(hist2), orderID, len(hist))
		}
		for i := range hist {
			a, c := hist[i], hist2[i]
			if a.ID != c.ID || a.Type != c.Type || a.Ref != c.Ref || a.At != c.At {
				t.Fatalf("round trip history[%d]: %+v, want %+v", i, c, a)
			}
		}
		if b2 := EncodeProcess(orderID2, hist2); string(b2) != string(b) {
			t.Fatalf("second encoding differs:\n%s\n%s", b, b2)
		}
	})
}

// TestFuzzSeedCorpora checks that the committed seeds are what their names
// say: valid_* decode, malformed_* are rejected, and every file is in Go's
// corpus format.
func TestFuzzSeedCorpora(t *testing.T) {
	for fuzzer, decode := range map[string]func(k, v []byte) error{
		"FuzzDecodeEvent":   func(k, v []byte) error { _, err := DecodeEvent(k, v); return err },
		"FuzzDecodeProcess": func(k, v []byte) error { _, _, err := DecodeProcess(k, v); return err },
	} {
		files, err := filepath.Glob(filepath.Join("testdata", "fuzz", fuzzer, "*"))
		if err != nil {
			t.Fatal(err)
		}
		var valid, malformed int
		for _, file := range files {
			key, value := readCorpusFile(t, file)
			err := decode(key, value)
			switch name := filepath.Base(file); {
			case strings.HasPrefix(name, "valid_"):
				valid++
				if err != nil {
					t.Errorf("%s: %v", file, err)
				}
			case strings.HasPrefix(name, "malformed_"):
				malformed++
				if err == nil {
					t.Errorf("%s: accepted", file)
				}
			}
		}
		if valid < 2 || malformed < 6 {
			t.Errorf("%s: %d valid and %d malformed seeds; want at least 2 and 6", fuzzer, valid, malformed)
		}
	}
}

func readCorpusFile(t *testing.T, file string) (key, value []byte) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) != 3 || lines[0] != "go test fuzz v1" {
		t.Fatalf("%s is not a two-argument corpus file", file)
	}
	var args [2][]byte
	for i, l := range lines[1:] {
		if !strings.HasPrefix(l, "[]byte(") || !strings.HasSuffix(l, ")") {
			t.Fatalf("%s: line %q is not []byte(...)", file, l)
		}
		s, err := strconv.Unquote(l[len("[]byte(") : len(l)-1])
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		args[i] = []byte(s)
	}
	return args[0], args[1]
}
