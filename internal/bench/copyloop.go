package bench

import (
	"context"
	"errors"
	"fmt"
	"runtime"
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

// startCopyLoop runs a copy loop of group (also its transactional id)
// from in to out.
func (r *runner) startCopyLoop(ctx context.Context, group, in, out string) (*copyLoop, error) {
	c := &copyLoop{out: out, maxPoll: r.o.MaxPollRecords, exited: make(chan struct{}), started: time.Now()}
	sess, err := kgo.NewGroupTransactSession(append(r.seeds,
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(in),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.TransactionalID(group),
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

// waitAssigned waits until the loop has its partitions.
func (c *copyLoop) waitAssigned(ctx context.Context) error {
	deadline := time.Now().Add(stallTimeout)
	for c.assignedAt.Load() == 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-c.exited:
			return fmt.Errorf("the copy loop stopped before it was assigned: %v", c.err)
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the copy loop was not assigned within %v", stallTimeout)
		}
	}
	return nil
}

// copyRun runs a fresh copy loop (its own group and output topic) over
// the whole copy input and times it until every copy committed. The output
// topic is deleted afterwards.
func (r *runner) copyRun(ctx context.Context, label, profile string) (CopyRun, error) {
	r.seq++
	group := fmt.Sprintf("%s-copy%d", r.group, r.seq)
	out := group + "-out"
	if err := r.createTopics(ctx, out); err != nil {
		return CopyRun{}, err
	}
	defer r.deleteTopics(out)
	total := r.copyIn.records
	var res CopyRun
	runtime.GC() // every run starts from a collected heap
	err := r.profiled(profile, func() error {
		cpu0, cpuOK := processCPU()
		c, err := r.startCopyLoop(ctx, group, r.copyIn.topic, out)
		if err != nil {
			return err
		}
		defer c.stop()
		bar := r.prog.phase(label, total, "records", c.copied.Load)
		err = waitFor(ctx, "the copy loop", total, c.copied.Load, c.exited, func() error { return c.err }, nil)
		took := time.Since(c.started)
		cpu1, _ := processCPU()
		if err != nil {
			bar.end("")
			return err
		}
		res = CopyRun{Records: total, Seconds: took.Seconds(), StartupSeconds: time.Duration(c.assignedAt.Load()).Seconds(),
			RecordsPerSec: float64(total) / took.Seconds(), Transactions: c.txns.Load()}
		if cpuOK {
			res.CPUSeconds = (cpu1 - cpu0).Seconds()
		}
		bar.end(fmt.Sprintf("%s rec/s, startup %.2fs, %d txns", count(res.RecordsPerSec), res.StartupSeconds, res.Transactions))
		return c.stop()
	})
	return res, err
}
