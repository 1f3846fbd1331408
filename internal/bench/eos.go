package bench

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/catering-match/catering-match/internal/catering"
	"github.com/catering-match/catering-match/processor"
	"github.com/catering-match/catering-match/state"
	"github.com/catering-match/catering-match/topics"
)

// stallTimeout ends a phase that makes no progress for this long.
const stallTimeout = 60 * time.Second

// runningProcessor is the service's processing loop, run in-process.
type runningProcessor struct {
	p       *processor.Processor[state.Order]
	cancel  context.CancelFunc
	exited  chan struct{}
	err     error // Run's result, once exited is closed
	started time.Time
}

func (r *runner) startProcessor(ctx context.Context) (*runningProcessor, error) {
	cfg := processor.DefaultConfig()
	cfg.Brokers = r.brokers
	cfg.ClientOpts = r.o.ClientOpts
	cfg.Group = r.group
	cfg.InstanceID = "bench"
	cfg.Topics = r.names
	cfg.Spec = topics.Spec{Partitions: r.o.Partitions, ReplicationFactor: -1}
	cfg.MaxPollRecords = r.o.MaxPollRecords
	cfg.Logger = r.o.Logger
	p, err := processor.New(cfg, catering.Definition())
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	rp := &runningProcessor{p: p, cancel: cancel, exited: make(chan struct{}), started: time.Now()}
	go func() {
		rp.err = p.Run(ctx)
		close(rp.exited)
	}()
	return rp, nil
}

// stop ends Run (which aborts any open transaction) and waits for it.
func (rp *runningProcessor) stop() error {
	rp.cancel()
	select {
	case <-rp.exited:
		return rp.err
	case <-time.After(time.Minute):
		return errors.New("the processor did not stop within a minute")
	}
}

// accounted is how many input records the processor's committed
// transactions have dealt with, one way or another.
func accounted(s *processor.Stats) int64 {
	return s.Applied.Load() + s.SkippedDuplicate.Load() + s.SkippedTerminal.Load() +
		s.SkippedOtherType.Load() + s.DeadLettered.Load()
}

// waitFor polls cur every millisecond until it reaches total, and calls
// each (if set) on every poll. It fails when exited closes first (the loop
// under test stopped), on ctx, or after stallTimeout without progress.
func waitFor(ctx context.Context, what string, total int64, cur func() int64, exited <-chan struct{}, exitErr func() error, each func()) error {
	t := time.NewTicker(time.Millisecond)
	defer t.Stop()
	last, lastChange := int64(-1), time.Now()
	for {
		if each != nil {
			each()
		}
		n := cur()
		if n >= total {
			return nil
		}
		if n != last {
			last, lastChange = n, time.Now()
		} else if time.Since(lastChange) > stallTimeout {
			return fmt.Errorf("%s: stalled at %d of %d records for %v", what, n, total, stallTimeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-exited:
			return fmt.Errorf("%s stopped at %d of %d records: %v", what, cur(), total, exitErr())
		case <-t.C:
		}
	}
}

// eosThroughput starts the processor on the events published up front and
// times it until every record is accounted for. The processor keeps
// running for the latency phase.
func (r *runner) eosThroughput(ctx context.Context) error {
	total := int64(len(r.phase1.events))
	rp, err := r.startProcessor(ctx)
	if err != nil {
		return err
	}
	r.proc = rp
	st := rp.p.Stats()
	end := r.prog.phase("EOS throughput", total, func() int64 { return accounted(st) })
	readyAt := time.Duration(-1)
	err = waitFor(ctx, "the processor", total, func() int64 { return accounted(st) }, rp.exited, func() error { return rp.err },
		func() {
			if readyAt < 0 && rp.p.Ready() {
				readyAt = time.Since(rp.started)
			}
		})
	took := time.Since(rp.started)
	end()
	if err != nil {
		return err
	}
	if readyAt < 0 {
		readyAt = took
	}
	// The commands counter moves just after the record counters.
	for deadline := time.Now().Add(2 * time.Second); st.CommandsIssued.Load() < int64(r.phase1.commands) && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	r.res.Throughput = Throughput{
		Records: total, Seconds: took.Seconds(), StartupSeconds: readyAt.Seconds(),
		EventsPerSec: float64(total) / took.Seconds(),
		Transactions: st.TxnCommitted.Load(), Applied: st.Applied.Load(),
		SkippedDuplicate: st.SkippedDuplicate.Load(), SkippedTerminal: st.SkippedTerminal.Load(),
		SkippedOtherType: st.SkippedOtherType.Load(), DeadLettered: st.DeadLettered.Load(),
		CommandsIssued: st.CommandsIssued.Load(), CommandsExpected: int64(r.phase1.commands),
	}
	return nil
}

// latencyRate is the rate of the latency phases: the option, or half the
// measured EOS throughput.
func (r *runner) latencyRate() float64 {
	if r.o.LatencyRate > 0 {
		return r.o.LatencyRate
	}
	return max(1, r.res.Throughput.EventsPerSec/2)
}

// eosLatency produces new orders at the latency rate to the running
// processor and times each ConfirmOrder from its causation event's produce
// to its being visible read_committed. Then it stops the processor.
func (r *runner) eosLatency(ctx context.Context) error {
	rate := r.latencyRate()
	n := max(1, int(rate*r.o.LatencyDuration.Seconds()))
	wl, err := newWorkload("late", 1, n, r.o.Seed, 2)
	if err != nil {
		return err
	}
	r.latencyWL = wl
	st := r.proc.p.Stats()
	before := accounted(st)
	out, err := r.measureLatency(ctx, latencyRun{
		name: "EOS latency", in: r.names.Events, out: r.names.Commands, wl: wl, rate: rate,
		expected: wl.commands,
		match: func(rec *kgo.Record) (int, bool) {
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
		return err
	}
	// Every latency event is accounted for before the restore reads the
	// changelog: the processor is stopped only then.
	if err := waitFor(ctx, "the processor", before+int64(len(wl.events)), func() int64 { return accounted(st) },
		r.proc.exited, func() error { return r.proc.err }, nil); err != nil {
		return err
	}
	if err := r.proc.stop(); err != nil {
		return fmt.Errorf("stop the processor: %w", err)
	}
	r.proc = nil
	l := Latency{RatePerSec: rate, Seconds: out.produceTook.Seconds(), Orders: wl.orders, Events: len(wl.events), Percentiles: out.pct}
	if out.txns > 0 {
		l.CommitIntervalMs = ms(out.produceTook) / float64(out.txns)
		l.RecordsPerTxn = float64(out.records) / float64(out.txns)
	}
	l.LimitMs = l.CommitIntervalMs + 50
	r.res.Latency = l
	return nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
