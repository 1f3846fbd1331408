package catering

import (
	"context"
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
	History       []EntryView `json:"history"`
	Partition     int32       `json:"partition"`
	Source        string      `json:"source"` // "memory" (owner) or "changelog"
}

// View is an operator's view of a process snapshot.
func View(s processor.Snapshot[state.Order]) ProcessView {
	proc, o := s.Process, s.Process.State
	v := ProcessView{OrderID: proc.Key, Status: s.Status, ConfirmedMenu: o.ConfirmedMenu,
		CommandID: o.CommandID, Partition: s.Partition, Source: s.Source, StartedAt: proc.History[0].At,
		Deadline: s.Deadline, EndedAt: s.EndedAt, ForgetAt: s.ForgetAt}
	for _, m := range o.Menus {
		v.Menus = append(v.Menus, MenuView{MenuID: m.ID, Customer: m.Customer, Caterer: m.Caterer.String()})
	}
	for _, e := range proc.History {
		v.History = append(v.History, EntryView{ID: e.ID, Type: e.Type, MenuID: e.Ref, At: e.At})
	}
	if s.Deadline != nil {
		v.Missing = missing(o)
	}
	return v
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

// Orders lists processes of every partition, oldest first.
func (q Queries) Orders(ctx context.Context, f Filter) ([]ProcessView, error) {
	now := q.Now()
	snaps, err := q.List(ctx, func(s processor.Snapshot[state.Order]) bool {
		return (f.Status == "" || s.Status == f.Status) && now.Sub(s.Process.History[0].At) >= f.OlderThan
	})
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
