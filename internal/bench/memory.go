package bench

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/catering-match/catering-match/internal/catering"
	"github.com/catering-match/catering-match/state"
	"github.com/catering-match/catering-match/topics"
)

// memoryPhase measures the heap per pending process Runs times.
func (r *runner) memoryPhase() error {
	var heaps []int64
	for i := range r.o.Runs {
		var heap int64
		if err := r.profiled(fmt.Sprintf("memory-%d", i+1), func() (err error) {
			heap, err = r.memory(fmt.Sprintf("memory %d/%d", i+1, r.o.Runs))
			return err
		}); err != nil {
			return err
		}
		heaps = append(heaps, heap)
	}
	n := r.o.MemoryProcesses
	r.res.Memory = Memory{Processes: n, EventsPerProcess: 2,
		HeapBytes:       summarize(collect(heaps, func(h int64) float64 { return float64(h) })),
		BytesPerProcess: summarize(collect(heaps, func(h int64) float64 { return float64(h) / float64(n) }))}
	return nil
}

// memory builds MemoryProcesses pending processes with two events each the
// way the processor does — each event decoded from its wire JSON by the
// catering definition's Decode, applied
// with state.Manager.Apply, staged in its partition's state.Store and
// committed every MaxPollRecords events, as a transaction would — and
// returns the live heap they add.
func (r *runner) memory(label string) (int64, error) {
	n := r.o.MemoryProcesses
	decode := catering.Definition().Decode // the service's own decoder
	m, err := state.NewCatering(state.DefaultLimits())
	if err != nil {
		return 0, err
	}
	g := newOrderGen(r.o.Seed, 4)
	stores := make([]*state.Store[state.Order], r.o.Partitions)
	for i := range stores {
		stores[i] = m.NewStore()
	}
	commit := func() {
		for _, s := range stores {
			s.Commit()
		}
	}
	var built atomic.Int64
	bar := r.prog.phase(label, int64(n), "processes", built.Load)
	figures := ""
	defer func() { bar.end(figures) }()

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
				return 0, err
			}
			key, entry, err := decode(&kgo.Record{Key: []byte(id), Value: v})
			if err != nil {
				return 0, err
			}
			shard := store.Shard(state.ShardOf(key))
			out := m.Apply(shard.Get(key), key, entry, now)
			if out.Changed() {
				shard.Put(key, out.Process)
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
		for key, p := range s.All() {
			if p.State.Status != state.Pending || len(p.History) != 2 {
				return 0, fmt.Errorf("process %s: %s with %d entries, want pending with 2", key, p.State.Status, len(p.History))
			}
			live++
		}
	}
	runtime.KeepAlive(stores)
	if live != n {
		return 0, fmt.Errorf("%d live processes, want %d", live, n)
	}
	figures = fmt.Sprintf("heap %s = %.0f B/process", size(heap), float64(heap)/float64(n))
	return heap, nil
}
