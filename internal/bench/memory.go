package bench

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/catering-match/catering-match/state"
	"github.com/catering-match/catering-match/topics"
)

// memory builds MemoryProcesses pending processes with two events each the
// way the processor does — each event decoded from its wire JSON, applied
// with state.Manager.Apply, staged in its partition's state.Store and
// committed every MaxPollRecords events, as a transaction would — and
// divides the live heap they add by their number.
func (r *runner) memory() error {
	n := r.o.MemoryProcesses
	m, err := state.NewCatering(state.DefaultLimits())
	if err != nil {
		return err
	}
	g := newOrderGen(r.o.Seed, 4)
	stores := make([]*state.Store[state.Order], r.o.Partitions)
	for i := range stores {
		stores[i] = state.NewStore[state.Order]()
	}
	commit := func() {
		for _, s := range stores {
			s.Commit()
		}
	}
	var built atomic.Int64
	end := r.prog.phase("memory (processes)", int64(n), built.Load)
	defer end()

	before := heapAfterGC()
	now := time.Now()
	staged := 0
	for i := range n {
		id := fmt.Sprintf("mem-%08d", i)
		store := stores[topics.PartitionFor(id, r.o.Partitions)]
		menu := g.menu()
		for _, e := range []topics.Event{
			{ID: g.uuid(), Type: state.CustomerConfirmedMenu, OrderID: id, MenuID: menu},
			{ID: g.uuid(), Type: state.CatererConfirmedMenu, OrderID: id, MenuID: g.otherMenu(menu)},
		} {
			v, err := topics.EncodeEvent(e)
			if err != nil {
				return err
			}
			ev, err := topics.DecodeEvent([]byte(id), v)
			if err != nil {
				return err
			}
			out := m.Apply(store.Get(ev.OrderID), ev.OrderID, state.Entry{ID: ev.ID, Type: ev.Type, Ref: ev.MenuID}, now)
			if out.Changed() {
				store.Put(out.Process)
			}
			if staged++; staged >= r.o.MaxPollRecords {
				commit()
				staged = 0
			}
		}
		built.Add(1)
	}
	commit()
	heap := heapAfterGC() - before
	live := 0
	for _, s := range stores {
		for _, p := range s.All() {
			if p.State.Status != state.Pending || len(p.History) != 2 {
				return fmt.Errorf("process %s: %s with %d entries, want pending with 2", p.Key, p.State.Status, len(p.History))
			}
			live++
		}
	}
	runtime.KeepAlive(stores)
	if live != n {
		return fmt.Errorf("%d live processes, want %d", live, n)
	}
	r.res.Memory = Memory{Processes: n, EventsPerProcess: 2, HeapBytes: heap, BytesPerProcess: float64(heap) / float64(n)}
	return nil
}
