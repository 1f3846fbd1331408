package bench

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
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

	end := r.prog.phase(lr.name, int64(lr.expected), got.Load)
	defer end()
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
