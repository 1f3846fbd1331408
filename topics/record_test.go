package topics

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/catering-match/catering-match/state"
)

func sampleHistory() []state.Entry {
	paris := time.FixedZone("CET", 3600)
	return []state.Entry{
		{ID: "0b6c5f5e-6b1e-4c55-9a52-8f1f3c1e2b7a", Type: "CustomerConfirmedMenu", Ref: "menu-a", At: state.StampOf(time.Date(2026, 11, 25, 10, 0, 0, 123456789, time.UTC))},
		{ID: "e2", Type: "CatererDeclinedMenu", Ref: "", At: state.StampOf(time.Date(2026, 11, 25, 11, 0, 0, 1, paris))},
		{ID: "e3", Type: "CatererConfirmedMenu", Ref: "menu-a", At: state.StampOf(time.Date(2026, 11, 25, 10, 0, 1, 999999999, time.Local))},
		{ID: state.CommandID("42"), Type: "ConfirmOrderIssued", Ref: "menu-a", At: state.StampOf(time.Date(2026, 11, 25, 10, 0, 2, 0, time.UTC))},
	}
}

func TestProcessRoundTrip(t *testing.T) {
	for _, orderID := range []string{"42", "café-🍰", strings.Repeat("o", 128), `quote"<&>`} {
		in := sampleHistory()
		b := EncodeProcess(orderID, in)
		gotID, got, err := DecodeProcess([]byte(orderID), b)
		if err != nil {
			t.Fatalf("DecodeProcess(EncodeProcess(%q)): %v; wire %s", orderID, err, b)
		}
		if gotID != orderID {
			t.Fatalf("order id = %q, want %q", gotID, orderID)
		}
		if len(got) != len(in) {
			t.Fatalf("history has %d entries, want %d", len(got), len(in))
		}
		for i := range in {
			g, w := got[i], in[i]
			if g != w {
				t.Errorf("history[%d] = %+v, want %+v", i, g, w)
			}
		}
		// Encoding what was decoded gives the same bytes.
		if b2 := EncodeProcess(gotID, got); string(b2) != string(b) {
			t.Errorf("re-encoding differs:\n%s\n%s", b, b2)
		}
	}
}

func TestProcessGolden(t *testing.T) {
	h := []state.Entry{
		{ID: "e1", Type: "CustomerConfirmedMenu", Ref: "menu-a", At: state.StampOf(time.Date(2026, 11, 25, 10, 0, 0, 123456789, time.UTC))},
		{ID: "e2", Type: "CatererConfirmedMenu", Ref: "", At: state.StampOf(time.Date(2026, 11, 25, 11, 0, 0, 0, time.FixedZone("CET", 3600)))},
	}
	got := string(EncodeProcess("42", h))
	want := `{"schema":1,"order_id":"42","history":[` +
		`{"id":"e1","type":"CustomerConfirmedMenu","menu_id":"menu-a","at":"2026-11-25T10:00:00.123456789Z"},` +
		`{"id":"e2","type":"CatererConfirmedMenu","menu_id":"","at":"2026-11-25T10:00:00Z"}]}`
	if got != want {
		t.Fatalf("EncodeProcess =\n%s\nwant\n%s", got, want)
	}

	// Field names exactly as the contract's example, nothing more.
	var top map[string]json.RawMessage
	if err := json.Unmarshal([]byte(got), &top); err != nil {
		t.Fatal(err)
	}
	assertKeys(t, "record", top, "schema", "order_id", "history")
	if string(top["schema"]) != "1" {
		t.Errorf("schema = %s, want the JSON number 1", top["schema"])
	}
	var entries []map[string]json.RawMessage
	if err := json.Unmarshal(top["history"], &entries); err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		assertKeys(t, "history entry", e, "id", "type", "menu_id", "at")
	}

	// the contract's example (with its "…" placeholders replaced) decodes.
	domain := `{"schema":1,"order_id":"42","history":[
  {"id":"a","type":"CustomerConfirmedMenu","menu_id":"menu-a","at":"2026-11-25T10:00:00Z"},
  {"id":"b","type":"CatererConfirmedMenu","menu_id":"menu-a","at":"2026-11-25T10:00:01Z"},
  {"id":"` + state.CommandID("42") + `","type":"ConfirmOrderIssued","menu_id":"menu-a","at":"2026-11-25T10:00:01.5Z"}]}`
	id, hist, err := DecodeProcess([]byte("42"), []byte(domain))
	if err != nil || id != "42" || len(hist) != 3 || hist[2].Type != "ConfirmOrderIssued" || hist[2].At.Time().Nanosecond() != 500_000_000 {
		t.Fatalf("docs/contract.md example: %q %+v %v", id, hist, err)
	}
}

func assertKeys(t *testing.T, what string, m map[string]json.RawMessage, keys ...string) {
	t.Helper()
	if len(m) != len(keys) {
		t.Errorf("%s has fields %v, want exactly %v", what, mapKeys(m), keys)
	}
	for _, k := range keys {
		if _, ok := m[k]; !ok {
			t.Errorf("%s lacks field %q (has %v)", what, k, mapKeys(m))
		}
	}
}

func mapKeys(m map[string]json.RawMessage) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

func TestDecodeProcessRejects(t *testing.T) {
	entry := `{"id":"e1","type":"CustomerConfirmedMenu","menu_id":"m","at":"2026-11-25T10:00:00Z"}`
	cases := []struct {
		name   string
		key    string
		value  string
		reason []string
	}{
		{"garbage", "42", `not json`, []string{"not valid JSON"}},
		{"truncated", "42", `{"schema":1,"order_id":"42","history":[` + entry, []string{"not valid JSON"}},
		{"empty value (tombstone)", "42", ``, []string{"not valid JSON"}},
		{"array", "42", `[` + entry + `]`, []string{"not valid JSON"}},
		{"schema as string", "42", `{"schema":"1","order_id":"42","history":[` + entry + `]}`, []string{"not valid JSON"}},
		{"schema missing", "42", `{"order_id":"42","history":[` + entry + `]}`, []string{"no schema version"}},
		{"schema 0", "42", `{"schema":0,"order_id":"42","history":[` + entry + `]}`, []string{"no schema version", "0"}},
		{"schema -1", "42", `{"schema":-1,"order_id":"42","history":[` + entry + `]}`, []string{"no schema version"}},
		{"null", "42", `null`, []string{"no schema version"}},
		{"schema 2", "42", `{"schema":2,"order_id":"42","history":[` + entry + `]}`, []string{"schema 2", "newer", "upgrade"}},
		{"schema 99 with other shape", "42", `{"schema":99,"order_id":"42","events":[]}`, []string{"schema 99", "newer", "upgrade"}},
		{"order_id differs", "42", `{"schema":1,"order_id":"43","history":[` + entry + `]}`, []string{"order_id", `"43"`, `"42"`}},
		{"order_id missing", "42", `{"schema":1,"history":[` + entry + `]}`, []string{"order_id", `""`, `"42"`}},
		{"empty key", "", `{"schema":1,"order_id":"42","history":[` + entry + `]}`, []string{"order_id", `"42"`, `""`}},
		{"empty history", "42", `{"schema":1,"order_id":"42","history":[]}`, []string{"empty history", `"42"`}},
		{"history missing", "42", `{"schema":1,"order_id":"42"}`, []string{"empty history"}},
		{"history null", "42", `{"schema":1,"order_id":"42","history":null}`, []string{"empty history"}},
		{"at missing", "42", `{"schema":1,"order_id":"42","history":[{"id":"e1","type":"t"}]}`, []string{"history[0].at"}},
		{"at not a time", "42", `{"schema":1,"order_id":"42","history":[{"id":"e1","type":"t","at":"yesterday"}]}`, []string{"history[0].at", "yesterday"}},
		{"at without zone", "42", `{"schema":1,"order_id":"42","history":[{"id":"e1","type":"t","at":"2026-11-25T10:00:00"}]}`, []string{"history[0].at"}},
		{"at as number", "42", `{"schema":1,"order_id":"42","history":[{"id":"e1","type":"t","at":1764064800}]}`, []string{"not valid JSON"}},
		{"second entry bad at", "42", `{"schema":1,"order_id":"42","history":[` + entry + `,{"id":"e2","type":"t","at":"2026-13-01T00:00:00Z"}]}`, []string{"history[1].at"}},
		{"entry without id", "42", `{"schema":1,"order_id":"42","history":[{"type":"t","at":"2026-11-25T10:00:00Z"}]}`, []string{"history[0]", "id"}},
		{"entry with empty id", "42", `{"schema":1,"order_id":"42","history":[` + entry + `,{"id":"","type":"t","at":"2026-11-25T10:00:00Z"}]}`, []string{"history[1]", "id"}},
		{"entry without type", "42", `{"schema":1,"order_id":"42","history":[{"id":"e1","at":"2026-11-25T10:00:00Z"}]}`, []string{"history[0]", "type"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			id, h, err := DecodeProcess([]byte(c.key), []byte(c.value))
			if err == nil {
				t.Fatalf("DecodeProcess(%q, %s) = %q, %+v, nil; want an error", c.key, c.value, id, h)
			}
			if id != "" || h != nil {
				t.Errorf("on error got %q, %+v; want zero values", id, h)
			}
			for _, want := range c.reason {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
		})
	}
}

func TestDecodeProcessAccepts(t *testing.T) {
	// menu_id is optional in an entry; unknown fields are ignored; any RFC
	// 3339 offset is read as the same instant.
	v := `{"schema":1,"order_id":"42","extra":true,"history":[{"id":"e1","type":"t","at":"2026-11-25T11:00:00.5+01:00","x":1}]}`
	_, h, err := DecodeProcess([]byte("42"), []byte(v))
	if err != nil {
		t.Fatal(err)
	}
	if h[0].Ref != "" || h[0].At != state.StampOf(time.Date(2026, 11, 25, 10, 0, 0, 5e8, time.UTC)) {
		t.Fatalf("got %+v", h[0])
	}
}

// TestProcessRoundTripExtremeOffset: a record DecodeProcess accepts must
// survive EncodeProcess→DecodeProcess. An `at` in year 0000 or 9999 whose
// offset moves it across the year boundary in UTC is accepted by
// DecodeProcess, then EncodeProcess formats it as year -1 or 10000, which
// DecodeProcess rejects: the restored process could not be written back.
func TestProcessRoundTripExtremeOffset(t *testing.T) {
	for _, at := range []string{"0000-01-01T00:30:00+01:00", "9999-12-31T23:30:00-01:00"} {
		v := `{"schema":1,"order_id":"42","history":[{"id":"e1","type":"t","at":"` + at + `"}]}`
		_, h, err := DecodeProcess([]byte("42"), []byte(v))
		if err != nil {
			continue // rejected on the way in: consistent
		}
		b := EncodeProcess("42", h)
		if _, _, err := DecodeProcess([]byte("42"), b); err != nil {
			t.Fatalf("record.go:58 accepts at=%s, record.go:33 re-encodes it in UTC as %s, record.go:58 rejects that: %v", at, b, err)
		}
	}
}
