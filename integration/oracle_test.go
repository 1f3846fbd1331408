package integration

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"

	"github.com/google/uuid"
)

// This file is the suite's oracle: a generator of orders of every shape and
// the expected outcome computed from the contract's rules alone. It imports
// nothing from the service (not state/, not topics/): a bug shared by the
// service and its oracle would otherwise pass unseen.

// commandNamespace is the documented UUID namespace of ConfirmOrder ids
// (README, "Wire contract").
var commandNamespace = uuid.MustParse("6f2b8c0e-3a6d-5b9e-8f41-6c1f0e2a9d57")

func expectedCommandID(order string) string {
	return uuid.NewSHA1(commandNamespace, []byte("ConfirmOrder/"+order)).String()
}

const (
	customerConfirmed = "CustomerConfirmedMenu"
	catererConfirmed  = "CatererConfirmedMenu"
	catererDeclined   = "CatererDeclinedMenu"
	otherType         = "OrderNoteAdded"
)

// input is one record to publish.
type input struct {
	key, value []byte
	malformed  bool
}

// genEvent is a generated event before encoding.
type genEvent struct {
	ID, Type, Order, Menu string
}

func (e genEvent) record() input {
	m := map[string]any{"id": e.ID, "type": e.Type, "order_id": e.Order,
		"occurred_at": "2026-11-25T10:00:00Z", "data": map[string]any{"source": "it"}}
	if e.Menu != "" {
		m["menu_id"] = e.Menu
	}
	v, _ := json.Marshal(m)
	return input{key: []byte(e.Order), value: v}
}

// expectation is what docs/contract.md says must come out for a workload.
type expectation struct {
	commands  map[string]expectedCommand // by order id
	malformed map[string]int             // key+"\x00"+value -> count
	records   int                        // all input records
	orders    map[string]*oracleProcess
}

type expectedCommand struct{ menu, causation string }

// oracleProcess applies docs/contract.md rules 1-5 to one order (no deadline or
// retention: the suite runs well inside both).
type oracleProcess struct {
	seen      map[string]bool
	customer  map[string]bool
	caterer   map[string]string // menu -> "confirmed" | "declined"
	confirmed bool
	menu      string
	applied   []string   // ids of the applied events, in order
	events    []genEvent // for reports
}

func (p *oracleProcess) apply(e genEvent) (matched bool) {
	p.events = append(p.events, e)
	switch e.Type {
	case customerConfirmed, catererConfirmed, catererDeclined:
	default:
		return false // someone else's event
	}
	if p.seen[e.ID] || p.confirmed {
		return false // duplicate, or terminal
	}
	p.seen[e.ID] = true
	p.applied = append(p.applied, e.ID)
	switch e.Type {
	case customerConfirmed:
		p.customer[e.Menu] = true
	case catererConfirmed:
		p.caterer[e.Menu] = "confirmed"
	case catererDeclined:
		p.caterer[e.Menu] = "declined"
	}
	if p.customer[e.Menu] && p.caterer[e.Menu] == "confirmed" {
		p.confirmed, p.menu = true, e.Menu
		return true
	}
	return false
}

// workload generates orders and their events. Each order's events keep
// their order (one key, one partition); orders interleave at random.
func workload(seed uint64, orders int, prefix string) ([]input, *expectation) {
	r := rand.New(rand.NewPCG(seed, 42))
	exp := &expectation{commands: map[string]expectedCommand{}, malformed: map[string]int{}, orders: map[string]*oracleProcess{}}
	var perOrder [][]input
	for i := range orders {
		order := prefix + strconv.Itoa(i)
		evs := orderEvents(r, order)
		p := &oracleProcess{seen: map[string]bool{}, customer: map[string]bool{}, caterer: map[string]string{}}
		exp.orders[order] = p
		var recs []input
		for _, e := range evs {
			if p.apply(e) {
				exp.commands[order] = expectedCommand{menu: e.Menu, causation: e.ID}
			}
			recs = append(recs, e.record())
		}
		// Some orders also carry malformed records of every shape.
		if r.IntN(10) == 0 {
			bad := malformedRecord(r, order)
			exp.malformed[string(bad.key)+"\x00"+string(bad.value)]++
			recs = append(recs, bad)
		}
		perOrder = append(perOrder, recs)
	}
	// Interleave: repeatedly take the next record of a random order.
	var out []input
	for len(perOrder) > 0 {
		i := r.IntN(len(perOrder))
		out = append(out, perOrder[i][0])
		if perOrder[i] = perOrder[i][1:]; len(perOrder[i]) == 0 {
			perOrder[i] = perOrder[len(perOrder)-1]
			perOrder = perOrder[:len(perOrder)-1]
		}
	}
	exp.records = len(out)
	return out, exp
}

// orderEvents makes one order's events: a scripted shape (so every shape
// appears) or a random walk over types, menus and resends.
func orderEvents(r *rand.Rand, order string) []genEvent {
	n := 0
	ev := func(typ, menu string) genEvent {
		n++
		return genEvent{ID: fmt.Sprintf("%s-e%d-%x", order, n, r.Uint32()), Type: typ, Order: order, Menu: menu}
	}
	menus := []string{"", "menu-a", "menu-b"}
	m := menus[r.IntN(len(menus))]
	var evs []genEvent
	switch r.IntN(12) {
	case 0: // customer then caterer
		evs = []genEvent{ev(customerConfirmed, m), ev(catererConfirmed, m)}
	case 1: // caterer then customer
		evs = []genEvent{ev(catererConfirmed, m), ev(customerConfirmed, m)}
	case 2: // duplicates of both, resent after the match too
		c, k := ev(customerConfirmed, m), ev(catererConfirmed, m)
		evs = []genEvent{c, c, k, c, k}
	case 3: // decline, then confirm: a match
		evs = []genEvent{ev(customerConfirmed, m), ev(catererDeclined, m), ev(catererConfirmed, m)}
	case 4: // confirm, then decline, then the customer: no match
		evs = []genEvent{ev(catererConfirmed, m), ev(catererDeclined, m), ev(customerConfirmed, m)}
	case 5: // several menus, the match on the second
		evs = []genEvent{ev(customerConfirmed, "menu-a"), ev(customerConfirmed, "menu-b"), ev(catererDeclined, "menu-a"), ev(catererConfirmed, "menu-b")}
	case 6: // only one side: never matches
		evs = []genEvent{ev(customerConfirmed, m), ev(otherType, m)}
	case 7: // sides on different menus: never matches
		evs = []genEvent{ev(customerConfirmed, "menu-a"), ev(catererConfirmed, "menu-b")}
	case 8: // stragglers after the match
		evs = []genEvent{ev(customerConfirmed, m), ev(catererConfirmed, m), ev(catererDeclined, m), ev(customerConfirmed, "menu-b"), ev(catererConfirmed, "menu-b")}
	case 9: // other teams' events around a match
		evs = []genEvent{ev(otherType, ""), ev(catererConfirmed, m), ev(otherType, m), ev(customerConfirmed, m)}
	default: // a random walk
		for range 1 + r.IntN(7) {
			if len(evs) > 0 && r.IntN(5) == 0 {
				evs = append(evs, evs[r.IntN(len(evs))]) // resend
				continue
			}
			types := []string{customerConfirmed, catererConfirmed, catererDeclined, otherType}
			evs = append(evs, ev(types[r.IntN(len(types))], menus[r.IntN(len(menus))]))
		}
	}
	return evs
}

// malformedRecord returns one record of a shape docs/contract.md calls malformed.
func malformedRecord(r *rand.Rand, order string) input {
	long129 := fmt.Sprintf("%0129d", 7)
	shapes := []func() input{
		func() input { return input{key: []byte(order), value: []byte("not json at all")} },
		func() input { return input{key: []byte(order), value: []byte(`["an","array"]`)} },
		func() input { return input{key: []byte(order), value: nil} },
		func() input {
			return input{key: []byte(order), value: []byte(`{"type":"CustomerConfirmedMenu","order_id":"` + order + `"}`)}
		},
		func() input {
			return input{key: []byte(order), value: []byte(`{"id":"x1","type":"","order_id":"` + order + `"}`)}
		},
		func() input {
			return input{key: []byte(order), value: []byte(`{"id":"x2","type":"CatererConfirmedMenu","order_id":"someone-else"}`)}
		},
		func() input {
			return input{key: []byte(order), value: []byte(`{"id":"` + long129 + `","type":"CatererConfirmedMenu","order_id":"` + order + `"}`)}
		},
		func() input {
			return input{key: []byte(order), value: []byte(`{"id":"x3","type":"CatererConfirmedMenu","order_id":"` + order + `","menu_id":"` + long129 + `"}`)}
		},
		func() input {
			return input{key: nil, value: []byte(`{"id":"x4","type":"CatererConfirmedMenu","order_id":"` + order + `"}`)}
		},
	}
	in := shapes[r.IntN(len(shapes))]()
	in.malformed = true
	return in
}
