package bench

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// copyLoop is the throughput and latency baseline: the least an
// exactly-once consume-transform-produce loop does on this broker. It
// polls up to MaxPollRecords records, produces one record per input in a
// transaction that also commits the input offsets, and commits; with
// ProducerLinger(0) and read_committed, as the processor.
type copyLoop struct {
	sess    *kgo.GroupTransactSession
	out     string
	maxPoll int

	copied     atomic.Int64 // records whose copy committed
	txns       atomic.Int64 // committed transactions
	txnNanos   atomic.Int64 // summed Begin -> End of committed transactions
	assignedAt atomic.Int64 // ns from start to the first assignment

	started time.Time
	cancel  context.CancelFunc
	exited  chan struct{}
	err     error // once exited is closed
}

func (r *runner) startCopyLoop(ctx context.Context) (*copyLoop, error) {
	c := &copyLoop{out: r.copyOut, maxPoll: r.o.MaxPollRecords, exited: make(chan struct{}), started: time.Now()}
	sess, err := kgo.NewGroupTransactSession(append(r.seeds,
		kgo.ConsumerGroup(r.group+"-copy"),
		kgo.ConsumeTopics(r.copyIn),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.TransactionalID(r.group+"-copy"),
		kgo.TransactionTimeout(20*time.Second),
		kgo.SessionTimeout(10*time.Second),
		kgo.ProducerLinger(0),
		kgo.OnPartitionsAssigned(func(context.Context, *kgo.Client, map[string][]int32) {
			c.assignedAt.CompareAndSwap(0, int64(time.Since(c.started)))
		}),
	)...)
	if err != nil {
		return nil, err
	}
	c.sess = sess
	ctx, c.cancel = context.WithCancel(ctx)
	go func() {
		c.err = c.run(ctx)
		close(c.exited)
	}()
	return c, nil
}

func (c *copyLoop) run(ctx context.Context) error {
	defer func() {
		actx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _ = c.sess.End(actx, kgo.TryAbort) // Close alone would leave a transaction open
		c.sess.Close()
	}()
	for {
		fs := c.sess.PollRecords(ctx, c.maxPoll)
		if ctx.Err() != nil {
			return nil
		}
		if fs.IsClientClosed() {
			return errors.New("client closed")
		}
		var ferr error
		fs.EachError(func(t string, p int32, err error) {
			if ferr == nil && !errors.Is(err, context.Canceled) {
				ferr = fmt.Errorf("fetch %s partition %d: %w", t, p, err)
			}
		})
		if ferr != nil {
			return ferr
		}
		recs := fs.Records()
		if len(recs) == 0 {
			continue
		}
		began := time.Now()
		if err := c.sess.Begin(); err != nil {
			return err
		}
		tctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		var (
			mu      sync.Mutex
			prodErr error
		)
		for _, in := range recs {
			c.sess.Produce(tctx, &kgo.Record{Topic: c.out, Key: in.Key, Value: in.Value, Headers: in.Headers},
				func(_ *kgo.Record, err error) {
					if err != nil {
						mu.Lock()
						prodErr = err
						mu.Unlock()
					}
				})
		}
		flushErr := c.sess.Client().Flush(tctx)
		mu.Lock()
		ok := flushErr == nil && prodErr == nil
		mu.Unlock()
		committed, err := c.sess.End(tctx, kgo.TransactionEndTry(ok))
		cancel()
		if err != nil {
			return fmt.Errorf("end transaction: %w", err)
		}
		if committed {
			c.txnNanos.Add(int64(time.Since(began)))
			c.txns.Add(1)
			c.copied.Add(int64(len(recs)))
		}
	}
}

func (c *copyLoop) stop() error {
	c.cancel()
	select {
	case <-c.exited:
		return c.err
	case <-time.After(time.Minute):
		return errors.New("the copy loop did not stop within a minute")
	}
}

// copyThroughput starts the copy loop on the copy of the events published
// up front and times it until every copy committed.
func (r *runner) copyThroughput(ctx context.Context) error {
	total := int64(len(r.phase1.events))
	c, err := r.startCopyLoop(ctx)
	if err != nil {
		return err
	}
	r.copyLoop = c
	end := r.prog.phase("copy-loop throughput", total, c.copied.Load)
	err = waitFor(ctx, "the copy loop", total, c.copied.Load, c.exited, func() error { return c.err }, nil)
	took := time.Since(c.started)
	end()
	if err != nil {
		return err
	}
	startup := time.Duration(c.assignedAt.Load())
	r.res.Throughput.Baseline = Copy{Seconds: took.Seconds(), StartupSeconds: startup.Seconds(),
		RecordsPerSec: float64(total) / took.Seconds(), Transactions: c.txns.Load()}
	if b := r.res.Throughput.Baseline.RecordsPerSec; b > 0 {
		r.res.Throughput.Ratio = r.res.Throughput.EventsPerSec / b
	}
	return nil
}

// copyLatency produces the latency phase's events to the copy loop at the
// same rate and times each copy, then stops the loop.
func (r *runner) copyLatency(ctx context.Context) error {
	c, wl := r.copyLoop, r.latencyWL
	txn0, nanos0 := c.txns.Load(), c.txnNanos.Load()
	out, err := r.measureLatency(ctx, latencyRun{
		name: "copy-loop latency", in: r.copyIn, out: r.copyOut, wl: wl, rate: r.res.Latency.RatePerSec,
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
		return err
	}
	b := CopyLatency{Percentiles: out.pct}
	if out.txns > 0 {
		b.CommitIntervalMs = ms(out.produceTook) / float64(out.txns)
	}
	if n := c.txns.Load() - txn0; n > 0 {
		b.MeanTxnMs = ms(time.Duration(c.txnNanos.Load()-nanos0)) / float64(n)
	}
	if err := c.stop(); err != nil {
		return fmt.Errorf("stop the copy loop: %w", err)
	}
	r.copyLoop = nil
	l := &r.res.Latency
	l.Baseline = b
	if b.P50Ms > 0 {
		l.RatioP50 = l.P50Ms / b.P50Ms
	}
	if b.P99Ms > 0 {
		l.RatioP99 = l.P99Ms / b.P99Ms
	}
	return nil
}
