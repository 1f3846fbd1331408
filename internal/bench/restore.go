package bench

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/catering-match/catering-match/internal/catering"
	"github.com/catering-match/catering-match/processor"
	"github.com/catering-match/catering-match/state"
	"github.com/catering-match/catering-match/topics"
)

// restoreMethod says how the restore is timed.
const restoreMethod = "processor.LoadPartition on every changelog partition concurrently, one shared client (the processor's own restore code, without the group join)"

// restore measures the rebuild of the processes from the changelog the run
// wrote, once the processor has stopped: first the baseline, a plain
// read_committed read of every changelog partition to its end, then the
// restore proper.
func (r *runner) restore(ctx context.Context) error {
	existing := r.phase1.orders
	if r.latencyWL != nil {
		existing += r.latencyWL.orders
	}
	topUp := max(0, r.o.RestoreProcesses-existing)
	if topUp > 0 {
		if err := r.topUp(ctx, topUp); err != nil {
			return fmt.Errorf("top up the changelog: %w", err)
		}
	}
	raw, err := r.rawRead(ctx)
	if err != nil {
		return fmt.Errorf("raw changelog read: %w", err)
	}

	cl, err := kgo.NewClient(r.seeds...)
	if err != nil {
		return err
	}
	defer cl.Close()
	parts := r.o.Partitions
	stores := make([]*state.Store[state.Order], parts)
	errs := make([]error, parts)
	var done atomic.Int64
	before := heapAfterGC()
	end := r.prog.phase("restore (partitions)", int64(parts), done.Load)
	start := time.Now()
	var wg sync.WaitGroup
	for p := range parts {
		wg.Go(func() {
			stores[p], errs[p] = processor.LoadPartition(ctx, cl, catering.Definition(), r.names.Changelog, p, state.DefaultLimits(), r.o.Logger)
			done.Add(1)
		})
	}
	wg.Wait()
	took := time.Since(start)
	end()
	for p, err := range errs {
		if err != nil {
			return fmt.Errorf("partition %d: %w", p, err)
		}
	}
	heap := heapAfterGC() - before
	n := 0
	for _, s := range stores {
		n += s.Len()
	}
	runtime.KeepAlive(stores)

	res := Restore{Method: restoreMethod, Processes: n, TopUp: topUp, Records: raw.Records, Seconds: took.Seconds(),
		ProcessesPerSec: float64(n) / took.Seconds(), RecordsPerSec: float64(raw.Records) / took.Seconds(),
		HeapBytes: heap, Baseline: raw}
	if n > 0 {
		res.HeapBytesPerProcess = float64(heap) / float64(n)
	}
	if raw.RecordsPerSec > 0 {
		res.Ratio = res.RecordsPerSec / raw.RecordsPerSec
	}
	r.res.Restore = res
	return nil
}

// topUp adds n pending processes with two events each to the changelog,
// on the partition their order's events would be on.
func (r *runner) topUp(ctx context.Context, n int) error {
	m, err := state.NewCatering(state.DefaultLimits())
	if err != nil {
		return err
	}
	cl, err := kgo.NewClient(append(r.seeds, kgo.RecordPartitioner(kgo.ManualPartitioner()))...)
	if err != nil {
		return err
	}
	defer cl.Close()
	g := newOrderGen(r.o.Seed, 3)
	var sent atomic.Int64
	end := r.prog.phase("changelog top-up", int64(n), sent.Load)
	defer end()
	var pe produceErrs
	now := time.Now()
	for i := range n {
		id := fmt.Sprintf("stock-%08d", i)
		proc := pendingProcess(m, g, id, now)
		cl.Produce(ctx, &kgo.Record{Topic: r.names.Changelog, Partition: topics.PartitionFor(id, r.o.Partitions),
			Key: []byte(id), Value: topics.EncodeProcess(id, proc.History)},
			func(_ *kgo.Record, err error) {
				pe.note(err)
				sent.Add(1)
			})
	}
	if err := cl.Flush(ctx); err != nil {
		return err
	}
	return pe.err()
}

// pendingProcess is a process with two events that does not match: the
// customer confirmed one menu and the caterer another.
func pendingProcess(m *state.Manager[state.Order], g *orderGen, id string, now time.Time) *state.Process[state.Order] {
	menu := g.menu()
	out := m.Apply(nil, id, state.Entry{ID: g.uuid(), Type: state.CustomerConfirmedMenu, Ref: menu}, now)
	return m.Apply(out.Process, id, state.Entry{ID: g.uuid(), Type: state.CatererConfirmedMenu, Ref: g.otherMenu(menu)}, now).Process
}

// rawRead reads every changelog partition from its start to its last
// stable offset with a plain read_committed consumer, doing nothing with
// the records: the fastest a restore could read them.
func (r *runner) rawRead(ctx context.Context) (RawRead, error) {
	var out RawRead
	ends, err := r.adm.ListCommittedOffsets(ctx, r.names.Changelog)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return out, err
	}
	want := map[int32]int64{}
	var total int64
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			want[o.Partition] = o.Offset
			total += o.Offset
		}
	})
	var pos atomic.Int64
	end := r.prog.phase("raw changelog read", total, pos.Load)
	defer end()
	start := time.Now()
	from := map[int32]kgo.Offset{}
	for p := range want {
		from[p] = kgo.NewOffset().AtStart()
	}
	cl, err := kgo.NewClient(append(r.seeds,
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{r.names.Changelog: from}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(), // the last offset of a transactional partition is a marker
	)...)
	if err != nil {
		return out, err
	}
	defer cl.Close()
	for len(want) > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return out, ctx.Err()
		}
		var ferr error
		fs.EachError(func(t string, p int32, err error) {
			if ferr == nil {
				ferr = fmt.Errorf("read %s partition %d: %w", t, p, err)
			}
		})
		if ferr != nil {
			return out, ferr
		}
		fs.EachPartition(func(fp kgo.FetchTopicPartition) {
			if len(fp.Records) == 0 {
				return
			}
			for _, rec := range fp.Records {
				if !rec.Attrs.IsControl() {
					out.Records++
				}
			}
			last := fp.Records[len(fp.Records)-1].Offset
			pos.Add(int64(len(fp.Records)))
			if w, ok := want[fp.Partition]; ok && last+1 >= w {
				delete(want, fp.Partition)
			}
		})
	}
	took := time.Since(start)
	out.Seconds = took.Seconds()
	out.RecordsPerSec = float64(out.Records) / took.Seconds()
	return out, nil
}

// heapAfterGC is the live heap after a full collection.
func heapAfterGC() int64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}
