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

// restore measures the rebuild of the processes from the latency
// processor's changelog, once it has stopped, in Runs pairs: first the
// baseline, a plain read_committed read of every changelog partition to
// its end, then the restore proper. Each is repeated pass after pass
// (with a full GC between passes, outside the clock, so that every pass
// starts from the same heap) until the run has lasted MinPhase.
func (r *runner) restore(ctx context.Context) error {
	topUp := max(0, r.o.RestoreProcesses-r.latOrders)
	if topUp > 0 {
		if err := r.topUp(ctx, topUp); err != nil {
			return fmt.Errorf("top up the changelog: %w", err)
		}
	}
	res := &r.res.Restore
	res.Method, res.TopUp = restoreMethod, topUp
	for i := range r.o.Runs {
		run := fmt.Sprintf("%d/%d", i+1, r.o.Runs)
		var raw RawReadRun
		if err := r.profiled(fmt.Sprintf("raw-read-%d", i+1), func() (err error) {
			raw, err = r.rawReadRun(ctx, "raw changelog read "+run)
			return err
		}); err != nil {
			return fmt.Errorf("raw changelog read: %w", err)
		}
		res.Baseline.Runs = append(res.Baseline.Runs, raw)
		res.Baseline.Records = raw.Records / int64(raw.Passes)
		var rr RestoreRun
		var procs int
		if err := r.profiled(fmt.Sprintf("restore-%d", i+1), func() (err error) {
			rr, procs, err = r.restoreRun(ctx, "restore "+run, res.Baseline.Records)
			return err
		}); err != nil {
			return err
		}
		if i > 0 && procs != res.Processes {
			return fmt.Errorf("restore run %s rebuilt %d processes, the first %d", run, procs, res.Processes)
		}
		res.Processes = procs
		res.Runs = append(res.Runs, rr)
		df, err := r.decodeFoldRun(ctx, "decode and fold from memory "+run)
		if err != nil {
			return err
		}
		res.Floor.Runs = append(res.Floor.Runs, df)
	}
	res.Records = res.Baseline.Records
	res.Seconds = summarize(collect(res.Runs, func(x RestoreRun) float64 { return x.Seconds }))
	res.ProcessesPerSec = summarize(collect(res.Runs, func(x RestoreRun) float64 { return x.ProcessesPerSec }))
	res.RecordsPerSec = summarize(collect(res.Runs, func(x RestoreRun) float64 { return x.RecordsPerSec }))
	res.HeapBytes = summarize(collect(res.Runs, func(x RestoreRun) float64 { return float64(x.HeapBytes) }))
	if res.Processes > 0 {
		res.HeapBytesPerProcess = summarize(collect(res.Runs, func(x RestoreRun) float64 { return float64(x.HeapBytes) / float64(res.Processes) }))
	}
	b := &res.Baseline
	b.RecordsPerSec = summarize(collect(b.Runs, func(x RawReadRun) float64 { return x.RecordsPerSec }))
	b.Seconds = summarize(collect(b.Runs, func(x RawReadRun) float64 { return x.Seconds }))
	res.Ratio = summarize(ratios(res.RecordsPerSec.Runs, b.RecordsPerSec.Runs))
	if cpuMeasuredRestore(res.Runs, b.Runs, res.Floor.Runs) {
		res.CPUMicrosPerRecord = summarize(collect(res.Runs, func(x RestoreRun) float64 { return 1e6 * x.CPUSeconds / float64(res.Records*int64(x.Passes)) }))
		res.Cores = summarize(collect(res.Runs, func(x RestoreRun) float64 { return x.CPUSeconds / x.Seconds }))
		b.CPUMicrosPerRecord = summarize(collect(b.Runs, func(x RawReadRun) float64 { return 1e6 * x.CPUSeconds / float64(x.Records) }))
		b.Cores = summarize(collect(b.Runs, func(x RawReadRun) float64 { return x.CPUSeconds / x.Seconds }))
		f := &res.Floor
		f.CPUMicrosPerRecord = summarize(collect(f.Runs, func(x DecodeFoldRun) float64 { return 1e6 * x.CPUSeconds / float64(x.Records) }))
		f.Cores = summarize(collect(f.Runs, func(x DecodeFoldRun) float64 { return x.CPUSeconds / x.Seconds }))
		cores := float64(r.res.GOMAXPROCS)
		bound := make([]float64, len(f.Runs))
		for i := range bound {
			// Every core busy with the raw read's fetch and this decode
			// and fold, nothing else: records per µs over the raw read's.
			best := cores / (b.CPUMicrosPerRecord.Runs[i] + f.CPUMicrosPerRecord.Runs[i])
			bound[i] = best * 1e6 / b.RecordsPerSec.Runs[i]
		}
		res.Bound = summarize(bound)
	}
	return nil
}

// cpuMeasuredRestore reports whether every run has its CPU time.
func cpuMeasuredRestore(rs []RestoreRun, raw []RawReadRun, df []DecodeFoldRun) bool {
	if len(rs) == 0 || len(rs) != len(raw) || len(rs) != len(df) {
		return false
	}
	for i := range rs {
		if rs[i].CPUSeconds <= 0 || raw[i].CPUSeconds <= 0 || df[i].CPUSeconds <= 0 {
			return false
		}
	}
	return true
}

// decodeFoldRun decodes every changelog record with the processor's own
// codec and finds its status and timer as the restore does (the
// definition's Summary, or the fold), on GOMAXPROCS goroutines, dropping
// the processes, pass after pass until MinPhase: the work a restore cannot
// skip (every record is read and checked, and every process's fold is
// asked when it is due), without the fetch, the store or a growing live
// heap.
// The records are read into memory first, outside the clock, and live only
// for this run, so that the restore and raw-read runs do not mark them.
func (r *runner) decodeFoldRun(ctx context.Context, label string) (DecodeFoldRun, error) {
	var out DecodeFoldRun
	var recs []*kgo.Record
	if _, _, err := r.rawRead(ctx, new(atomic.Int64), func(rec *kgo.Record) { recs = append(recs, rec) }); err != nil {
		return out, fmt.Errorf("read the changelog into memory: %w", err)
	}
	// The definition as the engine runs it: its Summary (the fold when it
	// has none) is what the restore asks of each record.
	def, err := catering.Definition().WithDefaults()
	if err != nil {
		return out, err
	}
	m, err := state.NewManager(def.Process, state.DefaultLimits())
	if err != nil {
		return out, err
	}
	codec, summary := def.Codec, def.Summary
	view, _ := codec.(processor.ViewCodec)
	var pos atomic.Int64
	bar := r.prog.phase(label, 0, "records", pos.Load)
	figures := ""
	defer func() { bar.end(figures) }()
	workers := r.res.GOMAXPROCS
	var took, cpu time.Duration
	for took < r.o.MinPhase || out.Passes == 0 {
		if ctx.Err() != nil {
			return out, ctx.Err()
		}
		runtime.GC() // as before each restore pass
		errs := make([]error, workers)
		cpu0, cpuOK := processCPU()
		start := time.Now()
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				var n int64
				var history []state.Entry
				for i := w; i < len(recs); i += workers {
					rec := recs[i]
					n++
					if rec.Value == nil {
						continue
					}
					// As the restore decodes: into views where it can.
					var err error
					if view != nil {
						_, history, err = view.DecodeView(rec.Key, rec.Value, history[:0])
					} else {
						_, history, err = codec.Decode(rec.Key, rec.Value)
					}
					if err != nil {
						errs[w] = fmt.Errorf("offset %d: %w", rec.Offset, err)
						return
					}
					_, terminal := summary(history)
					if _, _, ok := m.DueTerminal(history, terminal); !ok {
						errs[w] = fmt.Errorf("offset %d: no process", rec.Offset)
						return
					}
				}
				pos.Add(n)
			})
		}
		wg.Wait()
		took += time.Since(start)
		cpu1, _ := processCPU()
		for _, err := range errs {
			if err != nil {
				return out, fmt.Errorf("decode the changelog: %w", err)
			}
		}
		if cpuOK {
			cpu += cpu1 - cpu0
		}
		out.Records += int64(len(recs))
		out.Passes++
	}
	out.Seconds, out.CPUSeconds = took.Seconds(), cpu.Seconds()
	figures = fmt.Sprintf("%d passes of %s records, timed %.2fs: %.2f µs of CPU per record on %.2f cores",
		out.Passes, count(float64(len(recs))), out.Seconds, 1e6*out.CPUSeconds/float64(out.Records), out.CPUSeconds/out.Seconds)
	return out, nil
}

// restoreRun restores every partition with processor.LoadPartition, pass
// after pass until MinPhase; records is the changelog's size (from the raw
// read). It returns the processes a pass rebuilt.
func (r *runner) restoreRun(ctx context.Context, label string, records int64) (RestoreRun, int, error) {
	var out RestoreRun
	var done atomic.Int64 // partitions, every pass
	parts := r.o.Partitions
	bar := r.prog.phase(label, 0, "partitions", done.Load)
	figures := ""
	defer func() { bar.end(figures) }()
	var took time.Duration
	n := 0
	for took < r.o.MinPhase || out.Passes == 0 {
		cl, err := kgo.NewClient(r.seeds...)
		if err != nil {
			return out, 0, err
		}
		stores := make([]*state.Store[state.Order], parts)
		errs := make([]error, parts)
		before := heapAfterGC()
		cpu0, cpuOK := processCPU()
		start := time.Now()
		var wg sync.WaitGroup
		for p := range parts {
			wg.Go(func() {
				stores[p], errs[p] = processor.LoadPartition(ctx, cl, catering.Definition(), r.names.Changelog, p, state.DefaultLimits(), r.o.Logger)
				done.Add(1)
			})
		}
		wg.Wait()
		took += time.Since(start)
		if cpu1, _ := processCPU(); cpuOK {
			out.CPUSeconds += (cpu1 - cpu0).Seconds()
		}
		cl.Close()
		for p, err := range errs {
			if err != nil {
				return out, 0, fmt.Errorf("partition %d: %w", p, err)
			}
		}
		out.HeapBytes = heapAfterGC() - before
		pass := 0
		for _, s := range stores {
			pass += s.Len()
		}
		runtime.KeepAlive(stores)
		if out.Passes > 0 && pass != n {
			return out, 0, fmt.Errorf("pass %d rebuilt %d processes, the first %d", out.Passes+1, pass, n)
		}
		n = pass
		out.Passes++
	}
	out.Seconds = took.Seconds()
	out.ProcessesPerSec = float64(n*out.Passes) / took.Seconds()
	out.RecordsPerSec = float64(records*int64(out.Passes)) / took.Seconds()
	figures = fmt.Sprintf("%d passes of %s processes (%s records), timed %.2fs (the GC between passes not): %s rec/s, %s proc/s, heap %s",
		out.Passes, count(float64(n)), count(float64(records)), out.Seconds, count(out.RecordsPerSec), count(out.ProcessesPerSec), size(out.HeapBytes))
	return out, n, nil
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
	bar := r.prog.phase("changelog top-up", int64(n), "processes", sent.Load)
	defer bar.end("")
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

// rawReadRun reads the whole changelog plainly, pass after pass until
// MinPhase.
func (r *runner) rawReadRun(ctx context.Context, label string) (RawReadRun, error) {
	var out RawReadRun
	var pos atomic.Int64 // records, every pass
	bar := r.prog.phase(label, 0, "records", pos.Load)
	figures := ""
	defer func() { bar.end(figures) }()
	var took time.Duration
	for took < r.o.MinPhase || out.Passes == 0 {
		runtime.GC() // as before each restore pass
		cpu0, cpuOK := processCPU()
		n, d, err := r.rawRead(ctx, &pos, nil)
		if err != nil {
			return out, err
		}
		if cpu1, _ := processCPU(); cpuOK {
			out.CPUSeconds += (cpu1 - cpu0).Seconds()
		}
		if out.Passes > 0 && n != out.Records/int64(out.Passes) {
			return out, fmt.Errorf("pass %d read %d records, the first %d", out.Passes+1, n, out.Records/int64(out.Passes))
		}
		out.Records += n
		took += d
		out.Passes++
	}
	out.Seconds = took.Seconds()
	out.RecordsPerSec = float64(out.Records) / took.Seconds()
	figures = fmt.Sprintf("%d passes of %s records, timed %.2fs (the GC between passes not): %s rec/s", out.Passes, count(float64(out.Records/int64(out.Passes))),
		out.Seconds, count(out.RecordsPerSec))
	return out, nil
}

// rawRead reads every changelog partition from its start to its last
// stable offset with a plain read_committed consumer, doing nothing with
// the records: the fastest a restore could read them. It returns the
// records (not control markers) and the time taken; pos counts every
// record fetched. each, when not nil, is given every record (not marker)
// below the last stable offset.
func (r *runner) rawRead(ctx context.Context, pos *atomic.Int64, each func(*kgo.Record)) (int64, time.Duration, error) {
	ends, err := r.adm.ListCommittedOffsets(ctx, r.names.Changelog)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return 0, 0, err
	}
	want := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			want[o.Partition] = o.Offset
		}
	})
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
		return 0, 0, err
	}
	defer cl.Close()
	var records int64
	for len(want) > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return 0, 0, ctx.Err()
		}
		var ferr error
		fs.EachError(func(t string, p int32, err error) {
			if ferr == nil {
				ferr = fmt.Errorf("read %s partition %d: %w", t, p, err)
			}
		})
		if ferr != nil {
			return 0, 0, ferr
		}
		fs.EachPartition(func(fp kgo.FetchTopicPartition) {
			if len(fp.Records) == 0 {
				return
			}
			for _, rec := range fp.Records {
				if !rec.Attrs.IsControl() {
					records++
					if each != nil && rec.Offset < want[fp.Partition] {
						each(rec)
					}
				}
			}
			last := fp.Records[len(fp.Records)-1].Offset
			pos.Add(int64(len(fp.Records)))
			if w, ok := want[fp.Partition]; ok && last+1 >= w {
				delete(want, fp.Partition)
			}
		})
	}
	return records, time.Since(start), nil
}

// heapAfterGC is the live heap after a full collection.
func heapAfterGC() int64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}
