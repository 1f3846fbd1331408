package catering

import (
	"context"
	"strings"
	"time"

	"github.com/catering-match/catering-match/processor"
	"github.com/catering-match/catering-match/state"
)

// MenuView is what each side said about one menu.
type MenuView struct {
	MenuID   string `json:"menu_id"`
	Customer bool   `json:"customer_confirmed"`
	Caterer  string `json:"caterer"` // "confirmed", "declined" or "none"
}

// EntryView is one history entry.
type EntryView struct {
	ID     string    `json:"id"`
	Type   string    `json:"type"`
	MenuID string    `json:"menu_id"`
	At     time.Time `json:"at"`
}

// ProcessView is an order's process as an operator sees it.
type ProcessView struct {
	OrderID       string      `json:"order_id"`
	Status        string      `json:"status"`
	Menus         []MenuView  `json:"menus"`
	ConfirmedMenu string      `json:"confirmed_menu,omitempty"`
	CommandID     string      `json:"command_id,omitempty"`
	StartedAt     time.Time   `json:"started_at"`
	Deadline      *time.Time  `json:"deadline,omitempty"`
	EndedAt       *time.Time  `json:"ended_at,omitempty"`
	ForgetAt      *time.Time  `json:"forget_at,omitempty"`
	Missing       []string    `json:"missing,omitempty"` // for a pending order: whose confirmation is missing
	WhyPending    string      `json:"why_pending,omitempty"`
	History       []EntryView `json:"history"`
	Partition     int32       `json:"partition"`
	Source        string      `json:"source"` // "memory" (owner) or "changelog"
}

// View is an operator's view of a process snapshot.
func View(s processor.Snapshot[state.Order]) ProcessView {
	proc, o := s.Process, s.Process.State
	v := ProcessView{OrderID: s.Key, Status: s.Status, ConfirmedMenu: o.ConfirmedMenu(),
		CommandID: o.CommandID(), Partition: s.Partition, Source: s.Source, StartedAt: proc.History[0].At.Time(),
		Deadline: s.Deadline, EndedAt: s.EndedAt, ForgetAt: s.ForgetAt}
	v.Menus = menuViews(o)
	for _, e := range proc.History {
		v.History = append(v.History, EntryView{ID: e.ID, Type: e.Type, MenuID: e.Ref, At: e.At.Time()})
	}
	if s.Deadline != nil {
		v.Missing, v.WhyPending = missing(o), whyPending(o)
	}
	return v
}

func menuViews(o state.Order) []MenuView {
	out := make([]MenuView, 0, len(o.Menus))
	for _, m := range o.Menus {
		out = append(out, MenuView{MenuID: m.ID, Customer: m.Customer, Caterer: m.Caterer.String()})
	}
	return out
}

// whyPending says, for a pending order, what it waits for, menu by menu:
// "waiting for the caterer on menu-a", "caterer declined menu-b; waiting
// for a customer confirmation of another menu".
func whyPending(o state.Order) string {
	var caterer, customer, declined, declinedConfirmed []string
	for _, m := range o.Menus {
		name := menuName(m.ID)
		switch {
		case m.Customer && m.Caterer == state.Accepted:
			// Only between an event and the decision it leads to, which
			// the process records with it: a step, never a committed state.
			return "both sides confirmed " + name + ": the decision is recorded with this event"
		case m.Customer && m.Caterer == state.NoAnswer:
			caterer = append(caterer, name)
		case m.Customer && m.Caterer == state.Declined:
			declined = append(declined, name)
			declinedConfirmed = append(declinedConfirmed, name)
		case !m.Customer && m.Caterer == state.Accepted:
			customer = append(customer, name)
		case !m.Customer && m.Caterer == state.Declined:
			declined = append(declined, name)
		}
	}
	var parts []string
	if len(caterer) > 0 {
		parts = append(parts, "waiting for the caterer on "+and(caterer))
	}
	if len(customer) > 0 {
		parts = append(parts, "waiting for the customer on "+and(customer))
	}
	if len(declined) > 0 {
		parts = append(parts, "caterer declined "+and(declined))
	}
	switch {
	case len(parts) == 0:
		return "waiting for both sides"
	case len(caterer) == 0 && len(customer) == 0 && len(declinedConfirmed) > 0:
		parts = append(parts, "waiting for a customer confirmation of another menu, or for the caterer to confirm "+and(declinedConfirmed)+" after all")
	case len(caterer) == 0 && len(customer) == 0:
		parts = append(parts, "waiting for a customer confirmation of another menu")
	}
	return strings.Join(parts, "; ")
}

// menuName is how a sentence names a menu: its id, or "the default menu"
// for the id "".
func menuName(id string) string {
	if id == "" {
		return "the default menu"
	}
	return id
}

// and joins names as a sentence does: "a", "a and b", "a, b and c".
func and(names []string) string {
	if len(names) == 1 {
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}

// missing says, for a pending order, which confirmation it waits for.
func missing(o state.Order) []string {
	var customer, caterer bool
	for _, m := range o.Menus {
		customer = customer || m.Customer
		caterer = caterer || m.Caterer == state.Accepted
	}
	var out []string
	if !customer {
		out = append(out, "customer")
	}
	if !caterer {
		out = append(out, "caterer")
	}
	if customer && caterer {
		out = append(out, "same menu") // both confirmed, but different menus
	}
	return out
}

// Filter selects processes for Orders.
type Filter struct {
	Status    string        // "pending", "confirmed", "expired" or "" for all
	OlderThan time.Duration // started at least this long ago
	Limit     int           // at most this many, 0 for all
}

// Queries answers the operations endpoints from a running catering
// processor.
type Queries struct {
	*processor.Processor[state.Order]
}

// Order returns the process of orderID: from memory when this instance
// owns its partition, otherwise read from the changelog. ok is false when
// the order has no process.
func (q Queries) Order(ctx context.Context, orderID string) (ProcessView, bool, error) {
	s, ok, err := q.Get(ctx, orderID)
	if err != nil || !ok {
		return ProcessView{}, ok, err
	}
	return View(s), true, nil
}

// keep is f as a predicate on snapshots, at processing time now.
func (f Filter) keep(now time.Time) func(processor.Snapshot[state.Order]) bool {
	return func(s processor.Snapshot[state.Order]) bool {
		return (f.Status == "" || s.Status == f.Status) && now.Sub(s.Process.History[0].At.Time()) >= f.OlderThan
	}
}

// Orders lists processes of every partition, oldest first. It asks the
// loop for every process at once: for tools; the operations endpoints use
// OrderPage.
func (q Queries) Orders(ctx context.Context, f Filter) ([]ProcessView, error) {
	snaps, err := q.List(ctx, f.keep(q.Now()))
	if err != nil {
		return nil, err
	}
	if f.Limit > 0 && len(snaps) > f.Limit {
		snaps = snaps[:f.Limit]
	}
	out := make([]ProcessView, len(snaps))
	for i, s := range snaps {
		out[i] = View(s)
	}
	return out, nil
}

// OrderPage is one page of the processes a Filter selects, oldest first.
type OrderPage struct {
	Orders []ProcessView
	Total  int              // the processes the filter selects, on every page
	Next   processor.Cursor // where the next page starts; zero on the last
}

// OrderPage returns the processes f selects after the cursor, oldest
// first, at most f.Limit (at least 1) of them, and how many f selects in
// all. It visits the loop in bounded pieces (processor.Page).
func (q Queries) OrderPage(ctx context.Context, f Filter, after processor.Cursor) (OrderPage, error) {
	pg, err := q.Page(ctx, f.keep(q.Now()), after, f.Limit)
	if err != nil {
		return OrderPage{}, err
	}
	out := OrderPage{Orders: make([]ProcessView, len(pg.Items)), Total: pg.Matched, Next: pg.Next}
	for i, s := range pg.Items {
		out.Orders[i] = View(s)
	}
	return out, nil
}

// StepView is an order's process after one entry of its history.
type StepView struct {
	Entry      EntryView  `json:"entry"`
	Status     string     `json:"status"`
	Menus      []MenuView `json:"menus"`
	Deadline   *time.Time `json:"deadline,omitempty"`
	Missing    []string   `json:"missing,omitempty"`
	WhyPending string     `json:"why_pending,omitempty"`
	// Decision is set once the process is terminal: ConfirmOrderIssued
	// (with ConfirmedMenu and CommandID) or MatchExpired.
	Decision      string `json:"decision,omitempty"`
	ConfirmedMenu string `json:"confirmed_menu,omitempty"`
	CommandID     string `json:"command_id,omitempty"`
}

// StepsView is an order's history with the state after each step.
type StepsView struct {
	OrderID   string     `json:"order_id"`
	Status    string     `json:"status"`
	Partition int32      `json:"partition"`
	Source    string     `json:"source"` // "memory" (owner) or "changelog"
	CommandID string     `json:"command_id"`
	Steps     []StepView `json:"steps"`
}

// OrderSteps returns the history of orderID with the state after each
// entry, folded by the process definition itself (processor.Steps). ok is
// false when the order has no process. CommandID is the id its
// ConfirmOrder has (state.CommandID), issued or not.
func (q Queries) OrderSteps(ctx context.Context, orderID string) (StepsView, bool, error) {
	steps, ok, err := q.Steps(ctx, orderID)
	if err != nil || !ok {
		return StepsView{}, ok, err
	}
	return Steps(orderID, steps), true, nil
}

// Steps is the view of the snapshots of an order after each entry of its
// history (as processor.Steps returns them, at least one).
func Steps(orderID string, steps []processor.Snapshot[state.Order]) StepsView {
	last := steps[len(steps)-1]
	v := StepsView{OrderID: orderID, Status: last.Status, Partition: last.Partition, Source: last.Source,
		CommandID: state.CommandID(orderID), Steps: make([]StepView, len(steps))}
	for i, s := range steps {
		proc, o := s.Process, s.Process.State
		e := proc.History[len(proc.History)-1]
		st := StepView{Entry: EntryView{ID: e.ID, Type: e.Type, MenuID: e.Ref, At: e.At.Time()}, Status: s.Status,
			Menus: menuViews(o), Deadline: s.Deadline}
		if s.Deadline != nil {
			st.Missing, st.WhyPending = missing(o), whyPending(o)
		} else {
			st.Decision = e.Type
			st.ConfirmedMenu, st.CommandID = o.ConfirmedMenu(), o.CommandID()
		}
		v.Steps[i] = st
	}
	return v
}
