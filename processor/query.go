package processor

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/catering-match/catering-match/state"
	"github.com/catering-match/catering-match/topics"
)

// ErrNotRunning is returned by queries while no session runs (starting,
// or rebuilding after an error).
var ErrNotRunning = errors.New("processor is not running a session")

// inLoop runs fn on the loop goroutine, which owns the stores, between two
// transactions; so fn sees committed state only.
func (p *Processor) inLoop(ctx context.Context, fn func()) error {
	done := make(chan struct{})
	p.mu.Lock()
	if !p.running {
		p.mu.Unlock()
		return ErrNotRunning
	}
	p.queries = append(p.queries, func() { fn(); close(done) })
	p.mu.Unlock()
	p.wake()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("query: %w", ctx.Err())
	}
}

// runQueries answers the queued queries; called by the loop.
func (p *Processor) runQueries() {
	p.mu.Lock()
	qs := p.queries
	p.queries = nil
	p.mu.Unlock()
	for _, q := range qs {
		q()
	}
}

// dropQueries releases queries queued when a session ends.
func (p *Processor) endQueries() {
	p.mu.Lock()
	p.running = false
	p.mu.Unlock()
	p.runQueries()
}

// Ready reports whether this instance has joined its group and restored
// every partition assigned to it.
func (p *Processor) Ready() bool {
	cl := p.client.Load()
	if cl == nil {
		return false
	}
	if _, gen := cl.GroupMetadata(); gen < 0 {
		return false
	}
	p.mu.Lock()
	pending := len(p.changes) // an assignment the loop has not started restoring yet
	p.mu.Unlock()
	return pending == 0 && p.restoring.Load() == 0
}

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

func (p *Processor) view(proc *state.Process[state.Order], part int32, source string) ProcessView {
	o := proc.State
	v := ProcessView{OrderID: proc.Key, Status: o.Status.String(), ConfirmedMenu: o.ConfirmedMenu,
		CommandID: o.CommandID, Partition: part, Source: source, StartedAt: proc.History[0].At}
	for _, m := range o.Menus {
		v.Menus = append(v.Menus, MenuView{MenuID: m.ID, Customer: m.Customer, Caterer: m.Caterer.String()})
	}
	for _, e := range proc.History {
		v.History = append(v.History, EntryView{ID: e.ID, Type: e.Type, MenuID: e.MenuID, At: e.At})
	}
	if d, ok := p.manager.Deadline(proc); ok {
		v.Deadline = &d
		v.Missing = missing(o)
	}
	if e, ok := p.manager.Ended(proc); ok {
		f := e.Add(p.cfg.Limits.Retention)
		v.EndedAt, v.ForgetAt = &e, &f
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

// Order returns the process of orderID: from memory when this instance
// owns its partition, otherwise read from the changelog. ok is false when
// the order has no process.
func (p *Processor) Order(ctx context.Context, orderID string) (v ProcessView, ok bool, err error) {
	parts := p.partitions.Load()
	if parts == 0 {
		return v, false, ErrNotRunning
	}
	part := topics.PartitionFor(orderID, parts)
	owned := false
	err = p.inLoop(ctx, func() {
		if pt := p.parts[part]; pt != nil && pt.store != nil {
			owned = true
			if proc := pt.store.Get(orderID); proc != nil {
				v, ok = p.view(proc, part, "memory"), true
			}
		}
	})
	if err != nil || owned {
		return v, ok, err
	}
	cl, err := kgo.NewClient(p.clientOpts()...)
	if err != nil {
		return v, false, err
	}
	defer cl.Close()
	store, err := LoadPartition(ctx, cl, p.cfg.Topics.Changelog, part, p.cfg.Limits, p.log)
	if err != nil {
		return v, false, err
	}
	if proc := store.Get(orderID); proc != nil {
		return p.view(proc, part, "changelog"), true, nil
	}
	return v, false, nil
}

// Filter selects processes for Orders.
type Filter struct {
	Status    string        // "pending", "confirmed", "expired" or "" for all
	OlderThan time.Duration // started at least this long ago
	Limit     int           // at most this many, 0 for all
}

// Orders lists processes of every partition, oldest first: the ones this
// instance owns from memory, the others from the changelog.
func (p *Processor) Orders(ctx context.Context, f Filter) ([]ProcessView, error) {
	parts := p.partitions.Load()
	if parts == 0 {
		return nil, ErrNotRunning
	}
	now := p.clock()
	keep := func(v ProcessView) bool {
		return (f.Status == "" || v.Status == f.Status) && now.Sub(v.StartedAt) >= f.OlderThan
	}
	var out []ProcessView
	owned := map[int32]bool{}
	err := p.inLoop(ctx, func() {
		for id, pt := range p.parts {
			if pt.store == nil {
				continue
			}
			owned[id] = true
			for _, proc := range pt.store.All() {
				if v := p.view(proc, id, "memory"); keep(v) {
					out = append(out, v)
				}
			}
		}
	})
	if err != nil {
		return nil, err
	}
	var cl *kgo.Client // one client for every partition read from the changelog
	defer func() {
		if cl != nil {
			cl.Close()
		}
	}()
	for id := range parts {
		if owned[id] {
			continue
		}
		if cl == nil {
			if cl, err = kgo.NewClient(p.clientOpts()...); err != nil {
				return nil, err
			}
		}
		store, err := LoadPartition(ctx, cl, p.cfg.Topics.Changelog, id, p.cfg.Limits, p.log)
		if err != nil {
			return nil, err
		}
		for _, proc := range store.All() {
			if v := p.view(proc, id, "changelog"); keep(v) {
				out = append(out, v)
			}
		}
	}
	slices.SortFunc(out, func(a, b ProcessView) int { return a.StartedAt.Compare(b.StartedAt) })
	if f.Limit > 0 && len(out) > f.Limit {
		out = out[:f.Limit]
	}
	return out, nil
}
