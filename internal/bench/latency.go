package bench

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"runtime"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/catering-match/catering-match/topics"
)

// latencyRun describes one latency measurement: wl's events are produced
// to in at rate; outputs read read_committed from out are matched to the
// input event they answer.
type latencyRun struct {
	name     string
	in, out  string
	wl       *workload
	rate     float64
	expected int                           // outputs to wait for
	match    func(*kgo.Record) (int, bool) // the index in wl.events an output answers
	progress func() int64                  // input records the loop under test has dealt with
	txns     func() int64                  // transactions it has committed
	exited   <-chan struct{}               // closed if the loop under test stops
}

type latencyOut struct {
	pct         Percentiles
	produceTook time.Duration
	txns        int64 // committed while producing
	records     int64 // input records dealt with while producing
}

func (r *runner) measureLatency(ctx context.Context, lr latencyRun) (latencyOut, error) {
	var out latencyOut
	ends, err := r.adm.ListEndOffsets(ctx, lr.out)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return out, fmt.Errorf("end offsets of %s: %w", lr.out, err)
	}
	from := map[int32]kgo.Offset{}
	ends.Each(func(o kadm.ListedOffset) { from[o.Partition] = kgo.NewOffset().At(o.Offset) })
	cons, err := kgo.NewClient(append(r.seeds,
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{lr.out: from}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
	)...)
	if err != nil {
		return out, err
	}
	defer cons.Close()
	prod, err := kgo.NewClient(append(r.seeds, kgo.ProducerLinger(0))...)
	if err != nil {
		return out, err
	}
	defer prod.Close()
	// Make both connect before the clock starts.
	if err := cons.Ping(ctx); err != nil {
		return out, err
	}
	if err := prod.Ping(ctx); err != nil {
		return out, err
	}

	events := lr.wl.events
	epoch := time.Now()
	sentAt := make([]atomic.Int64, len(events)) // ns since epoch + 1; 0: not sent yet
	var got atomic.Int64
	var lat []time.Duration
	cctx, ccancel := context.WithCancel(ctx)
	defer ccancel()
	consumed := make(chan error, 1)
	go func() {
		seen := make([]bool, len(events))
		for int(got.Load()) < lr.expected {
			fs := cons.PollFetches(cctx)
			now := time.Since(epoch)
			if cctx.Err() != nil {
				consumed <- cctx.Err()
				return
			}
			var ferr error
			fs.EachError(func(t string, p int32, err error) {
				if ferr == nil {
					ferr = fmt.Errorf("read %s partition %d: %w", t, p, err)
				}
			})
			if ferr != nil {
				consumed <- ferr
				return
			}
			fs.EachRecord(func(rec *kgo.Record) {
				i, ok := lr.match(rec)
				if !ok || i < 0 || i >= len(events) || seen[i] {
					return
				}
				t := sentAt[i].Load()
				if t == 0 {
					return
				}
				seen[i] = true
				lat = append(lat, now-time.Duration(t-1))
				got.Add(1)
			})
		}
		consumed <- nil
	}()

	bar := r.prog.phase(lr.name, int64(lr.expected), "outputs", got.Load)
	figures := ""
	defer func() { bar.end(figures) }()
	txn0, rec0 := lr.txns(), lr.progress()
	start := time.Now()
	var pe produceErrs
	for i := 0; i < len(events); {
		due := min(len(events), int(lr.rate*time.Since(start).Seconds())+1)
		for ; i < due; i++ {
			sentAt[i].Store(int64(time.Since(epoch)) + 1)
			prod.Produce(ctx, events[i].record(lr.in), func(_ *kgo.Record, err error) { pe.note(err) })
		}
		if i < len(events) {
			if ctx.Err() != nil {
				return out, ctx.Err()
			}
			time.Sleep(200 * time.Microsecond)
		}
	}
	out.produceTook = time.Since(start)
	out.txns, out.records = lr.txns()-txn0, lr.progress()-rec0
	if err := prod.Flush(ctx); err != nil {
		return out, err
	}
	if err := pe.err(); err != nil {
		return out, err
	}

	wait := max(stallTimeout, 3*out.produceTook)
	select {
	case err := <-consumed:
		if err != nil {
			return out, err
		}
	case <-lr.exited:
		return out, fmt.Errorf("the loop under test stopped after %d of %d outputs", got.Load(), lr.expected)
	case <-time.After(wait):
		ccancel()
		<-consumed
		return out, fmt.Errorf("saw %d of %d outputs within %v of the last produce", got.Load(), lr.expected, wait)
	case <-ctx.Done():
		return out, ctx.Err()
	}
	out.pct = percentiles(lat)
	figures = fmt.Sprintf("p50/p99/max %.1f / %.1f / %.1f ms at %s ev/s", out.pct.P50Ms, out.pct.P99Ms, out.pct.MaxMs, count(lr.rate))
	return out, nil
}

// percentiles returns p50, p99 and max of d (nearest rank), in ms.
func percentiles(d []time.Duration) Percentiles {
	if len(d) == 0 {
		return Percentiles{}
	}
	s := slices.Clone(d)
	slices.Sort(s)
	rank := func(q float64) time.Duration {
		i := int(math.Ceil(q*float64(len(s)))) - 1
		return s[min(len(s)-1, max(0, i))]
	}
	return Percentiles{Samples: len(s), P50Ms: ms(rank(0.50)), P99Ms: ms(rank(0.99)), MaxMs: ms(s[len(s)-1])}
}

// latency measures Runs rounds. Each round produces a fresh set of orders
// at the latency rate for LatencyDuration to a processor on the run's main
// topics, then the same events at the same rate to a copy loop. The copy
// loop runs throughout; the processor is started for its part of each
// round (restoring what the earlier rounds left in its changelog) and
// stopped before the copy loop's part, so that the baseline is not
// measured beside the service's live heap in the same process. The
// processor's changelog is what the restore phase reads.
func (r *runner) latency(ctx context.Context) error {
	rate := r.latencyRate()
	c, err := r.startCopyLoop(ctx, r.group+"-copylat", r.copyLatIn, r.copyLatOut)
	if err != nil {
		return err
	}
	r.copyLoop = c
	if err := c.waitAssigned(ctx); err != nil {
		return err
	}
	l := &r.res.Latency
	l.RatePerSec, l.Seconds = rate, r.o.LatencyDuration.Seconds()
	n := max(1, int(rate*r.o.LatencyDuration.Seconds()))
	for i := range r.o.Runs {
		wl, err := newWorkload(fmt.Sprintf("late%d", i+1), 1, n, r.o.Seed, uint64(200+i))
		if err != nil {
			return err
		}
		r.latOrders += wl.orders
		run := fmt.Sprintf("%d/%d", i+1, r.o.Runs)

		rp, err := r.startProcessor(ctx, r.group, r.names, r.o.Members, 0)
		if err != nil {
			return err
		}
		r.proc = rp
		if err := rp.waitReady(ctx); err != nil {
			return err
		}
		if err := r.waitSettled(ctx, r.group, r.o.Members); err != nil {
			return err
		}
		runtime.GC() // every run starts from a collected heap
		var e LatencyRun
		if err := r.profiled(fmt.Sprintf("eos-latency-%d", i+1), func() (err error) {
			e, err = r.eosLatencyRun(ctx, "EOS latency "+run, wl, rate)
			return err
		}); err != nil {
			return err
		}
		l.Runs = append(l.Runs, e)
		if err := r.proc.stop(); err != nil {
			return fmt.Errorf("stop the processor: %w", err)
		}
		r.proc = nil

		runtime.GC()
		var b CopyLatencyRun
		if err := r.profiled(fmt.Sprintf("copy-latency-%d", i+1), func() (err error) {
			b, err = r.copyLatencyRun(ctx, "copy-loop latency "+run, wl, rate)
			return err
		}); err != nil {
			return err
		}
		l.Baseline.Runs = append(l.Baseline.Runs, b)
	}
	if err := r.copyLoop.stop(); err != nil {
		return fmt.Errorf("stop the copy loop: %w", err)
	}
	r.copyLoop = nil

	l.P50Ms = summarize(collect(l.Runs, func(x LatencyRun) float64 { return x.P50Ms }))
	l.P99Ms = summarize(collect(l.Runs, func(x LatencyRun) float64 { return x.P99Ms }))
	l.MaxMs = summarize(collect(l.Runs, func(x LatencyRun) float64 { return x.MaxMs }))
	l.CommitIntervalMs = summarize(collect(l.Runs, func(x LatencyRun) float64 { return x.CommitIntervalMs }))
	l.RecordsPerTxn = summarize(collect(l.Runs, func(x LatencyRun) float64 { return x.RecordsPerTxn }))
	b := &l.Baseline
	b.P50Ms = summarize(collect(b.Runs, func(x CopyLatencyRun) float64 { return x.P50Ms }))
	b.P99Ms = summarize(collect(b.Runs, func(x CopyLatencyRun) float64 { return x.P99Ms }))
	b.MaxMs = summarize(collect(b.Runs, func(x CopyLatencyRun) float64 { return x.MaxMs }))
	b.CommitIntervalMs = summarize(collect(b.Runs, func(x CopyLatencyRun) float64 { return x.CommitIntervalMs }))
	b.MeanTxnMs = summarize(collect(b.Runs, func(x CopyLatencyRun) float64 { return x.MeanTxnMs }))
	l.RatioP50 = summarize(ratios(l.P50Ms.Runs, b.P50Ms.Runs))
	l.RatioP99 = summarize(ratios(l.P99Ms.Runs, b.P99Ms.Runs))
	return nil
}

// causationID finds the causation id in a ConfirmOrder's JSON without
// decoding the rest: the probe reads every command on the same cores as
// the processor, and encoding/json took a sixth of them at 180k
// commands/s, where the copy loop's probe reads a header. ok is false for
// a value it cannot read this way (an escape in the id, say); the caller
// then decodes it.
func causationID(v []byte) (id []byte, ok bool) {
	const field = `"causation_id":"`
	i := bytes.Index(v, []byte(field))
	if i < 0 {
		return nil, false
	}
	v = v[i+len(field):]
	j := bytes.IndexByte(v, '"')
	if j < 0 || bytes.IndexByte(v[:j], '\\') >= 0 {
		return nil, false
	}
	return v[:j], true
}

// eosLatencyRun produces wl's events at rate to the running processor and
// times each ConfirmOrder from its causation event's produce to its being
// visible read_committed, then waits until every event is accounted for.
func (r *runner) eosLatencyRun(ctx context.Context, label string, wl *workload, rate float64) (LatencyRun, error) {
	st := r.proc.p.Stats()
	before := accounted(st)
	out, err := r.measureLatency(ctx, latencyRun{
		name: label, in: r.names.Events, out: r.names.Commands, wl: wl, rate: rate,
		expected: wl.commands,
		match: func(rec *kgo.Record) (int, bool) {
			if id, ok := causationID(rec.Value); ok {
				i, ok := wl.causes[string(id)] // no allocation for the lookup
				return i, ok
			}
			c, err := topics.DecodeConfirmOrder(rec.Value)
			if err != nil {
				return 0, false
			}
			i, ok := wl.causes[c.CausationID]
			return i, ok
		},
		progress: func() int64 { return accounted(st) },
		txns:     st.TxnCommitted.Load,
		exited:   r.proc.exited,
	})
	if err != nil {
		return LatencyRun{}, err
	}
	// Every event is accounted for before the next run starts (and before
	// the restore reads the changelog).
	if err := waitFor(ctx, "the processor", before+int64(len(wl.events)), func() int64 { return accounted(st) },
		r.proc.exited, func() error { return r.proc.err }, nil); err != nil {
		return LatencyRun{}, err
	}
	l := LatencyRun{Orders: wl.orders, Events: len(wl.events), Seconds: out.produceTook.Seconds(), Percentiles: out.pct}
	if out.txns > 0 {
		l.CommitIntervalMs = ms(out.produceTook) / float64(out.txns)
		l.RecordsPerTxn = float64(out.records) / float64(out.txns)
	}
	return l, nil
}

// copyLatencyRun produces wl's events at rate to the running copy loop and
// times each copy.
func (r *runner) copyLatencyRun(ctx context.Context, label string, wl *workload, rate float64) (CopyLatencyRun, error) {
	c := r.copyLoop
	txn0, nanos0 := c.txns.Load(), c.txnNanos.Load()
	out, err := r.measureLatency(ctx, latencyRun{
		name: label, in: r.copyLatIn, out: r.copyLatOut, wl: wl, rate: rate,
		expected: len(wl.events),
		match: func(rec *kgo.Record) (int, bool) {
			for _, h := range rec.Headers {
				if h.Key == seqHeader {
					i, err := strconv.Atoi(string(h.Value))
					return i, err == nil
				}
			}
			return 0, false
		},
		progress: c.copied.Load,
		txns:     c.txns.Load,
		exited:   c.exited,
	})
	if err != nil {
		return CopyLatencyRun{}, err
	}
	b := CopyLatencyRun{Events: len(wl.events), Seconds: out.produceTook.Seconds(), Percentiles: out.pct}
	if out.txns > 0 {
		b.CommitIntervalMs = ms(out.produceTook) / float64(out.txns)
	}
	if n := c.txns.Load() - txn0; n > 0 {
		b.MeanTxnMs = ms(time.Duration(c.txnNanos.Load()-nanos0)) / float64(n)
	}
	return b, nil
}
