// Package processor owns the exactly-once loop: a consumer group member that
// reads the events topic, applies each record to its order's process, and
// commits, in one Kafka transaction per poll, the changelog records, the
// ConfirmOrder commands, the dead letters and the input offsets.
//
// Where things happen:
//   - a record enters in handle (record.go);
//   - state changes through state.Manager, staged in the partition's
//     state.Store until the transaction ends;
//   - the transaction commits in commit (this file);
//   - partitions are restored from the changelog in restore.go.
package processor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/plugin/kprom"

	"github.com/catering-match/catering-match/state"
	"github.com/catering-match/catering-match/topics"
)

// Processor runs the catering process manager as one member of a consumer
// group. Create it with New and run it with Run.
type Processor[S any] struct {
	cfg     Config
	log     *slog.Logger
	def     Definition[S]
	manager *state.Manager[S]
	clock   func() time.Time
	stats   Stats

	// Written by franz-go's group callbacks and by queries, read by the loop.
	mu      sync.Mutex
	changes []assignment
	wakeFn  context.CancelFunc
	woken   bool
	running bool // a session runs: queries are answered
	// assigned: onAssigned ran in this session (franz-go calls it after
	// every sync, with or without partitions).
	assigned bool
	queries  []func() // run by the loop between transactions

	// noted counts the revocations and losses the group callbacks passed
	// on; the loop compares it with lastEndNoted (see endNoted).
	noted atomic.Int64

	// Read by other goroutines (health, queries, metrics).
	client     atomic.Pointer[kgo.Client] // the session's client
	held       atomic.Pointer[[]int32]    // the partitions in parts, sorted
	restoring  atomic.Int64               // assigned partitions not restored yet
	partitions atomic.Int32               // partitions of the events topic
	metrics    *metrics[S]
	tracing    *tracing // nil: off

	// Owned by the loop goroutine.
	parts    map[int32]*partition[S]
	restored chan restoreDone[S]
	heldBack []restoreDone[S] // finished restores waiting for a pending change
	eventsID [16]byte         // the events topic's id
	epoch    uint64
	random   *rand.Rand
	workers  int // partitions worked on in parallel within a poll
	maxBatch int // records of one transaction at most
	// lastEndNoted is noted as read just before the last End: a revoke
	// noted after it may have left GroupTransactSession's revoked flag set.
	lastEndNoted int64
	// reconcileAt, when not zero, is when to next compare the partitions
	// held with the group coordinator's assignment (see reconcile).
	reconcileAt time.Time
}

// partition is one assigned input partition and its processes.
type partition[S any] struct {
	id    int32
	epoch uint64          // which assignment this is
	store *state.Store[S] // nil while restoring
	due   *dueQueue       // when each process next needs the clock
	// tally counts the committed processes by status, kept at each commit,
	// so that a metrics scrape does not visit them.
	tally  tally
	cancel context.CancelFunc // stops the restore
	// The last fetch's high watermark and the next offset to process.
	highWatermark, next int64
}

type assignment struct {
	assigned bool // false: revoked or lost
	parts    []int32
}

type restoreDone[S any] struct {
	part  int32
	epoch uint64
	res   restoreResult[S]
	err   error
}

// New returns a Processor that runs the process manager def with cfg, or
// the reasons they cannot work.
func New[S any](cfg Config, def Definition[S]) (*Processor[S], error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("invalid configuration: %w", err)
	}
	def, err := def.withDefaults()
	if err != nil {
		return nil, err
	}
	m, err := state.NewManager(def.Process, cfg.Limits)
	if err != nil {
		return nil, err
	}
	p := &Processor[S]{cfg: cfg, def: def, manager: m, log: cfg.Logger, clock: cfg.Clock}
	if p.log == nil {
		p.log = slog.Default()
	}
	if p.clock == nil {
		p.clock = time.Now
	}
	p.workers = cfg.Workers
	p.maxBatch = cfg.MaxBatchRecords
	if p.maxBatch == 0 {
		p.maxBatch = 8 * cfg.MaxPollRecords
	}
	if p.workers == 0 {
		p.workers = runtime.GOMAXPROCS(0)
	}
	p.random = rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 0x5eed))
	p.tracing = newTracing(cfg)
	p.metrics = newMetrics(p)
	if cfg.Registerer != nil {
		if err := p.metrics.register(cfg.Registerer); err != nil {
			return nil, fmt.Errorf("register metrics: %w", err)
		}
	}
	return p, nil
}

// Stats returns the processor's live counters.
func (p *Processor[S]) Stats() *Stats { return &p.stats }

// fatalError marks an error that a new session cannot cure.
type fatalError struct{ err error }

func (e fatalError) Error() string { return e.err.Error() }
func (e fatalError) Unwrap() error { return e.err }

// Run ensures the topics, then processes until ctx ends (returning nil) or a
// fatal error occurs. A session that fails otherwise (an unknown transaction
// outcome, a fenced producer, a lost broker) is rebuilt from scratch: new
// client, state restored from the changelog, so nothing depends on what the
// failed session believed.
func (p *Processor[S]) Run(ctx context.Context) error {
	admin, err := kgo.NewClient(p.clientOpts()...)
	if err != nil {
		return fmt.Errorf("kafka client: %w", err)
	}
	defer admin.Close()
	layout, err := topics.Ensure(ctx, admin, p.cfg.Topics, p.cfg.Spec)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	p.partitions.Store(layout.Partitions)
	p.log.Info("topics ready", "events", p.cfg.Topics.Events, "changelog", p.cfg.Topics.Changelog,
		"commands", p.cfg.Topics.Commands, "dlq", p.cfg.Topics.DLQ, "partitions", layout.Partitions)

	backoff := time.Second
	for {
		started := time.Now()
		err := p.session(ctx, admin)
		if ctx.Err() != nil {
			return nil
		}
		var fatal fatalError
		if errors.As(err, &fatal) {
			return fatal.err
		}
		if time.Since(started) > time.Minute {
			backoff = time.Second
		}
		p.stats.SessionRestarts.Add(1)
		p.log.Error("session failed; rebuilding the client and restoring state from the changelog",
			"err", err, "retry_in", backoff.String())
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}

func (p *Processor[S]) clientOpts() []kgo.Opt {
	opts := []kgo.Opt{
		kgo.SeedBrokers(p.cfg.Brokers...),
		kgo.WithLogger(kgoLogger(p.log)),
	}
	return append(opts, p.cfg.ClientOpts...)
}

// session runs one transactional group session until ctx ends or an error.
func (p *Processor[S]) session(ctx context.Context, admin *kgo.Client) error {
	p.parts = map[int32]*partition[S]{}
	p.restored = make(chan restoreDone[S], 64)
	p.heldBack = nil
	p.held.Store(nil)
	p.lastEndNoted, p.reconcileAt = p.noted.Load(), time.Time{}
	p.mu.Lock()
	p.changes, p.woken, p.running, p.assigned = nil, false, true, false
	p.mu.Unlock()
	defer p.endQueries()

	opts := append(p.clientOpts(),
		kgo.ConsumerGroup(p.cfg.Group),
		kgo.ConsumeTopics(p.cfg.Topics.Events),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.TransactionalID(p.cfg.TransactionalID()),
		kgo.TransactionTimeout(p.cfg.TransactionTimeout),
		kgo.SessionTimeout(p.cfg.SessionTimeout),
		kgo.ProducerLinger(0), // the default 10 ms linger added ~11 ms to every transaction
		// A fetch in flight while a partition is paused for its restore
		// does not see it resumed; a short long-poll bounds that delay
		// (franz-go's default of 5 s showed as 5 s of latency after every
		// assignment).
		kgo.FetchMaxWait(250*time.Millisecond),
		kgo.RecordPartitioner(newPartitioner(p.cfg.Topics.Changelog)),
		kgo.OnPartitionsAssigned(p.onAssigned),
		kgo.OnPartitionsRevoked(p.onRevoked),
		kgo.OnPartitionsLost(p.onLost),
	)
	if p.cfg.StaticMembership {
		opts = append(opts, kgo.InstanceID(p.cfg.InstanceID))
	}
	if p.cfg.Registerer != nil {
		// Client metrics are the session client's: a kprom set of its own
		// per session (kprom registers on the client's start and unregisters
		// on its close; sharing one set across sessions races with the
		// closed client's last hooks).
		opts = append(opts, kgo.WithHooks(kprom.NewMetrics(p.cfg.Namespace+"_kafka", kprom.Registerer(p.cfg.Registerer))))
	}
	if p.tracing != nil {
		opts = append(opts, kgo.WithHooks(fetchHooks{p.tracing.kotel}))
	}
	sess, err := kgo.NewGroupTransactSession(opts...)
	if err != nil {
		return fatalError{fmt.Errorf("kafka client: %w", err)}
	}
	p.client.Store(sess.Client())
	sessCtx, cancel := context.WithCancel(ctx)
	defer func() {
		p.client.Store(nil)
		cancel() // stop restores
		p.shutdown(sess)
	}()

	// Initialising the producer id fences an earlier incarnation of this
	// transactional id and ends its open transaction, before any restore
	// reads the changelog that transaction may have written to.
	if _, _, err := sess.Client().ProducerID(sessCtx); err != nil {
		return classify(fmt.Errorf("initialise transactional id %q: %w", p.cfg.TransactionalID(), err))
	}
	p.log.Info("joined", "group", p.cfg.Group, "instance_id", p.cfg.InstanceID,
		"transactional_id", p.cfg.TransactionalID(), "static_membership", p.cfg.StaticMembership)

	rst := newRestorer(admin, p.cfg.Topics.Changelog, p.def.Codec, p.manager, p.log)
	rst.track = &tracking[S]{status: p.def.Status}
	adm := kadm.NewClient(admin)
	td, err := adm.ListTopics(sessCtx, p.cfg.Topics.Events)
	if err == nil {
		err = td.Error()
	}
	if err != nil {
		return fmt.Errorf("describe %s: %w", p.cfg.Topics.Events, err)
	}
	p.eventsID = td[p.cfg.Topics.Events].ID
	restoreSlots := make(chan struct{}, p.cfg.RestoreConcurrency)
	lastTick := p.clock()
	lastProgress, lastTxns := time.Now(), int64(0)
	for {
		if ctx.Err() != nil {
			return nil
		}
		if err := p.applyChanges(sessCtx, sess.Client(), rst, restoreSlots); err != nil {
			return err
		}
		if err := p.endNoted(sess); err != nil {
			return err
		}
		p.reconcile(sessCtx, adm, sess.Client())
		p.runQueries()
		wait := max(0, min(p.cfg.TickInterval, p.cfg.TickInterval-p.clock().Sub(lastTick)))
		fetches := p.poll(ctx, sess, wait)
		if fetches.IsClientClosed() {
			return errors.New("kafka client closed")
		}
		var fetchErr error
		fetches.EachError(func(t string, part int32, err error) {
			if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
				return
			}
			p.log.Warn("fetch error", "topic", t, "partition", part, "err", err)
			if isFatalKafkaErr(err) {
				fetchErr = fatalError{fmt.Errorf("fetch %s partition %d: %w", t, part, err)}
			}
		})
		if fetchErr != nil {
			return fetchErr
		}
		if ctx.Err() != nil {
			return nil
		}
		// Revocations that arrived during the poll are applied before any
		// store is touched.
		if err := p.applyChanges(sessCtx, sess.Client(), rst, restoreSlots); err != nil {
			return err
		}

		now := p.clock()
		tickDue := now.Sub(lastTick) >= p.cfg.TickInterval
		if tickDue {
			lastTick = now
		}
		b := p.plan(fetches, now, tickDue)
		if b.records > 0 && b.abort == "" {
			// Records always make a transaction (their offsets): it begins
			// now, and each partition's records go out as it is done.
			if err := p.begin(sess, b); err != nil {
				return err
			}
		}
		p.prepare(b, now)
		if b.records > 0 || b.writes > 0 {
			if err := p.commit(ctx, sess, b); err != nil {
				return err
			}
		}
		if time.Since(lastProgress) >= 30*time.Second {
			lastProgress = time.Now()
			if n := p.stats.TxnCommitted.Load() + p.stats.TxnAborted.Load(); n != lastTxns {
				lastTxns = n
				p.logProgress()
			}
		}
	}
}

// shutdown ends a session in the order a clean exit needs: abort any
// transaction still open (a plain Close would leave read_committed readers
// stalled until the transaction timeout), then leave the group and close.
func (p *Processor[S]) shutdown(sess *kgo.GroupTransactSession) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := sess.End(ctx, kgo.TryAbort); err != nil {
		p.log.Warn("abort on shutdown", "err", err)
	}
	sess.Close() // leaves the group (a static member keeps its partitions for the session timeout)
	p.logProgress()
	for _, part := range p.parts {
		if part.cancel != nil {
			part.cancel()
		}
	}
	p.parts = map[int32]*partition[S]{}
}

// poll waits up to wait for records; a group change wakes it early.
func (p *Processor[S]) poll(ctx context.Context, sess *kgo.GroupTransactSession, wait time.Duration) kgo.Fetches {
	pctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	p.mu.Lock()
	if p.woken {
		p.woken = false
		cancel()
	} else {
		p.wakeFn = cancel
	}
	p.mu.Unlock()
	f := sess.PollRecords(pctx, p.cfg.MaxPollRecords)
	p.mu.Lock()
	p.wakeFn = nil
	p.mu.Unlock()
	// A full poll means lag: the transaction takes what else is buffered
	// already, up to MaxBatchRecords, without waiting for more. Under lag
	// a transaction's fixed cost (its round trips to the coordinator) is
	// shared by more records, and a batch spans more partitions, which
	// the workers take in parallel. Without lag, polls stay small and
	// nothing waits for a batch to fill.
	n := f.NumRecords()
	for n >= p.cfg.MaxPollRecords && n < p.maxBatch {
		more := sess.PollRecords(nil, min(p.cfg.MaxPollRecords, p.maxBatch-n)) //nolint:staticcheck // nil: drain what is buffered, never wait (franz-go's documented behaviour)
		m := more.NumRecords()
		if m == 0 {
			break
		}
		f = append(f, more...)
		n += m
	}
	return f
}

func (p *Processor[S]) wake() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.wakeFn != nil {
		p.wakeFn()
	} else {
		p.woken = true
	}
}

// The group callbacks only record what changed, pause new partitions until
// they are restored, and wake the loop: the loop owns the stores.
func (p *Processor[S]) onAssigned(_ context.Context, cl *kgo.Client, assigned map[string][]int32) {
	parts := assigned[p.cfg.Topics.Events]
	// Paused and noted under mu: the loop resumes a restored partition
	// under mu only when no change for it is pending, so a restore of an
	// earlier assignment can never resume this one. An assignment with
	// nothing new still counts for Ready.
	p.mu.Lock()
	p.assigned = true
	if len(parts) > 0 {
		cl.PauseFetchPartitions(map[string][]int32{p.cfg.Topics.Events: parts})
		p.changes = append(p.changes, assignment{assigned: true, parts: slices.Clone(parts)})
	}
	p.mu.Unlock()
	if len(parts) > 0 {
		p.wake()
	}
}

// onRevoked and onLost reach us only while GroupTransactSession has no
// revoke or loss pending: it drops later ones until End runs
// (franz-go v1.22.3, txn.go). The count makes the loop call End soon after each one
// (endNoted), and reconcile catches any that the session dropped before.
func (p *Processor[S]) onRevoked(_ context.Context, _ *kgo.Client, revoked map[string][]int32) {
	p.noted.Add(1)
	if parts := revoked[p.cfg.Topics.Events]; len(parts) > 0 {
		p.note(assignment{parts: slices.Clone(parts)})
	} else {
		p.wake()
	}
}

func (p *Processor[S]) onLost(ctx context.Context, cl *kgo.Client, lost map[string][]int32) {
	p.onRevoked(ctx, cl, lost)
}

func (p *Processor[S]) note(a assignment) {
	p.mu.Lock()
	p.changes = append(p.changes, a)
	p.mu.Unlock()
	p.wake()
}

// applyChanges starts restores for assigned partitions, drops revoked ones,
// and installs finished restores, resuming their fetches.
func (p *Processor[S]) applyChanges(ctx context.Context, cl *kgo.Client, rst *restorer[S], slots chan struct{}) error {
	p.mu.Lock()
	changes := p.changes
	p.changes = nil
	// Ready reads the pending changes, then the restoring count: count the
	// new restores before the changes stop being pending, or Ready would
	// say yes between the two (publishHeld sets the exact count).
	for _, c := range changes {
		if c.assigned {
			p.restoring.Add(int64(len(c.parts)))
		}
	}
	p.mu.Unlock()
	for _, c := range changes {
		if c.assigned {
			p.log.Info("partitions assigned; restoring them from the changelog", "partitions", c.parts)
		} else {
			p.log.Info("partitions revoked", "partitions", c.parts)
		}
		for _, id := range c.parts {
			p.drop(id)
			if !c.assigned {
				continue
			}
			p.epoch++
			rctx, cancel := context.WithCancel(ctx)
			part := &partition[S]{id: id, epoch: p.epoch, cancel: cancel}
			p.parts[id] = part
			go func(id int32, epoch uint64) {
				select {
				case slots <- struct{}{}:
				case <-rctx.Done():
					return
				}
				res, err := rst.restore(rctx, id)
				<-slots
				select {
				case p.restored <- restoreDone[S]{part: id, epoch: epoch, res: res, err: err}:
					p.wake()
				case <-rctx.Done():
				}
			}(id, part.epoch)
		}
	}
	// Results held back for a pending change are looked at again by the
	// next call, which runs that change first.
	heldBack := p.heldBack
	p.heldBack = nil
	for {
		var d restoreDone[S]
		if len(heldBack) > 0 {
			d, heldBack = heldBack[0], heldBack[1:]
		} else {
			select {
			case d = <-p.restored:
			default:
				p.publishHeld()
				return nil
			}
		}
		part := p.parts[d.part]
		if part == nil || part.epoch != d.epoch {
			continue // revoked while restoring
		}
		if d.err != nil {
			if errors.Is(d.err, context.Canceled) {
				continue
			}
			var corrupt *corruptRecordError
			if errors.As(d.err, &corrupt) {
				return fatalError{d.err} // the same record stops every retry: an operator must act
			}
			// Broker gone, leader moves beyond the retries, a timeout:
			// a new session restores from scratch.
			return fmt.Errorf("restore partition %d: %w", d.part, d.err)
		}
		if !p.install(cl, part, d) {
			p.heldBack = append(p.heldBack, d)
		}
	}
}

// install makes a finished restore the partition's state and resumes its
// fetches, unless a group change is pending: the change may be a new
// assignment of the same partition, paused by onAssigned, that this
// restore must not resume.
func (p *Processor[S]) install(cl *kgo.Client, part *partition[S], d restoreDone[S]) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.changes) > 0 {
		return false
	}
	part.store, part.due, part.tally, part.cancel = d.res.store, d.res.due, d.res.tally, nil
	p.metrics.restored(d.part, d.res.took, d.res.records)
	p.stats.Restored.Add(int64(d.res.store.Len()))
	p.stats.RestoreRecords.Add(d.res.records)
	p.log.Info("partition restored", "partition", d.part, "processes", d.res.store.Len(),
		"changelog_records", d.res.records, "took", d.res.took.Round(time.Millisecond).String())
	cl.ResumeFetchPartitions(map[string][]int32{p.cfg.Topics.Events: {d.part}})
	return true
}

// drop forgets partition id: its store, its timers, its restore.
func (p *Processor[S]) drop(id int32) {
	if old := p.parts[id]; old != nil {
		if old.cancel != nil {
			old.cancel()
		}
		delete(p.parts, id)
	}
}

// publishHeld records the partitions held for Held, the restoring gauge
// and the log.
func (p *Processor[S]) publishHeld() {
	held := make([]int32, 0, len(p.parts))
	var restoring int64
	for id, part := range p.parts {
		held = append(held, id)
		if part.store == nil {
			restoring++
		}
	}
	slices.Sort(held)
	p.restoring.Store(restoring)
	if old := p.held.Load(); old == nil || !slices.Equal(*old, held) {
		p.held.Store(&held)
		p.log.Info("partitions held", "partitions", held)
	}
}

// Held returns the input partitions this instance holds: those it has
// the state, the timers or a running restore of. It is exactly what it
// writes for and answers from memory.
func (p *Processor[S]) Held() []int32 {
	if h := p.held.Load(); h != nil && p.client.Load() != nil {
		return slices.Clone(*h)
	}
	return nil
}

// endNoted calls End when a revoke or loss was noted since the last one,
// and nothing else would call it: GroupTransactSession passes no further
// revoke to onRevoked until End clears the one it saw (franz-go txn.go), so an
// idle loop that ended no transaction would never hear of the next one.
// Not in a transaction, End aborts nothing and resets the positions to the
// committed offsets, which they are at between two transactions.
func (p *Processor[S]) endNoted(sess *kgo.GroupTransactSession) error {
	if p.noted.Load() == p.lastEndNoted {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), p.cfg.TransactionTimeout)
	defer cancel()
	if _, _, err := p.end(ctx, sess, kgo.TryAbort); err != nil {
		return classify(fmt.Errorf("end after a group change: %w", err))
	}
	return nil
}

// end is the one place the loop calls End. It reports whether a revoke or
// loss was noted since the previous End, which is what can explain an
// abort, and then schedules a reconcile: a later revoke may have been
// dropped by the session while the earlier one's flag was still set.
func (p *Processor[S]) end(ctx context.Context, sess *kgo.GroupTransactSession, try kgo.TransactionEndTry) (committed, groupChanged bool, err error) {
	since, noted := p.lastEndNoted, p.noted.Load()
	committed, err = sess.End(ctx, try)
	p.lastEndNoted = noted
	groupChanged = p.noted.Load() != since
	if groupChanged {
		p.reconcileAt = time.Now()
	}
	return committed, groupChanged, err
}

// reconcile compares the partitions held with the coordinator's record of
// this member's assignment, once the group is stable after a change, and
// drops any it no longer has. A revoke that GroupTransactSession dropped
// (one that came between an earlier revoke and the End that cleared it)
// shows here; the loop then holds exactly its assignment again. A stable
// group's assignment is final for its generation, so a partition missing
// from it is not ours even if the client has not told us yet.
func (p *Processor[S]) reconcile(ctx context.Context, admin *kadm.Client, cl *kgo.Client) {
	if p.reconcileAt.IsZero() || time.Now().Before(p.reconcileAt) {
		return
	}
	p.reconcileAt = time.Now().Add(250 * time.Millisecond) // retry while the group settles
	member, _ := cl.GroupMetadata()
	if member == "" {
		return
	}
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	groups, err := admin.DescribeGroups(dctx, p.cfg.Group)
	if err != nil {
		p.log.Debug("describe group for reconcile", "err", err)
		return
	}
	g, ok := groups[p.cfg.Group]
	if !ok || g.Err != nil || g.State != "Stable" {
		return
	}
	var mine map[int32]bool
	for _, m := range g.Members {
		if m.MemberID != member {
			continue
		}
		c, ok := m.Assigned.AsConsumer()
		if !ok {
			return
		}
		mine = map[int32]bool{}
		for _, t := range c.Topics {
			if t.Topic == p.cfg.Topics.Events {
				for _, id := range t.Partitions {
					mine[id] = true
				}
			}
		}
	}
	if mine == nil {
		return // not a member of the described generation (rejoining): retry
	}
	p.reconcileAt = time.Time{}
	var gone []int32
	for id := range p.parts {
		if !mine[id] {
			gone = append(gone, id)
		}
	}
	if len(gone) == 0 {
		return
	}
	slices.Sort(gone)
	p.log.Warn("partitions no longer assigned to this member, though no revoke reached it; dropping them",
		"partitions", gone, "group_state", g.State)
	cl.PauseFetchPartitions(map[string][]int32{p.cfg.Topics.Events: gone})
	for _, id := range gone {
		p.drop(id)
	}
	p.publishHeld()
}

// begin begins b's transaction. A shutdown signal must not cut a commit in
// half: the transaction gets its own deadline, and is aborted if the
// signal came first.
func (p *Processor[S]) begin(sess *kgo.GroupTransactSession, b *batch[S]) error {
	if err := sess.Begin(); err != nil {
		return classify(fmt.Errorf("begin transaction: %w", err))
	}
	b.began, b.beganAt = true, time.Now()
	b.tctx, b.cancel = context.WithTimeout(context.Background(), p.cfg.TransactionTimeout)
	b.produce = func(r *kgo.Record) { sess.Produce(b.tctx, r, b.promise) }
	if p.tracing != nil {
		b.traceCtx, b.span = p.tracing.startTxn(b)
		b.inject = p.tracing.inject
	}
	return nil
}

// commit writes the batch in one transaction: for every partition the
// changelog records of the processes it changed (to the changelog partition
// of the same number), the commands and dead letters, and the offsets of
// the polled records. The stores make the staged changes their committed
// state only when the transaction committed.
func (p *Processor[S]) commit(ctx context.Context, sess *kgo.GroupTransactSession, b *batch[S]) error {
	if !b.began {
		if err := p.begin(sess, b); err != nil {
			p.rollback(b)
			return err
		}
		for w := range b.all() {
			b.send(w)
		}
	}
	defer b.cancel()
	outcome := "committed"
	var endErr error
	if b.span != nil {
		defer func() { endTxn(b.span, outcome, b.records, b.writes, endErr) }()
	}
	tctx := b.tctx
	began := b.beganAt
	defer func() { p.metrics.txnDuration.Observe(time.Since(began).Seconds()) }()
	flushErr := sess.Client().Flush(tctx)

	reason := ""
	switch {
	case b.abort != "":
		reason = b.abort
	case flushErr != nil:
		reason = "flush failed: " + flushErr.Error()
	case b.prodErr != nil:
		reason = b.prodErr.Error()
	case ctx.Err() != nil:
		reason = "shutting down"
	case p.cfg.AbortEvery > 0 && p.random.IntN(p.cfg.AbortEvery) == 0:
		reason = "test-only random abort"
	}
	// Every transaction commits the offsets of every partition it holds,
	// not only of those it polled from: the group coordinator then refuses
	// it unless this member is in the current generation, so a tick of a
	// stale holder or a zombie (whose expiries and tombstones would
	// otherwise overwrite the new owner's records) aborts.
	committedOffsets := sess.Client().CommittedOffsets()[p.cfg.Topics.Events]
	fenced := kgo.PreTxnCommitFnContext(tctx, func(req *kmsg.TxnOffsetCommitRequest) error {
		p.fence(req, committedOffsets)
		return nil
	})
	committed, groupChanged, err := p.end(fenced, sess, kgo.TransactionEndTry(reason == ""))
	switch endOutcome(reason == "", committed, err, groupChanged) {
	case outcomeUnknown:
		// Nothing here may assume either way: the session is rebuilt and
		// state restored from what the changelog really holds, where
		// replayed events are duplicates.
		p.rollback(b)
		p.stats.TxnUnknown.Add(1)
		if err == nil {
			err = errors.New("not committed, and no revoke or loss explains it")
		}
		outcome, endErr = "unknown", err
		return classify(fmt.Errorf("end transaction (outcome unknown; rebuilding the session from the changelog): %w", err))
	case outcomeAborted:
		p.rollback(b)
		p.stats.TxnAborted.Add(1)
		if reason == "" {
			reason = "group rebalanced during the transaction"
		}
		outcome = "aborted"
		p.log.Info("transaction aborted; its records will be polled again", "reason", reason, "records", b.records)
		return nil
	}
	committedAt := time.Now()
	p.settle(b.parts)
	debug := p.log.Enabled(context.Background(), slog.LevelDebug)
	works := slices.Concat(b.works, b.ticks)
	p.parallel(len(works), func(i int) {
		w := works[i]
		for _, r := range w.records {
			p.metrics.eventToCommit.Observe(max(0, committedAt.Sub(r.Timestamp).Seconds()))
		}
		for _, d := range w.decided {
			p.metrics.match.Observe(max(0, d.Entry.At.Time().Sub(d.Started).Seconds()))
			switch {
			case d.Cause == nil:
				p.log.Info(p.def.Logs.Deadline, p.def.Logs.Key, d.Key, "decision", d.Entry.Type)
			case debug:
				p.log.Debug("decision recorded", p.def.Logs.Key, d.Key, "decision", d.Entry.Type, "ref", d.Entry.Ref, "causation_id", d.Cause.ID)
			}
		}
	})
	p.stats.TxnCommitted.Add(1)
	p.stats.add(&b.stats)
	return nil
}

type outcome int

const (
	outcomeCommitted outcome = iota
	outcomeAborted           // cleanly: the records are polled and decided again
	outcomeUnknown           // maybe committed: rebuild from the changelog
)

// endOutcome reads what End said. An error is an unknown outcome (End can
// fail after the commit happened, franz-go issue 1052). So is "not
// committed" when a commit was asked for and no revoke or loss was noted
// since the flags End checks were last cleared: End reports an
// UNKNOWN_SERVER_ERROR from EndTxn that way, though the broker may have
// committed, and deciding the same records again could issue a second
// ConfirmOrder. Only an abort that was asked for, or that a group change
// explains, is clean.
func endOutcome(wantCommit, committed bool, err error, groupChanged bool) outcome {
	switch {
	case err != nil:
		return outcomeUnknown
	case committed:
		return outcomeCommitted
	case wantCommit && !groupChanged:
		return outcomeUnknown
	default:
		return outcomeAborted
	}
}

// settle makes the staged changes of parts their committed state, after
// their transaction committed, and queues the timers and moves the status
// counts that go with them. Shards are independent, so it works on every
// shard of every partition in parallel: a batch that lag fills holds one or
// two partitions, and a partition at a time kept one core busy and the
// other waiting.
func (p *Processor[S]) settle(parts []*partition[S]) {
	done := make([]settled, len(parts)*state.Shards)
	p.parallel(len(done), func(i int) {
		p.settleShard(parts[i/state.Shards].store.Shard(i%state.Shards), &done[i])
	})
	for i := range done {
		part, d := parts[i/state.Shards], &done[i]
		for _, e := range d.deadlines {
			part.due.add(e, false)
		}
		for _, e := range d.ends {
			part.due.add(e, true)
		}
		for _, c := range d.tally {
			part.tally.add(c.status, c.n)
		}
	}
}

// settled is what committing one shard changed in its partition's timers
// and status counts.
type settled struct {
	deadlines, ends []dueEntry
	tally           tally
}

// settleShard commits sh's staged changes into d: a timer for every process
// whose next due time changed (new ones, and ones that just became
// terminal), and the moves between the status counts.
func (p *Processor[S]) settleShard(sh *state.Shard[S], d *settled) {
	sh.CommitEach(func(_ string, hash uint64, old, cur *state.Process[S]) {
		if old != nil {
			d.tally.add(p.def.Status(old.State), -1)
		}
		if cur == nil {
			return
		}
		d.tally.add(p.def.Status(cur.State), 1)
		if old != nil && p.manager.Terminal(old) == p.manager.Terminal(cur) {
			return
		}
		if at, ended, ok := p.manager.Due(cur.History, cur.State); ok {
			e := dueEntry{at: int64(at), hash: hash}
			if ended {
				d.ends = append(d.ends, e)
			} else {
				d.deadlines = append(d.deadlines, e)
			}
		}
	})
}

// rollback discards the staged changes of an aborted transaction and puts
// back the due-queue entries its tick took, so that the expiries and
// retentions it carried happen in a later one.
func (p *Processor[S]) rollback(b *batch[S]) {
	for _, pt := range b.parts {
		pt.store.Rollback()
	}
	for _, w := range b.ticks {
		if p.parts[w.part.id] != w.part {
			continue // dropped since: its timers went with it
		}
		for _, e := range w.popped {
			w.part.due.add(e.e, e.ended)
		}
		w.popped = nil
	}
}

// fence adds to the transaction's offset commit every held partition the
// request does not carry yet, at its committed offset, so that the
// coordinator's generation check covers everything the transaction writes.
// A partition the group has never committed is given offset 0, which under
// this service's reset policy (from the start) means what no commit means.
func (p *Processor[S]) fence(req *kmsg.TxnOffsetCommitRequest, committed map[int32]kgo.EpochOffset) {
	var topic *kmsg.TxnOffsetCommitRequestTopic
	for i := range req.Topics {
		if req.Topics[i].Topic == p.cfg.Topics.Events {
			topic = &req.Topics[i]
		}
	}
	if topic == nil {
		req.Topics = append(req.Topics, kmsg.NewTxnOffsetCommitRequestTopic())
		topic = &req.Topics[len(req.Topics)-1]
		topic.Topic, topic.TopicID = p.cfg.Topics.Events, p.eventsID // v6+ names topics by id
	}
	have := make(map[int32]bool, len(topic.Partitions))
	for _, rp := range topic.Partitions {
		have[rp.Partition] = true
	}
	for id, part := range p.parts {
		if have[id] || part.store == nil {
			continue
		}
		rp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
		rp.Partition = id
		rp.LeaderEpoch = -1
		if eo, ok := committed[id]; ok {
			rp.Offset, rp.LeaderEpoch = eo.Offset, eo.Epoch
		}
		rp.Metadata = &req.MemberID
		topic.Partitions = append(topic.Partitions, rp)
	}
	if len(topic.Partitions) == 0 {
		req.Topics = slices.DeleteFunc(req.Topics, func(t kmsg.TxnOffsetCommitRequestTopic) bool { return len(t.Partitions) == 0 })
	}
}

func (p *Processor[S]) logProgress() {
	s := &p.stats
	live := 0
	for _, part := range p.parts {
		if part.store != nil {
			live += part.store.Len()
		}
	}
	p.log.Info("progress",
		"applied", s.Applied.Load(), "commands_issued", s.CommandsIssued.Load(),
		"dead_lettered", s.DeadLettered.Load(), "skipped_duplicate", s.SkippedDuplicate.Load(),
		"skipped_terminal", s.SkippedTerminal.Load(), "skipped_other_type", s.SkippedOtherType.Load(),
		"expired", s.Expired.Load(), "forgotten", s.Forgotten.Load(),
		"txn_committed", s.TxnCommitted.Load(), "txn_aborted", s.TxnAborted.Load(),
		"partitions", len(p.parts), "live_processes", live)
}

// classify marks the errors no new session can cure as fatal.
func classify(err error) error {
	if isFatalKafkaErr(err) {
		return fatalError{err}
	}
	return err
}

func isFatalKafkaErr(err error) bool {
	for _, e := range []error{
		kerr.SaslAuthenticationFailed, kerr.TopicAuthorizationFailed, kerr.GroupAuthorizationFailed,
		kerr.TransactionalIDAuthorizationFailed, kerr.ClusterAuthorizationFailed,
		kerr.UnsupportedSaslMechanism, kerr.IllegalSaslState,
	} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}
