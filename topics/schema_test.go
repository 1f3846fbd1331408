package topics_test

// The JSON Schemas in docs/schemas are published for clients. These tests
// hold them to the code both ways: what the service writes (through its
// real wiring, internal/catering) must validate, and the schemas must accept
// and reject the same event and process-record values as DecodeEvent and
// DecodeProcess. Where JSON Schema cannot say what the code does (byte
// limits, the record key, Go's time parser), the case names the difference,
// which docs/contract.md lists too; a difference not named fails.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/catering-match/catering-match/internal/catering"
	"github.com/catering-match/catering-match/processor"
	"github.com/catering-match/catering-match/state"
	"github.com/catering-match/catering-match/topics"
)

const (
	schemaDir          = "../docs/schemas"
	eventSchema        = "event.schema.json"
	confirmOrderSchema = "confirm-order.schema.json"
	recordSchema       = "process-record.schema.json"
)

// compileSchema compiles one of the published schemas, with format
// assertion on (2020-12 makes format an annotation unless asked).
func compileSchema(t *testing.T, name string) *jsonschema.Schema {
	t.Helper()
	path, err := filepath.Abs(filepath.Join(schemaDir, name))
	if err != nil {
		t.Fatal(err)
	}
	raw := readSchema(t, name)
	if raw["$schema"] != "https://json-schema.org/draft/2020-12/schema" {
		t.Fatalf("%s: $schema = %v, want draft 2020-12", name, raw["$schema"])
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	s, err := c.Compile(path)
	if err != nil {
		t.Fatalf("compile %s: %v", name, err)
	}
	return s
}

// readSchema returns a schema file as plain JSON, to inspect its keywords.
func readSchema(t *testing.T, name string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(schemaDir, name))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return m
}

// validate reports why value is not JSON the schema accepts; nil if it is.
func validate(s *jsonschema.Schema, value []byte) error {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(value))
	if err != nil {
		return fmt.Errorf("not JSON: %w", err)
	}
	return s.Validate(doc)
}

// keysOf returns the sorted keys of a JSON object (or of a map from one).
func keysOf[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func objectKeys(t *testing.T, b []byte) []string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return keysOf(m)
}

func stringsOf(t *testing.T, v any) []string {
	t.Helper()
	vs, ok := v.([]any)
	if !ok {
		t.Fatalf("%v is not a JSON array", v)
	}
	out := make([]string, len(vs))
	for i, x := range vs {
		out[i] = x.(string)
	}
	slices.Sort(out)
	return out
}

// TestSchemasNameTheFieldsTheCodeWrites: each schema's properties are the
// fields the encoders write, and its enum of history types is the
// process's. A field added to the code, or to a schema, alone fails here.
func TestSchemasNameTheFieldsTheCodeWrites(t *testing.T) {
	full, err := topics.EncodeEvent(topics.Event{ID: "e", Type: "t", OrderID: "42", MenuID: "m", OccurredAt: "2026-11-25T10:00:00Z", Data: json.RawMessage(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	ev := readSchema(t, eventSchema)
	eq(t, "event properties", keysOf(ev["properties"].(map[string]any)), objectKeys(t, full))
	eq(t, "event required", stringsOf(t, ev["required"]), []string{"id", "order_id", "type"})

	cmd := topics.NewConfirmOrder("42", "m", "e", time.Now()).Encode()
	co := readSchema(t, confirmOrderSchema)
	eq(t, "command properties", keysOf(co["properties"].(map[string]any)), objectKeys(t, cmd))
	eq(t, "command required", stringsOf(t, co["required"]), objectKeys(t, cmd))

	rec := topics.EncodeProcess("42", []state.Entry{{ID: "e", Type: state.CustomerConfirmedMenu, Ref: "m", At: state.StampOf(time.Now())}})
	pr := readSchema(t, recordSchema)
	eq(t, "record properties", keysOf(pr["properties"].(map[string]any)), objectKeys(t, rec))
	var top struct{ History []json.RawMessage }
	if err := json.Unmarshal(rec, &top); err != nil {
		t.Fatal(err)
	}
	entry := pr["$defs"].(map[string]any)["entry"].(map[string]any)
	eq(t, "entry properties", keysOf(entry["properties"].(map[string]any)), objectKeys(t, top.History[0]))

	types := stringsOf(t, entry["properties"].(map[string]any)["type"].(map[string]any)["enum"])
	own := []string{state.CustomerConfirmedMenu, state.CatererConfirmedMenu, state.CatererDeclinedMenu, state.ConfirmOrderIssued, state.MatchExpired}
	slices.Sort(own)
	eq(t, "history types", types, own)
	p := catering.Definition().Process.Projection
	for _, typ := range types {
		if !p.Handles(typ) {
			t.Errorf("the schema lists history type %q, which the fold ignores", typ)
		}
	}
}

func eq(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s = %q, want %q", what, got, want)
	}
}

// scenario is one order's events as a client sends them (record values),
// then optionally the clock past the deadline.
type scenario struct {
	name   string
	key    string
	events []string
	late   bool   // the last event arrives after the deadline
	expire bool   // the clock passes the deadline after the events
	status string // where the order ends
	cmds   int    // ConfirmOrder commands issued
}

// clientEvent is an event as `catering publish` writes it (topics.EncodeEvent).
func clientEvent(t *testing.T, id, typ, order, menu string) string {
	t.Helper()
	b, err := topics.EncodeEvent(topics.Event{ID: id, Type: typ, OrderID: order, MenuID: menu, OccurredAt: "2026-11-25T10:00:00Z"})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestSchemasAcceptWhatTheServiceWrites drives orders through the service's
// own wiring (decoder, process, emitter, changelog codec) to every status,
// and validates every event sent, command issued and changelog record
// written against the published schemas.
func TestSchemasAcceptWhatTheServiceWrites(t *testing.T) {
	evs, cmds, recs := compileSchema(t, eventSchema), compileSchema(t, confirmOrderSchema), compileSchema(t, recordSchema)
	def := catering.Definition()
	limits := state.DefaultLimits()
	m, err := state.NewManager(def.Process, limits)
	if err != nil {
		t.Fatal(err)
	}
	odd := `café "<&>" 🍰` // escapes in every encoder
	scenarios := []scenario{
		{name: "pending, customer only", key: "p1", status: "pending", events: []string{
			`{"id":"p1-a","type":"CustomerConfirmedMenu","order_id":"p1","menu_id":"menu-a"}`,
		}},
		{name: "pending, caterer declined", key: "p2", status: "pending", events: []string{
			clientEvent(t, "p2-a", state.CustomerConfirmedMenu, "p2", "menu-a"),
			clientEvent(t, "p2-b", state.CatererConfirmedMenu, "p2", "menu-b"),
			clientEvent(t, "p2-c", state.CatererDeclinedMenu, "p2", "menu-a"),
			`{"id":"p2-d","type":"SomebodyElsesEvent","order_id":"p2"}`,
		}},
		{name: "confirmed", key: "42", status: "confirmed", cmds: 1, events: []string{
			`{"id":"0b6c5f5e-6b1e-4c55-9a52-8f1f3c1e2b7a","type":"CustomerConfirmedMenu","order_id":"42","menu_id":"menu-a","occurred_at":"2026-11-25T10:00:00Z","data":{}}`,
			`{"id":"c-2","type":"CatererConfirmedMenu","order_id":"42","menu_id":"menu-a","data":{"note":"on time"},"trace":"x"}`,
			`{"id":"c-2","type":"CatererConfirmedMenu","order_id":"42","menu_id":"menu-a"}`,
			`{"id":"c-3","type":"CustomerConfirmedMenu","order_id":"42","menu_id":"menu-b"}`,
		}},
		{name: "confirmed, default menu, caterer first", key: "43", status: "confirmed", cmds: 1, events: []string{
			`{"id":"e-43-2","type":"CatererConfirmedMenu","order_id":"43"}`,
			`{"id":"e-43-1","type":"CustomerConfirmedMenu","order_id":"43","menu_id":null}`,
		}},
		{name: "confirmed after a decline was withdrawn, non-ASCII", key: odd, status: "confirmed", cmds: 1, events: []string{
			clientEvent(t, "ü-1", state.CustomerConfirmedMenu, odd, "menü <1>"),
			clientEvent(t, "ü-2", state.CatererDeclinedMenu, odd, "menü <1>"),
			clientEvent(t, "ü-3", state.CatererConfirmedMenu, odd, "menü <1>"),
		}},
		{name: "expired by the clock", key: "x1", status: "expired", expire: true, events: []string{
			`{"id":"x1-a","type":"CustomerConfirmedMenu","order_id":"x1","menu_id":"menu-a"}`,
		}},
		// The expiry is recorded first, then the late event is skipped.
		{name: "expired by a late event", key: "x2", status: "expired", late: true, events: []string{
			`{"id":"x2-a","type":"CatererConfirmedMenu","order_id":"x2"}`,
			`{"id":"x2-b","type":"CustomerConfirmedMenu","order_id":"x2"}`,
		}},
	}

	statuses := map[string]bool{}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
			var proc *state.Process[state.Order]
			issued := 0
			changelog := func() {
				t.Helper()
				v := def.Codec.Encode(sc.key, proc.History)
				if err := validate(recs, v); err != nil {
					t.Errorf("changelog record %s: %v", v, err)
				}
				id, h, err := topics.DecodeProcess([]byte(sc.key), v)
				if err != nil || id != sc.key || len(h) != len(proc.History) {
					t.Errorf("changelog record %s does not read back: %q %d %v", v, id, len(h), err)
				}
			}
			decided := func(out state.Outcome[state.Order], cause *state.Entry, rec *kgo.Record) {
				t.Helper()
				for i, d := range out.Decisions {
					dec := processor.Decision[state.Order]{Key: sc.key, Entry: d, State: out.Process.State, Started: out.Process.History[0].At.Time()}
					if i == len(out.Decisions)-1 && out.Result == state.Applied {
						dec.Cause, dec.Record = cause, rec
					}
					for _, r := range def.Emit(dec) {
						issued++
						if err := validate(cmds, r.Value); err != nil {
							t.Errorf("command %s: %v", r.Value, err)
						}
						if string(r.Key) != sc.key || len(r.Headers) != 1 || r.Headers[0].Key != "type" || string(r.Headers[0].Value) != topics.ConfirmOrderType {
							t.Errorf("command record key %q headers %v, want key %q and type: ConfirmOrder", r.Key, r.Headers, sc.key)
						}
					}
				}
			}
			for i, v := range sc.events {
				if err := validate(evs, []byte(v)); err != nil {
					t.Errorf("event %s: %v", v, err)
				}
				rec := &kgo.Record{Topic: "catering-events", Key: []byte(sc.key), Value: []byte(v)}
				key, entry, err := def.Decode(rec)
				if err != nil {
					t.Fatalf("event %s: %v", v, err)
				}
				if sc.late && i == len(sc.events)-1 {
					now = now.Add(limits.Timeout)
				}
				out := m.Apply(proc, key, entry, now)
				if out.Changed() {
					proc = out.Process
					changelog()
				}
				decided(out, &entry, rec)
				now = now.Add(time.Second)
			}
			if sc.expire {
				adv := m.Advance(sc.key, proc, now.Add(limits.Timeout))
				if adv == nil {
					t.Fatal("no expiry after the deadline")
				}
				proc = adv.Process
				changelog()
				decided(*adv, nil, nil)
			}
			got := def.Status(proc.State)
			if got != sc.status || issued != sc.cmds {
				t.Errorf("ended %s with %d commands, want %s with %d", got, issued, sc.status, sc.cmds)
			}
			statuses[got] = true
		})
	}
	if got := keysOf(statuses); !slices.Equal(got, slices.Sorted(slices.Values(def.Statuses))) {
		t.Errorf("scenarios reach statuses %q, the service has %q: cover every status", got, def.Statuses)
	}
}

// eventCase is one event record value. kind is the MalformedError kind
// DecodeEvent must return ("" when it accepts); gap, when set, says why the
// schema decides the other way.
type eventCase struct {
	name     string
	value    string
	kind     string
	emptyKey bool // the record key is empty (else "42")
	gap      string
}

// Why the schema and the code may disagree on an event.
const (
	gapKey   = "the schema cannot see the record key"
	gapBytes = "the service counts bytes of UTF-8, maxLength counts characters"
)

func TestEventSchemaAgreesWithDecodeEvent(t *testing.T) {
	ok := `"id":"e1","type":"CustomerConfirmedMenu","order_id":"42"`
	e, eAcute := strings.Repeat("e", 128), strings.Repeat("é", 64) // 128 bytes each
	cases := []eventCase{
		{name: "minimal", value: `{` + ok + `}`},
		{name: "every field", value: `{` + ok + `,"menu_id":"menu-a","occurred_at":"2026-11-25T10:00:00Z","data":{"a":[1,null]}}`},
		{name: "unknown fields", value: `{` + ok + `,"extra":1,"ID":"x","Menu_ID":7}`},
		{name: "other type", value: `{"id":"e1","type":"SomebodyElsesEvent","order_id":"42"}`},
		{name: "menu_id null", value: `{` + ok + `,"menu_id":null}`},
		{name: "menu_id empty", value: `{` + ok + `,"menu_id":""}`},
		{name: "occurred_at not a time", value: `{` + ok + `,"occurred_at":"yesterday"}`},
		{name: "occurred_at a number", value: `{` + ok + `,"occurred_at":5}`},
		{name: "data a string", value: `{` + ok + `,"data":"x"}`},
		{name: "data null", value: `{` + ok + `,"data":null}`},
		{name: "white space", value: " \n{ " + ok + " }\t"},
		{name: "escapes", value: `{"id":"\u00e9\n","type":"t","order_id":"\u0034\u0032"}`},
		{name: "type over 128 bytes", value: `{"id":"e1","type":"` + strings.Repeat("t", 300) + `","order_id":"42"}`},
		{name: "128 bytes ASCII", value: `{"id":"` + e + `","type":"t","order_id":"42","menu_id":"` + e + `"}`},
		{name: "128 bytes non-ASCII", value: `{"id":"` + eAcute + `","type":"t","order_id":"42","menu_id":"` + eAcute + `"}`},
		{name: "duplicate field, last wins", value: `{"id":7,` + ok + `}`},

		{name: "empty value", value: ``, kind: topics.MalformedNotObject},
		{name: "not JSON", value: `not json`, kind: topics.MalformedNotObject},
		{name: "array", value: `[{` + ok + `}]`, kind: topics.MalformedNotObject},
		{name: "string", value: `"x"`, kind: topics.MalformedNotObject},
		{name: "null", value: `null`, kind: topics.MalformedNotObject},
		{name: "truncated", value: `{` + ok, kind: topics.MalformedNotObject},
		{name: "trailing data", value: `{` + ok + `} {}`, kind: topics.MalformedNotObject},
		{name: "no id", value: `{"type":"t","order_id":"42"}`, kind: topics.MalformedMissing},
		{name: "no type", value: `{"id":"e1","order_id":"42"}`, kind: topics.MalformedMissing},
		{name: "no order_id", value: `{"id":"e1","type":"t"}`, kind: topics.MalformedMissing},
		{name: "id null", value: `{"id":null,"type":"t","order_id":"42"}`, kind: topics.MalformedMissing},
		{name: "ID is not id", value: `{"ID":"e1","type":"t","order_id":"42"}`, kind: topics.MalformedMissing},
		{name: "id empty", value: `{"id":"","type":"t","order_id":"42"}`, kind: topics.MalformedEmpty},
		{name: "type empty", value: `{"id":"e1","type":"","order_id":"42"}`, kind: topics.MalformedEmpty},
		{name: "id a number", value: `{"id":7,"type":"t","order_id":"42"}`, kind: topics.MalformedWrongType},
		{name: "type an object", value: `{"id":"e1","type":{},"order_id":"42"}`, kind: topics.MalformedWrongType},
		{name: "order_id an array", value: `{"id":"e1","type":"t","order_id":["42"]}`, kind: topics.MalformedWrongType},
		{name: "menu_id a number", value: `{` + ok + `,"menu_id":1}`, kind: topics.MalformedWrongType},
		{name: "menu_id false", value: `{` + ok + `,"menu_id":false}`, kind: topics.MalformedWrongType},
		{name: "id 129 bytes ASCII", value: `{"id":"x` + e + `","type":"t","order_id":"42"}`, kind: topics.MalformedOverLimit},
		{name: "menu_id 129 bytes ASCII", value: `{` + ok + `,"menu_id":"x` + e + `"}`, kind: topics.MalformedOverLimit},
		{name: "id 129 bytes, 65 characters", value: `{"id":"x` + eAcute + `","type":"t","order_id":"42"}`, kind: topics.MalformedOverLimit, gap: gapBytes},
		{name: "invalid UTF-8 becomes U+FFFD, 3 bytes", value: "{\"id\":\"" + e[1:] + "\xff\",\"type\":\"t\",\"order_id\":\"42\"}", kind: topics.MalformedOverLimit, gap: gapBytes},
		{name: "order_id differs from key", value: `{"id":"e1","type":"t","order_id":"43"}`, kind: topics.MalformedKeyMismatch, gap: gapKey},
		{name: "empty key", value: `{` + ok + `}`, emptyKey: true, kind: topics.MalformedEmptyKey, gap: gapKey},
	}
	s := compileSchema(t, eventSchema)
	for _, c := range cases {
		key := []byte("42")
		if c.emptyKey {
			key = nil
		}
		checkEvent(t, s, c.name, key, []byte(c.value), c.kind, c.gap)
	}
}

// checkEvent checks DecodeEvent's verdict on one record (kind "" for
// accepted) and that the schema agrees unless gap says why not.
func checkEvent(t *testing.T, s *jsonschema.Schema, name string, key, value []byte, kind, gap string) {
	t.Helper()
	_, err := topics.DecodeEvent(key, value)
	var me *topics.MalformedError
	switch {
	case kind == "" && err != nil:
		t.Errorf("%s: DecodeEvent rejects %s: %v", name, value, err)
	case kind != "" && (!errors.As(err, &me) || me.Kind != kind):
		t.Errorf("%s: DecodeEvent(%s) = %v, want kind %s", name, value, err, kind)
	}
	schemaErr := validate(s, value)
	agree := (schemaErr == nil) == (err == nil)
	switch {
	case gap == "" && !agree:
		t.Errorf("%s: DecodeEvent says %v, the schema says %v, for %s", name, err, schemaErr, value)
	case gap != "" && agree:
		t.Errorf("%s: the schema now agrees with DecodeEvent (%v); drop the gap %q here and in docs/contract.md", name, err, gap)
	}
}

// fuzzCorpus reads the seed corpus of a fuzz target: each file holds two
// []byte values, the record key and value.
func fuzzCorpus(t *testing.T, target string) map[string][2][]byte {
	t.Helper()
	dir := filepath.Join("testdata", "fuzz", target)
	files, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][2][]byte{}
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(dir, f.Name()))
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		if len(lines) != 3 || lines[0] != "go test fuzz v1" {
			t.Fatalf("%s: not a two-value corpus file", f.Name())
		}
		var kv [2][]byte
		for i, l := range lines[1:] {
			q, ok := strings.CutPrefix(l, "[]byte(")
			q, ok2 := strings.CutSuffix(q, ")")
			s, err := strconv.Unquote(q)
			if !ok || !ok2 || err != nil {
				t.Fatalf("%s: line %q is not a []byte literal", f.Name(), l)
			}
			kv[i] = []byte(s)
		}
		out[f.Name()] = kv
	}
	if len(out) == 0 {
		t.Fatalf("%s: empty corpus", dir)
	}
	return out
}

// TestEventSchemaAgreesOnTheFuzzCorpus runs the decoder's seed corpus
// through the schema too, so that a record added there is held to it.
func TestEventSchemaAgreesOnTheFuzzCorpus(t *testing.T) {
	gaps := map[string]string{
		"malformed_empty_key":    gapKey,
		"malformed_key_mismatch": gapKey,
		"malformed_id_129_bytes": gapBytes,
	}
	s := compileSchema(t, eventSchema)
	for name, kv := range fuzzCorpus(t, "FuzzDecodeEvent") {
		kind := ""
		if _, err := topics.DecodeEvent(kv[0], kv[1]); err != nil {
			kind = err.(*topics.MalformedError).Kind
		}
		checkEvent(t, s, name, kv[0], kv[1], kind, gaps[name])
	}
}

// recordCase is one changelog value for key "42": reject is a piece of
// DecodeProcess's error ("" when it accepts it); gap as for eventCase.
type recordCase struct {
	name   string
	value  string
	reject string
	gap    string
}

// Why the schema and the code may disagree on a process record.
const (
	gapGoTime   = "Go's time parser differs from RFC 3339"
	gapStamp    = "the service reads only the times an entry can hold: Unix nanoseconds in an int64"
	gapLenient  = "encoding/json is lenient where the schema is exact"
	gapOwnTypes = "the schema lists the types the service writes; the decoder reads any, the fold ignores them"
	gapRecKey   = "the schema cannot see the record key"
)

func TestRecordSchemaAgreesWithDecodeProcess(t *testing.T) {
	rec := func(history ...string) string {
		return `{"schema":1,"order_id":"42","history":[` + strings.Join(history, ",") + `]}`
	}
	at := func(at string) string {
		return rec(`{"id":"e1","type":"CustomerConfirmedMenu","menu_id":"m","at":"` + at + `"}`)
	}
	ent := `{"id":"e1","type":"CustomerConfirmedMenu","menu_id":"m","at":"2026-11-25T10:00:00Z"}`
	cases := []recordCase{
		{name: "as written", value: rec(ent)},
		{name: "every type", value: rec(ent,
			`{"id":"e2","type":"CatererDeclinedMenu","menu_id":"m","at":"2026-11-25T10:00:01Z"}`,
			`{"id":"e3","type":"CatererConfirmedMenu","menu_id":"m","at":"2026-11-25T10:00:02.5Z"}`,
			`{"id":"`+state.CommandID("42")+`","type":"ConfirmOrderIssued","menu_id":"m","at":"2026-11-25T10:00:02.5Z"}`,
			`{"id":"x","type":"MatchExpired","menu_id":"","at":"2026-12-09T10:00:00.123456789Z"}`)},
		{name: "no menu_id", value: rec(`{"id":"e1","type":"MatchExpired","at":"2026-11-25T10:00:00Z"}`)},
		{name: "unknown fields", value: `{"schema":1,"order_id":"42","history":[` + ent + `],"extra":{}}`},
		{name: "offset time", value: at("2026-11-25T11:00:00.5+01:00")},
		{name: "ten fraction digits", value: at("2026-11-25T10:00:00.1234567891Z")},
		{name: "white space", value: " {\"schema\" : 1, \"order_id\":\"42\", \"history\":[ " + ent + " ]}\n"},

		{name: "empty (a tombstone is not decoded)", value: ``, reject: "not valid JSON"},
		{name: "not JSON", value: `garbage`, reject: "not valid JSON"},
		{name: "array", value: `[` + ent + `]`, reject: "not valid JSON"},
		{name: "no schema", value: `{"order_id":"42","history":[` + ent + `]}`, reject: "no schema version"},
		{name: "schema 0", value: `{"schema":0,"order_id":"42","history":[` + ent + `]}`, reject: "no schema version"},
		{name: "schema 2", value: `{"schema":2,"order_id":"42","history":[` + ent + `]}`, reject: "newer than this release"},
		{name: "schema a string", value: `{"schema":"1","order_id":"42","history":[` + ent + `]}`, reject: "not valid JSON"},
		{name: "no order_id", value: `{"schema":1,"history":[` + ent + `]}`, reject: "differs from record key"},
		{name: "empty history", value: rec(), reject: "empty history"},
		{name: "history null", value: `{"schema":1,"order_id":"42","history":null}`, reject: "empty history"},
		{name: "history an object", value: `{"schema":1,"order_id":"42","history":{}}`, reject: "not valid JSON"},
		{name: "entry without id", value: rec(`{"type":"MatchExpired","menu_id":"","at":"2026-11-25T10:00:00Z"}`), reject: "needs an id and a type"},
		{name: "entry with empty type", value: rec(`{"id":"e1","type":"","at":"2026-11-25T10:00:00Z"}`), reject: "needs an id and a type"},
		{name: "id a number", value: rec(`{"id":1,"type":"MatchExpired","at":"2026-11-25T10:00:00Z"}`), reject: "not valid JSON"},
		{name: "menu_id a number", value: rec(`{"id":"e1","type":"MatchExpired","menu_id":1,"at":"2026-11-25T10:00:00Z"}`), reject: "not valid JSON"},
		{name: "no at", value: rec(`{"id":"e1","type":"MatchExpired"}`), reject: "history[0].at"},
		{name: "at not a time", value: at("2026-11-25 10:00"), reject: "history[0].at"},
		{name: "at without zone", value: at("2026-11-25T10:00:00"), reject: "history[0].at"},
		{name: "at offset without colon", value: at("2026-11-25T10:00:00+0100"), reject: "history[0].at"},
		{name: "at February 30", value: at("2026-02-30T10:00:00Z"), reject: "history[0].at"},
		{name: "at lower-case t and z", value: at("2026-11-25t10:00:00z"), reject: "history[0].at"},

		{name: "at one-digit hour", value: at("2026-11-25T1:00:00Z"), gap: gapGoTime},
		{name: "at comma fraction", value: at("2026-11-25T10:00:00,5Z"), gap: gapGoTime},
		{name: "at offset +24:00", value: at("2026-11-25T10:00:00+24:00"), gap: gapGoTime},
		{name: "at leap second", value: at("2026-12-31T23:59:60Z"), reject: "second out of range", gap: gapGoTime},
		{name: "at year 0000", value: at("0000-06-01T00:00:00Z"), reject: "is outside 1677-09-21T00:12:43.145224192Z to 2262-04-11T23:47:16.854775807Z", gap: gapStamp},
		{name: "at year 0001", value: at("0001-01-01T00:30:00+01:00"), reject: "is outside 1677-09-21", gap: gapStamp},
		{name: "at 1 ns before the earliest", value: at("1677-09-21T00:12:43.145224191Z"), reject: "is outside 1677-09-21", gap: gapStamp},
		{name: "at 1 ns after the latest", value: at("2262-04-11T23:47:16.854775808Z"), reject: "is outside 1677-09-21", gap: gapStamp},
		{name: "at year 9999", value: at("9999-12-31T23:59:59.999999999Z"), reject: "is outside 1677-09-21", gap: gapStamp},
		{name: "schema 1.0", value: `{"schema":1.0,"order_id":"42","history":[` + ent + `]}`, reject: "not valid JSON", gap: gapLenient},
		{name: "keys in another case", value: `{"Schema":1,"ORDER_ID":"42","History":[` + ent + `]}`, gap: gapLenient},
		{name: "menu_id null", value: rec(`{"id":"e1","type":"MatchExpired","menu_id":null,"at":"2026-11-25T10:00:00Z"}`), gap: gapLenient},
		{name: "other type", value: rec(`{"id":"e1","type":"SomebodyElsesEvent","menu_id":"","at":"2026-11-25T10:00:00Z"}`), gap: gapOwnTypes},
		{name: "order_id differs from key", value: `{"schema":1,"order_id":"43","history":[` + ent + `]}`, reject: "differs from record key", gap: gapRecKey},
	}
	s := compileSchema(t, recordSchema)
	for _, c := range cases {
		checkRecord(t, s, c.name, []byte("42"), []byte(c.value), c.reject, c.gap)
	}
}

func checkRecord(t *testing.T, s *jsonschema.Schema, name string, key, value []byte, reject, gap string) {
	t.Helper()
	_, _, err := topics.DecodeProcess(key, value)
	switch {
	case reject == "" && err != nil:
		t.Errorf("%s: DecodeProcess rejects %s: %v", name, value, err)
	case reject != "" && (err == nil || !strings.Contains(err.Error(), reject)):
		t.Errorf("%s: DecodeProcess(%s) = %v, want an error with %q", name, value, err, reject)
	}
	schemaErr := validate(s, value)
	agree := (schemaErr == nil) == (err == nil)
	switch {
	case gap == "" && !agree:
		t.Errorf("%s: DecodeProcess says %v, the schema says %v, for %s", name, err, schemaErr, value)
	case gap != "" && agree:
		t.Errorf("%s: the schema now agrees with DecodeProcess (%v); drop the gap %q here and in docs/contract.md", name, err, gap)
	}
}

func TestRecordSchemaAgreesOnTheFuzzCorpus(t *testing.T) {
	gaps := map[string]string{"malformed_key_mismatch": gapRecKey}
	s := compileSchema(t, recordSchema)
	for name, kv := range fuzzCorpus(t, "FuzzDecodeProcess") {
		reject := ""
		if _, _, err := topics.DecodeProcess(kv[0], kv[1]); err != nil {
			reject = err.Error()
		}
		checkRecord(t, s, name, kv[0], kv[1], reject, gaps[name])
	}
}

// TestConfirmOrderSchemaIsStrict: the command schema accepts the command
// the service writes and nothing a consumer could mistake for it.
func TestConfirmOrderSchemaIsStrict(t *testing.T) {
	s := compileSchema(t, confirmOrderSchema)
	good := topics.NewConfirmOrder("42", "menu-a", "e-2", time.Date(2026, 11, 25, 10, 0, 1, 5e8, time.UTC))
	if err := validate(s, good.Encode()); err != nil {
		t.Fatalf("the service's command %s: %v", good.Encode(), err)
	}
	for name, change := range map[string]func(*topics.ConfirmOrder){
		"another type":           func(c *topics.ConfirmOrder) { c.Type = "CancelOrder" },
		"command id upper case":  func(c *topics.ConfirmOrder) { c.CommandID = strings.ToUpper(c.CommandID) },
		"command id version 4":   func(c *topics.ConfirmOrder) { c.CommandID = "0b6c5f5e-6b1e-4c55-9a52-8f1f3c1e2b7a" },
		"command id not a uuid":  func(c *topics.ConfirmOrder) { c.CommandID = "42" },
		"issued_at with offset":  func(c *topics.ConfirmOrder) { c.IssuedAt = "2026-11-25T11:00:01+01:00" },
		"issued_at not a time":   func(c *topics.ConfirmOrder) { c.IssuedAt = "now" },
		"empty order id":         func(c *topics.ConfirmOrder) { c.OrderID = "" },
		"empty causation id":     func(c *topics.ConfirmOrder) { c.CausationID = "" },
		"order id over 128":      func(c *topics.ConfirmOrder) { c.OrderID = strings.Repeat("o", 129) },
		"empty correlation id":   func(c *topics.ConfirmOrder) { c.CorrelationID = "" },
		"issued_at 10 fractions": func(c *topics.ConfirmOrder) { c.IssuedAt = "2026-11-25T10:00:01.1234567891Z" },
	} {
		c := good
		change(&c)
		if err := validate(s, c.Encode()); err == nil {
			t.Errorf("%s: the schema accepts %s", name, c.Encode())
		}
	}
	var m map[string]any
	if err := json.Unmarshal(good.Encode(), &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range keysOf(m) {
		without := map[string]any{}
		for k2, v := range m {
			if k2 != k {
				without[k2] = v
			}
		}
		if err := s.Validate(without); err == nil {
			t.Errorf("the schema accepts a command without %s", k)
		}
	}
}
