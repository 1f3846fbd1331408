package bench

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/catering-match/catering-match/state"
	"github.com/catering-match/catering-match/topics"
)

// seqHeader carries a record's position in its workload, so that the copy
// loop's output can be matched to the produce time of its input without
// decoding it (a duplicate event has its own position).
const seqHeader = "bench-seq"

// genEvent is one generated input record.
type genEvent struct {
	seq   []byte // position in the workload, decimal
	key   []byte
	value []byte
}

func (e genEvent) record(topic string) *kgo.Record {
	return &kgo.Record{Topic: topic, Key: e.key, Value: e.value,
		Headers: []kgo.RecordHeader{{Key: seqHeader, Value: e.seq}}}
}

// workload is a stream of events for a number of orders, interleaved
// across orders as upstream producers would write them, each order's own
// events in order.
type workload struct {
	events []genEvent
	orders int
	// What the service must do with them, from the state model itself.
	commands int            // ConfirmOrder commands
	causes   map[string]int // causation event id -> index in events
	mix      Mix
}

// Mix counts the generated orders by kind.
type Mix struct {
	Match      int `json:"match"`       // customer and caterer confirm the same menu
	Duplicate  int `json:"duplicate"`   // a match with one event delivered twice
	Decline    int `json:"decline"`     // the caterer declines a menu; half then match on another
	NeverMatch int `json:"never_match"` // the sides never agree: the process stays pending
}

type orderGen struct {
	rng *rand.Rand
}

func newOrderGen(seed uint64, stream uint64) *orderGen {
	return &orderGen{rng: rand.New(rand.NewPCG(seed, stream))}
}

// uuid returns a random (seeded) UUID version 4 string, the shape of
// upstream event ids.
func (g *orderGen) uuid() string {
	var u uuid.UUID
	binary.LittleEndian.PutUint64(u[:8], g.rng.Uint64())
	binary.LittleEndian.PutUint64(u[8:], g.rng.Uint64())
	u[6] = (u[6] & 0x0f) | 0x40
	u[8] = (u[8] & 0x3f) | 0x80
	return u.String()
}

func (g *orderGen) menu() string { return fmt.Sprintf("menu-%d", 1+g.rng.IntN(20)) }

func (g *orderGen) otherMenu(m string) string {
	for {
		if o := g.menu(); o != m {
			return o
		}
	}
}

func (g *orderGen) event(typ, order, menu string) topics.Event {
	return topics.Event{ID: g.uuid(), Type: typ, OrderID: order, MenuID: menu,
		OccurredAt: time.Unix(1_790_000_000+int64(g.rng.IntN(1_000_000)), 0).UTC().Format(time.RFC3339)}
}

// order returns one order's events in the order they are published, and
// adds its kind to mix. The mix: 70 % match, 10 % match with a duplicate,
// 10 % with a decline (half of them match on another menu later), 10 %
// never match.
func (g *orderGen) order(id string, mix *Mix) []topics.Event {
	const (
		cust    = state.CustomerConfirmedMenu
		cat     = state.CatererConfirmedMenu
		decline = state.CatererDeclinedMenu
	)
	m := g.menu()
	pair := func() []topics.Event {
		a, b := g.event(cust, id, m), g.event(cat, id, m)
		if g.rng.IntN(2) == 0 {
			a, b = b, a
		}
		return []topics.Event{a, b}
	}
	switch r := g.rng.IntN(100); {
	case r < 70:
		mix.Match++
		return pair()
	case r < 80:
		mix.Duplicate++
		evs := pair()
		dup := evs[g.rng.IntN(2)]
		at := 1 + g.rng.IntN(2) // after the original, before or after the match
		if dup.ID == evs[1].ID {
			at = 2
		}
		return append(evs[:at], append([]topics.Event{dup}, evs[at:]...)...)
	case r < 90:
		mix.Decline++
		evs := []topics.Event{g.event(cust, id, m), g.event(decline, id, m)}
		if g.rng.IntN(2) == 0 {
			m2 := g.otherMenu(m)
			evs = append(evs, g.event(cat, id, m2), g.event(cust, id, m2))
		}
		return evs
	default:
		mix.NeverMatch++
		if g.rng.IntN(2) == 0 {
			return []topics.Event{g.event(cust, id, m)}
		}
		return []topics.Event{g.event(cust, id, m), g.event(cat, id, g.otherMenu(m))}
	}
}

// newWorkload generates orders until it has at least minOrders orders and
// minEvents events. Order ids are prefix-<n>.
func newWorkload(prefix string, minOrders, minEvents int, seed, stream uint64) (*workload, error) {
	g := newOrderGen(seed, stream)
	m, err := state.NewCatering(state.DefaultLimits())
	if err != nil {
		return nil, err
	}
	w := &workload{causes: map[string]int{}}
	now := time.Now()
	const chunk = 256 // orders whose events interleave
	for w.orders < minOrders || len(w.events) < minEvents {
		n := chunk
		if w.orders < minOrders {
			n = min(chunk, minOrders-w.orders)
		}
		var pending [][]topics.Event
		for range n {
			id := fmt.Sprintf("%s-%08d", prefix, w.orders)
			w.orders++
			evs := g.order(id, &w.mix)
			// The model says which event completes the match.
			var proc *state.Process[state.Order]
			for _, ev := range evs {
				out := m.Apply(proc, id, state.Entry{ID: ev.ID, Type: ev.Type, Ref: ev.MenuID}, now)
				proc = out.Process
				for _, d := range out.Decisions {
					if d.Type == state.ConfirmOrderIssued {
						w.commands++
						w.causes[ev.ID] = -1 // index set below
					}
				}
			}
			pending = append(pending, evs)
		}
		// A random merge of the chunk's orders, each order's events in order.
		for len(pending) > 0 {
			i := g.rng.IntN(len(pending))
			ev := pending[i][0]
			if pending[i] = pending[i][1:]; len(pending[i]) == 0 {
				pending[i] = pending[len(pending)-1]
				pending = pending[:len(pending)-1]
			}
			v, err := topics.EncodeEvent(ev)
			if err != nil {
				return nil, err
			}
			if c, ok := w.causes[ev.ID]; ok && c < 0 {
				w.causes[ev.ID] = len(w.events)
			}
			seq := []byte(strconv.Itoa(len(w.events)))
			w.events = append(w.events, genEvent{seq: seq, key: []byte(ev.OrderID), value: v})
		}
	}
	return w, nil
}
