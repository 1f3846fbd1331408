package processor_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/catering-match/catering-match/internal/embedded"
	"github.com/catering-match/catering-match/processor"
	"github.com/catering-match/catering-match/state"
	"github.com/catering-match/catering-match/topics"
)

// The event types, spelled out from docs/contract.md rather than taken from state/,
// so that the oracle below depends on the contract alone.
const (
	typeCustomer      = "CustomerConfirmedMenu"
	typeCatererOK     = "CatererConfirmedMenu"
	typeCatererNo     = "CatererDeclinedMenu"
	typeOther         = "OrderNoteAdded"
	typeIssued        = "ConfirmOrderIssued"
	typeExpired       = "MatchExpired"
	e2eEventsPartsNum = 3
)

// genEvent is one generated input record and what the generator meant by it.
type genEvent struct {
	rec       *kgo.Record
	order     string // the order the event belongs to (well-formed events)
	id, typ   string
	menu      string
	malformed bool
	kind      string   // malformed: which shape
	reasonHas []string // malformed: substrings the dlq-reason must contain
}

// orderGen generates orders of every shape docs/contract.md allows, and malformed
// records, from a seeded random source.
type orderGen struct {
	rnd   *rand.Rand
	topic string
	phase string
	nOrd  int
	nEv   int
	// coverage of shapes, for the log and a sanity check
	shapes map[string]int
}

func newOrderGen(rnd *rand.Rand, topic, phase string) *orderGen {
	return &orderGen{rnd: rnd, topic: topic, phase: phase, shapes: map[string]int{}}
}

var long128Menu = strings.Repeat("m", 128)

func (g *orderGen) orderID() string {
	g.nOrd++
	switch g.rnd.IntN(60) {
	case 0:
		return fmt.Sprintf("%s-bestellung-ü-%d", g.phase, g.nOrd)
	case 1:
		return fmt.Sprintf("%s/order %d", g.phase, g.nOrd)
	case 2: // exactly at the 128-byte limit: well-formed
		p := fmt.Sprintf("%s-%d-", g.phase, g.nOrd)
		return p + strings.Repeat("z", 128-len(p))
	}
	return fmt.Sprintf("%s-%d", g.phase, g.nOrd)
}

func (g *orderGen) eventID() string {
	g.nEv++
	switch g.rnd.IntN(4) {
	case 0: // UUID-shaped
		return fmt.Sprintf("%08x-%04x-4%03x-a%03x-%012x", g.nEv, g.rnd.IntN(1<<16), g.rnd.IntN(1<<12), g.rnd.IntN(1<<12), g.rnd.Int64N(1<<48))
	case 1: // exactly at the 128-byte limit: well-formed
		p := fmt.Sprintf("%s-e%d-", g.phase, g.nEv)
		if g.rnd.IntN(10) == 0 {
			return p + strings.Repeat("i", 128-len(p))
		}
	}
	return fmt.Sprintf("%s-e%d", g.phase, g.nEv)
}

func (g *orderGen) menu() string {
	switch g.rnd.IntN(12) {
	case 0, 1, 2:
		return "" // the order's default menu
	case 3:
		return "vegan ü"
	case 4:
		return long128Menu
	}
	return []string{"menu-a", "menu-b", "menu-c"}[g.rnd.IntN(3)]
}

// value encodes a well-formed event in one of the shapes the contract allows:
// default menu absent, empty or null; optional occurred_at and data; unknown
// fields.
func (g *orderGen) value(id, typ, order, menu string) []byte {
	m := map[string]any{"id": id, "type": typ, "order_id": order}
	if menu != "" {
		m["menu_id"] = menu
	} else {
		switch g.rnd.IntN(3) {
		case 0:
			m["menu_id"] = ""
		case 1:
			m["menu_id"] = nil
		}
	}
	if g.rnd.IntN(2) == 0 {
		m["occurred_at"] = time.Date(2026, 11, 25, 10, g.rnd.IntN(60), 0, 0, time.UTC).Format(time.RFC3339)
	}
	if g.rnd.IntN(3) == 0 {
		m["data"] = map[string]any{"note": "bring plates", "guests": g.rnd.IntN(200)}
	}
	if g.rnd.IntN(5) == 0 {
		m["schema_version"] = 7 // an unknown field: ignored
	}
	v, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	return v
}

func (g *orderGen) ev(order, typ, menu string) genEvent {
	id := g.eventID()
	r := &kgo.Record{Topic: g.topic, Key: []byte(order), Value: g.value(id, typ, order, menu)}
	if g.rnd.IntN(10) == 0 {
		r.Headers = []kgo.RecordHeader{{Key: "trace-id", Value: []byte(id)}}
	}
	return genEvent{rec: r, order: order, id: id, typ: typ, menu: menu}
}

// resend is the same record sent again (an upstream retry).
func resend(e genEvent) genEvent {
	e.rec = &kgo.Record{Topic: e.rec.Topic, Key: e.rec.Key, Value: e.rec.Value, Headers: e.rec.Headers}
	return e
}

func (g *orderGen) shuffle(s []genEvent) []genEvent {
	g.rnd.Shuffle(len(s), func(i, j int) { s[i], s[j] = s[j], s[i] })
	return s
}

// insertAfter inserts e at a random position after index i.
func (g *orderGen) insertAfter(s []genEvent, i int, e genEvent) []genEvent {
	j := i + 1 + g.rnd.IntN(len(s)-i)
	s = append(s, genEvent{})
	copy(s[j+1:], s[j:])
	s[j] = e
	return s
}

// order returns one order's events in the order they are sent.
func (g *orderGen) order() []genEvent {
	o := g.orderID()
	C := func(m string) genEvent { return g.ev(o, typeCustomer, m) }
	K := func(m string) genEvent { return g.ev(o, typeCatererOK, m) }
	D := func(m string) genEvent { return g.ev(o, typeCatererNo, m) }
	otherMenu := func(m string) string {
		for {
			if x := g.menu(); x != m {
				return x
			}
		}
	}
	var s []genEvent
	shape := ""
	switch g.rnd.IntN(11) {
	case 0:
		shape = "simple match"
		m := g.menu()
		s = g.shuffle([]genEvent{C(m), K(m)})
	case 1:
		shape = "match with duplicates"
		m := g.menu()
		s = g.shuffle([]genEvent{C(m), K(m)})
		for i := 0; i < 2; i++ { // sometimes both sides resent, sometimes after the match
			if i == 0 || g.rnd.IntN(2) == 0 {
				k := g.rnd.IntN(len(s))
				s = g.insertAfter(s, k, resend(s[k]))
			}
		}
	case 2:
		shape = "decline then confirm"
		m := g.menu()
		switch g.rnd.IntN(3) {
		case 0:
			s = []genEvent{D(m), C(m), K(m)}
		case 1:
			s = []genEvent{C(m), D(m), K(m)}
		default:
			s = []genEvent{D(m), K(m), C(m)}
		}
	case 3:
		shape = "confirm, decline, then customer"
		m := g.menu()
		s = []genEvent{K(m), D(m), C(m)}
	case 4:
		shape = "several menus, match on one"
		m := g.menu()
		s = []genEvent{C(m), K(m)}
		for range 1 + g.rnd.IntN(3) {
			x := otherMenu(m)
			switch g.rnd.IntN(3) {
			case 0:
				s = append(s, C(x))
			case 1:
				s = append(s, K(x))
			default:
				s = append(s, C(x), D(x))
			}
		}
		g.shuffle(s)
	case 5:
		shape = "customer confirms several, caterer one"
		ms := []string{"menu-a", "menu-b", "menu-c", ""}
		g.rnd.Shuffle(len(ms), func(i, j int) { ms[i], ms[j] = ms[j], ms[i] })
		n := 2 + g.rnd.IntN(3)
		for _, m := range ms[:n] {
			s = append(s, C(m))
		}
		s = append(s, K(ms[g.rnd.IntN(n)]))
		if g.rnd.IntN(3) == 0 {
			g.shuffle(s)
		}
	case 6:
		shape = "one side only"
		customerSide := g.rnd.IntN(2) == 0
		for range 1 + g.rnd.IntN(3) {
			m := g.menu()
			switch {
			case customerSide:
				s = append(s, C(m))
			case g.rnd.IntN(2) == 0:
				s = append(s, K(m))
			default:
				s = append(s, D(m))
			}
		}
	case 7:
		shape = "sides on different menus"
		m := g.menu()
		x := otherMenu(m)
		s = g.shuffle([]genEvent{C(m), K(x)})
	case 8:
		shape = "stragglers after confirmation"
		m := g.menu()
		s = g.shuffle([]genEvent{C(m), K(m)})
		for range 1 + g.rnd.IntN(3) {
			switch g.rnd.IntN(4) {
			case 0:
				s = append(s, C(otherMenu(m)))
			case 1:
				s = append(s, D(m))
			case 2:
				s = append(s, K(m))
			default:
				s = append(s, C(m))
			}
		}
	case 9:
		shape = "only other types"
		for range 1 + g.rnd.IntN(2) {
			s = append(s, g.ev(o, typeOther, g.menu()))
		}
	default:
		shape = "random"
		menus := []string{"", "menu-a", "menu-b"}
		for range 1 + g.rnd.IntN(8) {
			m := menus[g.rnd.IntN(len(menus))]
			switch g.rnd.IntN(7) {
			case 0, 1:
				s = append(s, C(m))
			case 2, 3:
				s = append(s, K(m))
			case 4, 5:
				s = append(s, D(m))
			default:
				s = append(s, g.ev(o, typeOther, m))
			}
			if g.rnd.IntN(5) == 0 {
				k := g.rnd.IntN(len(s))
				s = g.insertAfter(s, k, resend(s[k]))
			}
		}
	}
	g.shapes[shape]++
	// Noise on every shape: events of another type, and upstream retries.
	if g.rnd.IntN(4) == 0 {
		for range 1 + g.rnd.IntN(2) {
			s = g.insertAfter(s, g.rnd.IntN(len(s)+1)-1, g.ev(o, typeOther, g.menu()))
		}
	}
	if g.rnd.IntN(6) == 0 {
		k := g.rnd.IntN(len(s))
		s = g.insertAfter(s, k, resend(s[k]))
	}
	return s
}

// malformedKinds are the malformed shapes of docs/contract.md; each returns the
// key, value and substrings its dlq-reason must contain.
var malformedKinds = []struct {
	name string
	make func(order, id string) (key, value []byte, reasonHas []string)
}{
	{"not JSON", func(o, id string) ([]byte, []byte, []string) {
		return []byte(o), []byte("CustomerConfirmedMenu " + o + " {"), []string{"JSON object"}
	}},
	{"JSON array", func(o, id string) ([]byte, []byte, []string) {
		return []byte(o), fmt.Appendf(nil, `[{"id":%q,"type":"CustomerConfirmedMenu","order_id":%q}]`, id, o), []string{"JSON object"}
	}},
	{"JSON null", func(o, id string) ([]byte, []byte, []string) {
		return []byte(o), []byte("null"), []string{"JSON object"}
	}},
	{"missing id", func(o, id string) ([]byte, []byte, []string) {
		return []byte(o), fmt.Appendf(nil, `{"type":"CustomerConfirmedMenu","order_id":%q,"menu_id":"menu-a"}`, o), []string{`\bid\b`, "missing"}
	}},
	{"empty type", func(o, id string) ([]byte, []byte, []string) {
		return []byte(o), fmt.Appendf(nil, `{"id":%q,"type":"","order_id":%q}`, id, o), []string{"type", "empty"}
	}},
	{"order_id differs from key", func(o, id string) ([]byte, []byte, []string) {
		other := "other-" + o
		if len(other) > 128 { // differ from the key, not over the limit
			other = "X" + o[1:]
		}
		return []byte(o), fmt.Appendf(nil, `{"id":%q,"type":"CatererConfirmedMenu","order_id":%q}`, id, other),
			[]string{"order_id", regexp.QuoteMeta(o[:min(len(o), 30)]), regexp.QuoteMeta(other[:min(len(other), 30)])}
	}},
	{"empty key", func(o, id string) ([]byte, []byte, []string) {
		return []byte{}, fmt.Appendf(nil, `{"id":%q,"type":"CustomerConfirmedMenu","order_id":%q}`, id, o), []string{"key"}
	}},
	{"id over 128 bytes", func(o, id string) ([]byte, []byte, []string) {
		return []byte(o), fmt.Appendf(nil, `{"id":%q,"type":"CustomerConfirmedMenu","order_id":%q}`, strings.Repeat("x", 129), o), []string{`\bid\b`, "128"}
	}},
	{"menu_id over 128 bytes", func(o, id string) ([]byte, []byte, []string) {
		return []byte(o), fmt.Appendf(nil, `{"id":%q,"type":"CatererConfirmedMenu","order_id":%q,"menu_id":%q}`, id, o, strings.Repeat("y", 129)), []string{"menu_id", "128"}
	}},
}

func (g *orderGen) malformed(kind int, order string) genEvent {
	k := malformedKinds[kind]
	key, value, has := k.make(order, g.eventID())
	r := &kgo.Record{Topic: g.topic, Key: key, Value: value}
	if g.rnd.IntN(3) == 0 {
		r.Headers = []kgo.RecordHeader{{Key: "origin", Value: []byte("upstream-" + g.phase)}, {Key: "empty", Value: nil}}
	}
	return genEvent{rec: r, malformed: true, kind: k.name, reasonHas: has}
}

// interleave merges sequences in a uniformly random way that keeps each
// sequence's own order (an order's events share a key, so a partition).
func interleave(rnd *rand.Rand, seqs [][]genEvent) []genEvent {
	var picks []int
	for i, s := range seqs {
		for range s {
			picks = append(picks, i)
		}
	}
	rnd.Shuffle(len(picks), func(i, j int) { picks[i], picks[j] = picks[j], picks[i] })
	next := make([]int, len(seqs))
	out := make([]genEvent, 0, len(picks))
	for _, i := range picks {
		out = append(out, seqs[i][next[i]])
		next[i]++
	}
	return out
}

// generate makes n orders plus malformedPerKind records of every malformed
// shape, some keyed like (and interleaved with) real orders, all interleaved.
func (g *orderGen) generate(n, malformedPerKind int) []genEvent {
	var seqs [][]genEvent
	for range n {
		seqs = append(seqs, g.order())
	}
	for kind := range malformedKinds {
		for range malformedPerKind {
			if g.rnd.IntN(2) == 0 && len(seqs) > 0 {
				i := g.rnd.IntN(len(seqs))
				if s := seqs[i]; len(s) > 0 && !s[0].malformed {
					bad := g.malformed(kind, s[0].order)
					seqs[i] = g.insertAfter(s, g.rnd.IntN(len(s)+1)-1, bad)
					continue
				}
			}
			seqs = append(seqs, []genEvent{g.malformed(kind, fmt.Sprintf("%s-bad-%d", g.phase, g.rnd.IntN(1000)))})
		}
	}
	return interleave(g.rnd, seqs)
}

// ---------------------------------------------------------------------------
// The oracle: the contract's process rules, written again from the text.

type oracleEntry struct{ id, typ, menu string }

type oracleOrder struct {
	history   []oracleEntry
	customer  map[string]bool   // rule 2: confirmations accumulate
	caterer   map[string]string // rule 3: the latest answer stands
	status    string            // pending, confirmed
	menu      string            // confirmed: the menu
	causation string            // confirmed: the event that completed the match
}

type oracleCounts struct {
	applied, dup, terminal, other, dlq, full, commands int64
}

type oracle struct {
	maxHistory int
	orders     map[string]*oracleOrder
	counts     oracleCounts
	malformed  []genEvent
	fed        int
}

func newOracle(maxHistory int) *oracle {
	return &oracle{maxHistory: maxHistory, orders: map[string]*oracleOrder{}}
}

// feed applies one record, in the order the partition holds it.
func (o *oracle) feed(e genEvent) {
	o.fed++
	if e.malformed {
		o.counts.dlq++
		o.malformed = append(o.malformed, e)
		return
	}
	switch e.typ {
	case typeCustomer, typeCatererOK, typeCatererNo:
	default:
		o.counts.other++ // someone else's event on a shared topic
		return
	}
	ord := o.orders[e.order]
	if ord == nil {
		ord = &oracleOrder{customer: map[string]bool{}, caterer: map[string]string{}, status: "pending"}
		o.orders[e.order] = ord
	}
	for _, h := range ord.history { // rule 1
		if h.id == e.id {
			o.counts.dup++
			return
		}
	}
	if ord.status != "pending" { // rule 5
		o.counts.terminal++
		return
	}
	if len(ord.history) >= o.maxHistory { // rule 8
		o.counts.full++
		o.counts.dlq++
		o.malformed = append(o.malformed, e)
		return
	}
	o.counts.applied++
	ord.history = append(ord.history, oracleEntry{e.id, e.typ, e.menu})
	switch e.typ {
	case typeCustomer:
		ord.customer[e.menu] = true
	case typeCatererOK:
		ord.caterer[e.menu] = "confirmed"
	case typeCatererNo:
		ord.caterer[e.menu] = "declined"
	}
	if ord.customer[e.menu] && ord.caterer[e.menu] == "confirmed" { // rule 4
		ord.status, ord.menu, ord.causation = "confirmed", e.menu, e.id
		ord.history = append(ord.history, oracleEntry{state.CommandID(e.order), typeIssued, e.menu})
		o.counts.commands++
	}
}

// ---------------------------------------------------------------------------
// Checks against the oracle.

// processorTotals sums the counters of every processor that ran.
func processorTotals(ps []*processor.Processor[state.Order]) oracleCounts {
	var c oracleCounts
	for _, p := range ps {
		s := p.Stats()
		c.applied += s.Applied.Load()
		c.dup += s.SkippedDuplicate.Load()
		c.terminal += s.SkippedTerminal.Load()
		c.other += s.SkippedOtherType.Load()
		c.dlq += s.DeadLettered.Load()
		c.full += s.HistoryFull.Load()
		c.commands += s.CommandsIssued.Load()
	}
	return c
}

func (c oracleCounts) records() int64 { return c.applied + c.dup + c.terminal + c.other + c.dlq }

// waitAccounted waits until the processors have accounted for every record
// fed to the oracle, then requires each count to be exact.
func waitAccounted(t *testing.T, o *oracle, ps []*processor.Processor[state.Order]) {
	t.Helper()
	eventually(t, 90*time.Second, fmt.Sprintf("%d records accounted for", o.fed), func() bool {
		return processorTotals(ps).records() >= int64(o.fed)
	})
	got := processorTotals(ps)
	require.Equal(t, o.counts, got, "processor counters (applied, dup, terminal, other, dlq, full, commands) differ from the oracle's")
}

func headerValue(r *kgo.Record, key string) (string, int) {
	v, n := "", 0
	for _, h := range r.Headers {
		if h.Key == key {
			v = string(h.Value)
			n++
		}
	}
	return v, n
}

// verifyCommands requires the read_committed commands topic to hold exactly
// the oracle's commands, once each.
func verifyCommands(t *testing.T, addr string, names topics.Names, o *oracle) {
	t.Helper()
	recs := readAll(t, addr, names.Commands)
	seen := map[string]topics.ConfirmOrder{}
	for _, r := range recs {
		c, err := topics.DecodeConfirmOrder(r.Value)
		require.NoError(t, err, "command %s", r.Value)
		_, dup := seen[c.OrderID]
		require.False(t, dup, "duplicate ConfirmOrder for order %q: %s and %+v", c.OrderID, r.Value, seen[c.OrderID])
		seen[c.OrderID] = c
		require.Equal(t, c.OrderID, string(r.Key), "record key")
		typ, n := headerValue(r, "type")
		require.Equal(t, 1, n, "one type header")
		require.Equal(t, "ConfirmOrder", typ)
		require.Equal(t, "ConfirmOrder", c.Type)
		require.Equal(t, state.CommandID(c.OrderID), c.CommandID)
		require.Equal(t, c.OrderID, c.CorrelationID)
		_, err = time.Parse(time.RFC3339Nano, c.IssuedAt)
		require.NoError(t, err, "issued_at")
		ord := o.orders[c.OrderID]
		require.NotNil(t, ord, "ConfirmOrder for order %q that the oracle never saw", c.OrderID)
		require.Equal(t, "confirmed", ord.status, "ConfirmOrder for order %q, which has no match: history %v", c.OrderID, ord.history)
		require.Equal(t, ord.menu, c.MenuID, "menu of order %q", c.OrderID)
		require.Equal(t, ord.causation, c.CausationID, "causation of order %q", c.OrderID)
	}
	var missing []string
	for id, ord := range o.orders {
		if _, ok := seen[id]; !ok && ord.status == "confirmed" {
			missing = append(missing, id)
		}
	}
	require.Empty(t, missing, "orders with a match but no ConfirmOrder")
	require.EqualValues(t, o.counts.commands, len(seen))
}

// verifyDLQ requires one dead letter per malformed record, with the original
// key, value and headers and the coordinates and reason headers.
func verifyDLQ(t *testing.T, addr string, names topics.Names, o *oracle) {
	t.Helper()
	recs := readAll(t, addr, names.DLQ)
	require.Len(t, recs, len(o.malformed), "dead letters")
	byCoord := map[string]*kgo.Record{}
	for _, r := range recs {
		p, _ := headerValue(r, "dlq-partition")
		off, _ := headerValue(r, "dlq-offset")
		c := p + "/" + off
		require.NotContains(t, byCoord, c, "two dead letters for one input record")
		byCoord[c] = r
	}
	for _, m := range o.malformed {
		c := fmt.Sprintf("%d/%d", m.rec.Partition, m.rec.Offset)
		d := byCoord[c]
		require.NotNil(t, d, "no dead letter for the %s record at %s: %q", m.kind, c, m.rec.Value)
		require.True(t, bytes.Equal(m.rec.Key, d.Key), "key: want %q got %q", m.rec.Key, d.Key)
		require.True(t, bytes.Equal(m.rec.Value, d.Value), "value: want %q got %q", m.rec.Value, d.Value)
		require.GreaterOrEqual(t, len(d.Headers), len(m.rec.Headers)+4)
		for i, h := range m.rec.Headers {
			require.Equal(t, h.Key, d.Headers[i].Key, "original header %d", i)
			require.True(t, bytes.Equal(h.Value, d.Headers[i].Value), "original header %q", h.Key)
		}
		for k, want := range map[string]string{
			"dlq-topic":     names.Events,
			"dlq-partition": strconv.Itoa(int(m.rec.Partition)),
			"dlq-offset":    strconv.FormatInt(m.rec.Offset, 10),
		} {
			got, n := headerValue(d, k)
			require.Equal(t, 1, n, "header %s once", k)
			require.Equal(t, want, got, "header %s", k)
		}
		reason, n := headerValue(d, "dlq-reason")
		require.Equal(t, 1, n, "one dlq-reason")
		require.NotEmpty(t, reason)
		for _, sub := range m.reasonHas {
			require.Regexp(t, sub, reason, "dlq-reason of the %s record", m.kind)
		}
	}
}

// latestChangelog returns the latest changelog record of every key, and
// requires every record to sit in the partition of its key.
func latestChangelog(t *testing.T, addr string, names topics.Names, parts int32) map[string]*kgo.Record {
	t.Helper()
	latest := map[string]*kgo.Record{}
	for _, r := range readAll(t, addr, names.Changelog) {
		require.Equal(t, topics.PartitionFor(string(r.Key), parts), r.Partition,
			"changelog record for %q is not in its events partition", r.Key)
		latest[string(r.Key)] = r // readAll returns a partition's records in offset order
	}
	return latest
}

// verifyChangelog requires the latest changelog record of every order to be
// the oracle's history, and no process for any other key.
func verifyChangelog(t *testing.T, addr string, names topics.Names, o *oracle) {
	t.Helper()
	latest := latestChangelog(t, addr, names, e2eEventsPartsNum)
	for key, r := range latest {
		if r.Value == nil {
			continue
		}
		require.Contains(t, o.orders, key, "changelog holds a process for %q, which the oracle never applied", key)
	}
	for id, ord := range o.orders {
		r := latest[id]
		require.NotNil(t, r, "no changelog record for order %q", id)
		require.NotNil(t, r.Value, "order %q tombstoned", id)
		gotID, hist, err := topics.DecodeProcess(r.Key, r.Value)
		require.NoError(t, err)
		require.Equal(t, id, gotID)
		got := make([]oracleEntry, len(hist))
		var prev state.Stamp
		for i, h := range hist {
			got[i] = oracleEntry{h.ID, h.Type, h.Ref}
			require.NotZero(t, h.At, "order %q history[%d] has no time", id, i)
			require.GreaterOrEqual(t, h.At, prev, "order %q history goes back in time", id)
			prev = h.At
		}
		require.Equal(t, ord.history, got, "history of order %q", id)
		// The status the changelog says, derived here from its history.
		status := "pending"
		if n := len(hist); n > 0 {
			switch hist[n-1].Type {
			case typeIssued:
				status = "confirmed"
				require.Equal(t, state.CommandID(id), hist[n-1].ID)
			case typeExpired:
				status = "expired"
			}
		}
		require.Equal(t, ord.status, status, "status of order %q", id)
	}
}

func verifyAll(t *testing.T, addr string, names topics.Names, o *oracle) {
	t.Helper()
	verifyCommands(t, addr, names, o)
	verifyDLQ(t, addr, names, o)
	verifyChangelog(t, addr, names, o)
}

// produceAndFeed produces evs in one batch (which fills in their partitions
// and offsets) and feeds them to the oracle in the same order.
func produceAndFeed(t *testing.T, addr string, o *oracle, evs []genEvent) {
	t.Helper()
	if len(evs) == 0 {
		return
	}
	rs := make([]*kgo.Record, len(evs))
	for i, e := range evs {
		rs[i] = e.rec
	}
	produce(t, addr, rs...)
	for _, e := range evs {
		if !e.malformed {
			require.Equal(t, topics.PartitionFor(e.order, e2eEventsPartsNum), e.rec.Partition, "the test producer must partition like Kafka")
		}
		o.feed(e)
	}
}

func splitBatches(evs []genEvent, n int) [][]genEvent {
	var out [][]genEvent
	size := (len(evs) + n - 1) / n
	for len(evs) > 0 {
		k := min(size, len(evs))
		out = append(out, evs[:k])
		evs = evs[k:]
	}
	return out
}

func testSeed(t *testing.T) uint64 {
	t.Helper()
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("TEST_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		require.NoError(t, err, "TEST_SEED")
		seed = v
	}
	t.Logf("seed %d (rerun with TEST_SEED=%d)", seed, seed)
	return seed
}

// TestGeneratedOrdersExactlyOnce checks the processor against an oracle over
// generated orders of every shape, then across a processor restart in the
// middle of a stream and a full broker restart.
func TestGeneratedOrdersExactlyOnce(t *testing.T) {
	seed := testSeed(t)
	began := time.Now()
	since := func() time.Duration { return time.Since(began).Round(time.Millisecond) }
	rnd := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	dataDir := t.TempDir()
	b := startBroker(t, dataDir)
	addr := b.Addr()
	names := testNames(t)
	cfg := testConfig(t, addr, names)
	cfg.Logger = quietLogger(t)
	o := newOracle(cfg.Limits.MaxHistory)
	var ps []*processor.Processor[state.Order] // every processor that ran: their counters add up
	var phase1, phase2 []genEvent

	// The phases before the broker restart run as a subtest so that their
	// clients close while the first broker still runs (closing a client of
	// a stopped broker waits a second for each fetch session).
	ok := t.Run("processor restart", func(t *testing.T) {
		// Phase 1: ~1400 orders in three batches while the processor runs.
		r1 := start(t, cfg)
		ps = append(ps, r1.p)
		g1 := newOrderGen(rnd, names.Events, "p1")
		phase1 = g1.generate(1400, 4)
		for _, batch := range splitBatches(phase1, 3) {
			produceAndFeed(t, addr, o, batch)
		}
		t.Logf("%v phase 1: %d records produced, shapes %v", since(), len(phase1), g1.shapes)
		waitAccounted(t, o, ps)
		verifyAll(t, addr, names, o)
		require.Positive(t, o.counts.commands)
		require.Positive(t, o.counts.dup)
		require.Positive(t, o.counts.terminal)
		require.Positive(t, o.counts.other)
		require.Len(t, g1.shapes, 11, "every shape generated")
		t.Logf("%v phase 1 verified: oracle %+v", since(), o.counts)

		// Phase 2: new orders, plus retries, stragglers and late
		// completions of phase-1 orders; the processor is stopped in the
		// middle of the stream and a new one takes over with the same
		// configuration.
		g2 := newOrderGen(rnd, names.Events, "p2")
		seqs := [][]genEvent{g2.generate(600, 2)}
		var p1Good []genEvent
		for _, e := range phase1 {
			if !e.malformed {
				p1Good = append(p1Good, e)
			}
		}
		for range 300 {
			e := p1Good[rnd.IntN(len(p1Good))]
			if rnd.IntN(2) == 0 {
				seqs = append(seqs, []genEvent{resend(e)})
			} else {
				typ := []string{typeCustomer, typeCatererOK, typeCatererNo, typeOther}[rnd.IntN(4)]
				seqs = append(seqs, []genEvent{g2.ev(e.order, typ, e.menu)})
			}
		}
		phase2 = interleave(rnd, seqs)
		batches := splitBatches(phase2, 4)
		before := o.fed
		produceAndFeed(t, addr, o, batches[0])
		waitAccounted(t, o, ps)
		produceAndFeed(t, addr, o, batches[1])
		eventually(t, 60*time.Second, "the processor started on the second batch", func() bool {
			return processorTotals(ps).records() > int64(before+len(batches[0]))
		})
		r1.stop(t)
		t.Logf("%v stopped the first processor after %d of %d phase-2 records", since(), processorTotals(ps).records()-int64(before), len(phase2))
		produceAndFeed(t, addr, o, batches[2]) // while no processor runs
		r2 := start(t, cfg)
		ps = append(ps, r2.p)
		produceAndFeed(t, addr, o, batches[3])
		waitAccounted(t, o, ps)
		verifyAll(t, addr, names, o)
		require.Positive(t, r2.p.Stats().Restored.Load(), "the second processor restored processes from the changelog")
		t.Logf("%v phase 2 verified: %d records, oracle %+v", since(), len(phase2), o.counts)
		r2.stop(t)
	})
	if !ok {
		return
	}

	// Phase 3: a full broker restart on the same data directory, then a new
	// processor; every event of already-matched orders is sent again (no
	// command may follow) alongside new orders (their commands must).
	_, portStr, err := net.SplitHostPort(addr)
	require.NoError(t, err)
	port, err := strconv.Atoi(portStr)
	require.NoError(t, err)
	b.Close()
	var b2 *embedded.Broker
	eventually(t, 30*time.Second, "the broker restarted on the same port", func() bool {
		b2, err = embedded.Start(embedded.Options{Port: port, DataDir: dataDir})
		return err == nil
	})
	t.Cleanup(b2.Close)
	require.Equal(t, addr, b2.Addr())
	t.Logf("%v broker restarted", since())

	r3 := start(t, cfg)
	ps = append(ps, r3.p)
	commandsBefore := o.counts.commands
	var confirmed []string
	for id, ord := range o.orders {
		if ord.status == "confirmed" {
			confirmed = append(confirmed, id)
		}
	}
	slices.Sort(confirmed) // map order is not seeded
	rnd.Shuffle(len(confirmed), func(i, j int) { confirmed[i], confirmed[j] = confirmed[j], confirmed[i] })
	matched := map[string]bool{}
	for _, id := range confirmed[:min(150, len(confirmed))] {
		matched[id] = true
	}
	var seqs [][]genEvent
	for _, e := range append(append([]genEvent{}, phase1...), phase2...) {
		if !e.malformed && matched[e.order] {
			seqs = append(seqs, []genEvent{resend(e)})
		}
	}
	g3 := newOrderGen(rnd, names.Events, "p3")
	fresh := g3.generate(60, 0)
	seqs = append(seqs, fresh)
	phase3 := interleave(rnd, seqs)
	produceAndFeed(t, addr, o, phase3)
	waitAccounted(t, o, ps)
	verifyAll(t, addr, names, o)
	require.Positive(t, r3.p.Stats().Restored.Load(), "the processor restored processes after the broker restart")
	for id := range matched {
		require.Equal(t, "confirmed", o.orders[id].status)
	}
	t.Logf("%v phase 3 verified: %d records (%d resent of %d matched orders), new commands %d, oracle %+v",
		since(), len(phase3), len(phase3)-len(fresh), len(matched), o.counts.commands-commandsBefore, o.counts)
}

// TestGeneratedOrdersBatchedInParallel: the same oracle, with a backlog
// published before the processor starts and several workers. Full polls
// are topped up to MaxBatchRecords, so a transaction spans several polls
// and partitions that the workers apply in parallel; with large batches a
// partition's records are also split across the workers by store shard.
// The output must be exactly what one record at a time would give.
func TestGeneratedOrdersBatchedInParallel(t *testing.T) {
	for _, tc := range []struct {
		name                                string
		poll, batch, workers, members, size int
	}{
		{"tiny polls, partitions in parallel", 7, 120, 3, 1, 600},
		{"large batches, partitions split by shard", 200, 3000, 4, 1, 1500},
		{"three members in one process", 50, 400, 2, 3, 1200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			seed := testSeed(t)
			rnd := rand.New(rand.NewPCG(seed, seed^0x51ed27))
			b := startBroker(t, "")
			addr := b.Addr()
			names := testNames(t)
			cfg := testConfig(t, addr, names)
			cfg.Logger = quietLogger(t)
			cfg.MaxPollRecords, cfg.MaxBatchRecords, cfg.Workers, cfg.Members = tc.poll, tc.batch, tc.workers, tc.members
			o := newOracle(cfg.Limits.MaxHistory)
			g := newOrderGen(rnd, names.Events, "bp")
			evs := g.generate(tc.size, 3)
			r := start(t, cfg)
			waitForTopics(t, addr, names)
			r.stop(t) // the topics exist; the backlog builds while nothing runs
			produceAndFeed(t, addr, o, evs)
			r = start(t, cfg)
			ps := []*processor.Processor[state.Order]{r.p}
			waitAccounted(t, o, ps)
			verifyAll(t, addr, names, o)
			st := r.p.Stats()
			perTxn := float64(processorTotals(ps).records()) / float64(st.TxnCommitted.Load())
			t.Logf("%d records in %d transactions (%.1f per transaction, polls of %d)", len(evs), st.TxnCommitted.Load(), perTxn, cfg.MaxPollRecords)
			require.Greater(t, perTxn, float64(cfg.MaxPollRecords), "full polls were not topped up into larger transactions")
			require.Len(t, r.p.Held(), int(cfg.Spec.Partitions), "the members together hold every partition")
			groups, err := kadm.NewClient(client(t, addr)).DescribeGroups(context.Background(), cfg.Group)
			require.NoError(t, err)
			described := groups[cfg.Group]
			require.Len(t, described.Members, tc.members, "one group member per member of the processor")
			for _, m := range described.Members {
				c, ok := m.Assigned.AsConsumer()
				require.True(t, ok)
				n := 0
				for _, tp := range c.Topics {
					n += len(tp.Partitions)
				}
				require.Positive(t, n, "member %s (%s) holds partitions", m.MemberID, *m.InstanceID)
			}
		})
	}
}
