package bench

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"time"

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

// startProcessor runs a processor of group on names with members and
// workers (processor.Config.Members and Workers).
func (r *runner) startProcessor(ctx context.Context, group string, names topics.Names, members, workers int) (*runningProcessor, error) {
	cfg := processor.DefaultConfig()
	cfg.Brokers = r.brokers
	cfg.ClientOpts = r.o.ClientOpts
	cfg.Group = group
	cfg.InstanceID = "bench"
	cfg.Topics = names
	cfg.Spec = r.spec()
	cfg.MaxPollRecords = r.o.MaxPollRecords
	cfg.Members, cfg.Workers = members, workers
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

// waitReady waits until the processor has joined and restored its
// partitions.
func (rp *runningProcessor) waitReady(ctx context.Context) error {
	deadline := time.Now().Add(stallTimeout)
	for !rp.p.Ready() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-rp.exited:
			return fmt.Errorf("the processor stopped before it was ready: %v", rp.err)
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the processor was not ready within %v", stallTimeout)
		}
	}
	return nil
}

// waitSettled waits until group is stable with its members members and
// every partition assigned: members of one process that join an embedded
// broker's group one by one rebalance it two or three times in their first
// second (a real broker's group.initial.rebalance.delay.ms waits for them),
// and a latency run measures the steady state, not that.
func (r *runner) waitSettled(ctx context.Context, group string, members int) error {
	deadline := time.Now().Add(stallTimeout)
	for {
		gs, err := r.adm.DescribeGroups(ctx, group)
		if err == nil {
			g := gs[group]
			assigned := 0
			for _, m := range g.Members {
				if c, ok := m.Assigned.AsConsumer(); ok {
					for _, t := range c.Topics {
						assigned += len(t.Partitions)
					}
				}
			}
			if g.Err == nil && g.State == "Stable" && len(g.Members) == members && assigned == int(r.o.Partitions) {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("group %s did not settle with %d members within %v", group, members, stallTimeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
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

// eosRun runs a fresh processor (its own group, commands, changelog and
// DLQ topics, so empty state) over the whole throughput input and times it
// from Run until every record is accounted for. The run's topics are
// deleted afterwards.
func (r *runner) eosRun(ctx context.Context, label, profile string, members, workers int) (EOSRun, error) {
	r.seq++
	group := fmt.Sprintf("%s-eos%d", r.group, r.seq)
	names := topics.Names{Events: r.tpIn.topic, Commands: group + "-commands", Changelog: group + "-changelog", DLQ: group + "-dlq"}
	// Created before the clock starts: Run then only checks them.
	if _, err := topics.Ensure(ctx, r.admCl, names, r.spec()); err != nil {
		return EOSRun{}, fmt.Errorf("create the run's topics: %w", err)
	}
	defer r.deleteTopics(names.Commands, names.Changelog, names.DLQ)
	total, expected := r.tpIn.events, r.tpIn.commands
	var out EOSRun
	runtime.GC() // every run starts from a collected heap
	err := r.profiled(profile, func() error {
		cpu0, cpuOK := processCPU()
		rp, err := r.startProcessor(ctx, group, names, members, workers)
		if err != nil {
			return err
		}
		defer rp.stop()
		st := rp.p.Stats()
		bar := r.prog.phase(label, total, "events", func() int64 { return accounted(st) })
		readyAt := time.Duration(-1)
		err = waitFor(ctx, "the processor", total, func() int64 { return accounted(st) }, rp.exited, func() error { return rp.err },
			func() {
				if readyAt < 0 && rp.p.Ready() {
					readyAt = time.Since(rp.started)
				}
			})
		took := time.Since(rp.started)
		cpu1, _ := processCPU()
		if err != nil {
			bar.end("")
			return err
		}
		if readyAt < 0 {
			readyAt = took
		}
		// The commands counter moves just after the record counters.
		for deadline := time.Now().Add(2 * time.Second); st.CommandsIssued.Load() < expected && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
		out = EOSRun{
			Members: members, Workers: workers, Records: total, Seconds: took.Seconds(), StartupSeconds: readyAt.Seconds(),
			EventsPerSec: float64(total) / took.Seconds(),
			Transactions: st.TxnCommitted.Load(), Applied: st.Applied.Load(),
			SkippedDuplicate: st.SkippedDuplicate.Load(), SkippedTerminal: st.SkippedTerminal.Load(),
			SkippedOtherType: st.SkippedOtherType.Load(), DeadLettered: st.DeadLettered.Load(),
			CommandsIssued: st.CommandsIssued.Load(), CommandsExpected: expected,
			Aborted: st.TxnAborted.Load(), SessionRestarts: st.SessionRestarts.Load(),
		}
		if cpuOK {
			out.CPUSeconds = (cpu1 - cpu0).Seconds()
		}
		restarts := ""
		if out.Aborted > 0 || out.SessionRestarts > 0 {
			restarts = fmt.Sprintf(", %d aborted, %d session restarts", out.Aborted, out.SessionRestarts)
		}
		bar.end(fmt.Sprintf("%s ev/s, startup %.2fs, %d txns, %d/%d commands%s", count(out.EventsPerSec), out.StartupSeconds,
			out.Transactions, out.CommandsIssued, out.CommandsExpected, restarts))
		return rp.stop()
	})
	if err != nil {
		return out, err
	}
	return out, nil
}

// latencyRate is the rate of the latency phases: the option, or half the
// lower of the two median throughputs. Half of the faster loop's peak
// would overload the slower one (on a real broker the copy loop, which
// commits every poll, is the slower), and its queueing would then pass
// for latency.
func (r *runner) latencyRate() float64 {
	if r.o.LatencyRate > 0 {
		return r.o.LatencyRate
	}
	peak := r.res.Throughput.EventsPerSec.Median
	if b := r.res.Throughput.Baseline.RecordsPerSec.Median; b > 0 {
		peak = min(peak, b)
	}
	return max(1, peak/2)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
