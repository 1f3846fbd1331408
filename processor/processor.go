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
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/plugin/kprom"

	"github.com/catering-match/catering-match/state"
	"github.com/catering-match/catering-match/topics"
)

// Processor runs a process manager as one or more members of a consumer
// group (Config.Members), in one OS process. Create it with New and run it
// with Run.
type Processor[S any] struct {
	cfg     Config
	log     *slog.Logger
	def     Definition[S]
	manager *state.Manager[S]
	clock   func() time.Time
	stats   Stats

	partitions atomic.Int32 // partitions of the events topic
	metrics    *metrics[S]
	tracing    *tracing // nil: off
	workers    int      // partitions worked on in parallel within a poll
	maxBatch   int      // records of one transaction at most
	members    []*member[S]
	// endSeen, set by tests only, may change what End returned: it stands
	// for the broker answers kfake cannot give (a commit reported as an
	// abort).
	endSeen func(committed bool, err error) (bool, error)
}

// member is one consumer group member: its own client and transactional
// producer, the partitions the group gave it with their stores and timers,
// and the loop that owns them. Members share nothing but the Processor
// they embed (its configuration, definition, counters and metrics), as
// separate instances would: while one member's transaction ends, another's
// loop works, which is how a Processor keeps more than one core busy
// without overlapping the transactions of one producer (Kafka Streams runs
// its stream threads the same way).
type member[S any] struct {
	*Processor[S]
	id                          int
	instanceID, transactionalID string
	log                         *slog.Logger // the Processor's, with the member when there are several

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
	client    atomic.Pointer[kgo.Client] // the session's client
	closed    atomic.Bool                // the last session's client has closed (see shutdown)
	held      atomic.Pointer[[]int32]    // the partitions in parts, sorted
	restoring atomic.Int64               // assigned partitions not restored yet

	// Owned by the loop goroutine.
	parts    map[int32]*partition[S]
	restored chan restoreDone[S]
	heldBack []restoreDone[S] // finished restores waiting for a pending change
	eventsID [16]byte         // the events topic's id
	epoch    uint64
	random   *rand.Rand
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
	def, err := def.WithDefaults()
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
		// One per CPU, shared by the members: each member's loop is one
		// goroutine of work already.
		p.workers = max(1, runtime.GOMAXPROCS(0)/cfg.Members)
	}
	for i := range cfg.Members {
		m := &member[S]{Processor: p, id: i, instanceID: cfg.MemberInstanceID(i), transactionalID: cfg.MemberTransactionalID(i),
			log: p.log, parts: map[int32]*partition[S]{},
			random: rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 0x5eed+uint64(i)))}
		if cfg.Members > 1 {
			m.log = p.log.With("member", i)
		}
		p.members = append(p.members, m)
	}
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

	// Every member runs until ctx ends; a fatal error in one stops them all.
	mctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, len(p.members))
	for _, m := range p.members {
		go func() { errs <- m.run(mctx, admin) }()
	}
	var first error
	for range p.members {
		if err := <-errs; err != nil && first == nil {
			first = err
			cancel()
		}
	}
	return first
}

// run runs the member's sessions until ctx ends (nil) or a fatal error. A
// session that fails otherwise (an unknown transaction outcome, a fenced
// producer, a lost broker) is rebuilt from scratch: new client, state
// restored from the changelog, so nothing depends on what the failed
// session believed.
func (m *member[S]) run(ctx context.Context, admin *kgo.Client) error {
	backoff := time.Second
	for {
		started := time.Now()
		err := m.session(ctx, admin)
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
		m.stats.SessionRestarts.Add(1)
		m.log.Error("session failed; rebuilding the client and restoring state from the changelog",
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
func (m *member[S]) session(ctx context.Context, admin *kgo.Client) error {
	m.closed.Store(false)
	m.parts = map[int32]*partition[S]{}
	m.restored = make(chan restoreDone[S], 64)
	m.heldBack = nil
	m.held.Store(nil)
	m.lastEndNoted, m.reconcileAt = m.noted.Load(), time.Time{}
	m.mu.Lock()
	m.changes, m.woken, m.running, m.assigned = nil, false, true, false
	m.mu.Unlock()
	defer m.endQueries()

	opts := append(m.clientOpts(),
		kgo.ConsumerGroup(m.cfg.Group),
		kgo.ConsumeTopics(m.cfg.Topics.Events),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.TransactionalID(m.transactionalID),
		kgo.TransactionTimeout(m.cfg.TransactionTimeout),
		kgo.SessionTimeout(m.cfg.SessionTimeout),
		kgo.ProducerLinger(0), // the default 10 ms linger added ~11 ms to every transaction
		// A fetch in flight while a partition is paused for its restore
		// does not see it resumed; a short long-poll bounds that delay
		// (franz-go's default of 5 s showed as 5 s of latency after every
		// assignment).
		kgo.FetchMaxWait(250*time.Millisecond),
		kgo.RecordPartitioner(newPartitioner(m.cfg.Topics.Changelog)),
		kgo.OnPartitionsAssigned(m.onAssigned),
		kgo.OnPartitionsRevoked(m.onRevoked),
		kgo.OnPartitionsLost(m.onLost),
	)
	if m.cfg.StaticMembership {
		opts = append(opts, kgo.InstanceID(m.instanceID))
	}
	if m.cfg.Registerer != nil {
		// Client metrics are the session client's: a kprom set of its own
		// per session (kprom registers on the client's start and unregisters
		// on its close; sharing one set across sessions races with the
		// closed client's last hooks).
		opts = append(opts, kgo.WithHooks(kprom.NewMetrics(m.cfg.Namespace+"_kafka", kprom.Registerer(m.cfg.Registerer),
			kprom.WithStaticLabel(prometheus.Labels{"member": strconv.Itoa(m.id)}))))
	}
	if m.tracing != nil {
		opts = append(opts, kgo.WithHooks(fetchHooks{m.tracing.kotel}))
	}
	sess, err := kgo.NewGroupTransactSession(opts...)
	if err != nil {
		return fatalError{fmt.Errorf("kafka client: %w", err)}
	}
	m.client.Store(sess.Client())
	sessCtx, cancel := context.WithCancel(ctx)
	defer func() {
		m.client.Store(nil)
		cancel() // stop restores
		m.shutdown(sess, admin)
	}()

	// Initialising the producer id fences an earlier incarnation of this
	// transactional id and ends its open transaction, before any restore
	// reads the changelog that transaction may have written to.
	if _, _, err := sess.Client().ProducerID(sessCtx); err != nil {
		return classify(fmt.Errorf("initialise transactional id %q: %w", m.transactionalID, err))
	}
	m.log.Info("joined", "group", m.cfg.Group, "instance_id", m.instanceID,
		"transactional_id", m.transactionalID, "static_membership", m.cfg.StaticMembership)

	rst := newRestorer(admin, m.cfg.Topics.Changelog, m.def.Codec, m.manager, m.log)
	rst.summary = m.def.Summary
	adm := kadm.NewClient(admin)
	td, err := adm.ListTopics(sessCtx, m.cfg.Topics.Events)
	if err == nil {
		err = td.Error()
	}
	if err != nil {
		return fmt.Errorf("describe %s: %w", m.cfg.Topics.Events, err)
	}
	m.eventsID = td[m.cfg.Topics.Events].ID
	restoreSlots := make(chan struct{}, m.cfg.RestoreConcurrency)
	lastTick := m.clock()
	lastProgress, lastTxns := time.Now(), int64(0)
	for {
		if ctx.Err() != nil {
			return nil
		}
		if err := m.applyChanges(sessCtx, sess.Client(), rst, restoreSlots); err != nil {
			return err
		}
		if err := m.endNoted(sess); err != nil {
			return err
		}
		m.reconcile(sessCtx, adm, sess.Client())
		m.runQueries()
		wait := max(0, min(m.cfg.TickInterval, m.cfg.TickInterval-m.clock().Sub(lastTick)))
		fetches := m.poll(ctx, sess, wait)
		if fetches.IsClientClosed() {
			return errors.New("kafka client closed")
		}
		var fetchErr error
		fetches.EachError(func(t string, part int32, err error) {
			if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
				return
			}
			m.log.Warn("fetch error", "topic", t, "partition", part, "err", err)
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
		if err := m.applyChanges(sessCtx, sess.Client(), rst, restoreSlots); err != nil {
			return err
		}

		now := m.clock()
		tickDue := now.Sub(lastTick) >= m.cfg.TickInterval
		if tickDue {
			lastTick = now
		}
		b := m.plan(fetches, now, tickDue)
		if b.records > 0 && b.abort == "" {
			// Records always make a transaction (their offsets): it begins
			// now, and each partition's records go out as it is done.
			if err := m.begin(sess, b); err != nil {
				return err
			}
		}
		m.prepare(b, now)
		if b.records > 0 || b.writes > 0 {
			if err := m.commit(ctx, sess, b); err != nil {
				return err
			}
		}
		if time.Since(lastProgress) >= 30*time.Second {
			lastProgress = time.Now()
			if n := m.stats.TxnCommitted.Load() + m.stats.TxnAborted.Load(); n != lastTxns {
				lastTxns = n
				m.logProgress()
			}
		}
	}
}

// shutdown ends a session in the order a clean exit needs: abort any
// transaction still open (a plain Close would leave read_committed readers
// stalled until the transaction timeout), then leave the group and close.
func (m *member[S]) shutdown(sess *kgo.GroupTransactSession, admin *kgo.Client) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := sess.End(ctx, kgo.TryAbort); err != nil {
		m.log.Warn("abort on shutdown", "err", err)
	}
	// Close leaves the group; a static member keeps its partitions for the
	// session timeout instead, so that a quick restart resumes them. But
	// Close waits for a JoinGroup in flight, which the coordinator answers
	// only once every member has rejoined or the rebalance timeout (a
	// minute) has passed: when the other members are this process's own,
	// static and closed already, none of them will. So while Close waits,
	// the member makes those leave the group explicitly, every closeStuck.
	// (Not itself, nor a member still closing: a member removed while its
	// JoinGroup waits may never get an answer.)
	closed := make(chan struct{})
	go func() {
		sess.Close()
		close(closed)
	}()
	left := map[string]bool{}
	for {
		stuck := time.After(closeStuck)
		if !m.cfg.StaticMembership {
			stuck = nil // a dynamic member's Close sends LeaveGroup itself
		}
		select {
		case <-closed:
		case <-stuck:
			var ids []string
			for _, mb := range m.members {
				if mb != m && mb.closed.Load() && !left[mb.instanceID] {
					ids = append(ids, mb.instanceID)
					left[mb.instanceID] = true
				}
			}
			if len(ids) == 0 {
				continue
			}
			m.log.Warn("closing the client waits for a rebalance; the closed members of this process leave the group", "members", ids)
			lctx, lcancel := context.WithTimeout(context.Background(), 10*time.Second)
			if _, err := kadm.NewClient(admin).LeaveGroup(lctx, kadm.LeaveGroup(m.cfg.Group).InstanceIDs(ids...).Reason("shutting down")); err != nil {
				m.log.Warn("leave the group", "err", err)
			}
			lcancel()
			continue
		}
		break
	}
	m.closed.Store(true)
	m.logProgress()
	for _, part := range m.parts {
		if part.cancel != nil {
			part.cancel()
		}
	}
	m.parts = map[int32]*partition[S]{}
}

// poll waits up to wait for records; a group change wakes it early.
func (m *member[S]) poll(ctx context.Context, sess *kgo.GroupTransactSession, wait time.Duration) kgo.Fetches {
	pctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	m.mu.Lock()
	if m.woken {
		m.woken = false
		cancel()
	} else {
		m.wakeFn = cancel
	}
	m.mu.Unlock()
	f := sess.PollRecords(pctx, m.cfg.MaxPollRecords)
	m.mu.Lock()
	m.wakeFn = nil
	m.mu.Unlock()
	// A full poll means lag: the transaction takes what else is buffered
	// already, up to MaxBatchRecords, without waiting for more. Under lag
	// a transaction's fixed cost (its round trips to the coordinator) is
	// shared by more records, and a batch spans more partitions, which
	// the workers take in parallel. Without lag, polls stay small and
	// nothing waits for a batch to fill.
	n := f.NumRecords()
	for n >= m.cfg.MaxPollRecords && n < m.maxBatch {
		more := sess.PollRecords(nil, min(m.cfg.MaxPollRecords, m.maxBatch-n)) //nolint:staticcheck // nil: drain what is buffered, never wait (franz-go's documented behaviour)
		k := more.NumRecords()
		if k == 0 {
			break
		}
		f = append(f, more...)
		n += k
	}
	return f
}

func (m *member[S]) wake() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.wakeFn != nil {
		m.wakeFn()
	} else {
		m.woken = true
	}
}

// The group callbacks only record what changed, pause new partitions until
// they are restored, and wake the loop: the loop owns the stores.
func (m *member[S]) onAssigned(_ context.Context, cl *kgo.Client, assigned map[string][]int32) {
	parts := assigned[m.cfg.Topics.Events]
	// Paused and noted under mu: the loop resumes a restored partition
	// under mu only when no change for it is pending, so a restore of an
	// earlier assignment can never resume this one. An assignment with
	// nothing new still counts for Ready.
	m.mu.Lock()
	m.assigned = true
	if len(parts) > 0 {
		cl.PauseFetchPartitions(map[string][]int32{m.cfg.Topics.Events: parts})
		m.changes = append(m.changes, assignment{assigned: true, parts: slices.Clone(parts)})
	}
	m.mu.Unlock()
	if len(parts) > 0 {
		m.wake()
	}
}

// onRevoked and onLost reach us only while GroupTransactSession has no
// revoke or loss pending: it drops later ones until End runs
// (franz-go v1.22.3, txn.go). The count makes the loop call End soon after each one
// (endNoted), and reconcile catches any that the session dropped before.
func (m *member[S]) onRevoked(_ context.Context, _ *kgo.Client, revoked map[string][]int32) {
	m.noted.Add(1)
	if parts := revoked[m.cfg.Topics.Events]; len(parts) > 0 {
		m.note(assignment{parts: slices.Clone(parts)})
	} else {
		m.wake()
	}
}

func (m *member[S]) onLost(ctx context.Context, cl *kgo.Client, lost map[string][]int32) {
	m.onRevoked(ctx, cl, lost)
}

func (m *member[S]) note(a assignment) {
	m.mu.Lock()
	m.changes = append(m.changes, a)
	m.mu.Unlock()
	m.wake()
}

// applyChanges starts restores for assigned partitions, drops revoked ones,
// and installs finished restores, resuming their fetches.
func (m *member[S]) applyChanges(ctx context.Context, cl *kgo.Client, rst *restorer[S], slots chan struct{}) error {
	m.mu.Lock()
	changes := m.changes
	m.changes = nil
	// Ready reads the pending changes, then the restoring count: count the
	// new restores before the changes stop being pending, or Ready would
	// say yes between the two (publishHeld sets the exact count).
	for _, c := range changes {
		if c.assigned {
			m.restoring.Add(int64(len(c.parts)))
		}
	}
	m.mu.Unlock()
	for _, c := range changes {
		if c.assigned {
			m.log.Info("partitions assigned; restoring them from the changelog", "partitions", c.parts)
		} else {
			m.log.Info("partitions revoked", "partitions", c.parts)
		}
		for _, id := range c.parts {
			m.drop(id)
			if !c.assigned {
				continue
			}
			m.epoch++
			rctx, cancel := context.WithCancel(ctx)
			part := &partition[S]{id: id, epoch: m.epoch, cancel: cancel}
			m.parts[id] = part
			go func(id int32, epoch uint64) {
				select {
				case slots <- struct{}{}:
				case <-rctx.Done():
					return
				}
				res, err := rst.restore(rctx, id)
				<-slots
				select {
				case m.restored <- restoreDone[S]{part: id, epoch: epoch, res: res, err: err}:
					m.wake()
				case <-rctx.Done():
				}
			}(id, part.epoch)
		}
	}
	// Results held back for a pending change are looked at again by the
	// next call, which runs that change first.
	heldBack := m.heldBack
	m.heldBack = nil
	for {
		var d restoreDone[S]
		if len(heldBack) > 0 {
			d, heldBack = heldBack[0], heldBack[1:]
		} else {
			select {
			case d = <-m.restored:
			default:
				m.publishHeld()
				return nil
			}
		}
		part := m.parts[d.part]
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
		if !m.install(cl, part, d) {
			m.heldBack = append(m.heldBack, d)
		}
	}
}

// install makes a finished restore the partition's state and resumes its
// fetches, unless a group change is pending: the change may be a new
// assignment of the same partition, paused by onAssigned, that this
// restore must not resume.
func (m *member[S]) install(cl *kgo.Client, part *partition[S], d restoreDone[S]) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.changes) > 0 {
		return false
	}
	part.store, part.due, part.tally, part.cancel = d.res.store, d.res.due, d.res.tally, nil
	m.metrics.restored(d.part, d.res.took, d.res.records)
	m.stats.Restored.Add(int64(d.res.store.Len()))
	m.stats.RestoreRecords.Add(d.res.records)
	m.log.Info("partition restored", "partition", d.part, "processes", d.res.store.Len(),
		"changelog_records", d.res.records, "took", d.res.took.Round(time.Millisecond).String())
	cl.ResumeFetchPartitions(map[string][]int32{m.cfg.Topics.Events: {d.part}})
	return true
}

// drop forgets partition id: its store, its timers, its restore.
func (m *member[S]) drop(id int32) {
	if old := m.parts[id]; old != nil {
		if old.cancel != nil {
			old.cancel()
		}
		delete(m.parts, id)
	}
}

// publishHeld records the partitions held for Held, the restoring gauge
// and the log.
func (m *member[S]) publishHeld() {
	held := make([]int32, 0, len(m.parts))
	var restoring int64
	for id, part := range m.parts {
		held = append(held, id)
		if part.store == nil {
			restoring++
		}
	}
	slices.Sort(held)
	m.restoring.Store(restoring)
	if old := m.held.Load(); old == nil || !slices.Equal(*old, held) {
		m.held.Store(&held)
		m.log.Info("partitions held", "partitions", held)
	}
}

// Held returns the input partitions this instance holds (its members
// together): those it has the state, the timers or a running restore of.
// It is exactly what it writes for and answers from memory.
func (p *Processor[S]) Held() []int32 {
	var out []int32
	for _, m := range p.members {
		if h := m.held.Load(); h != nil && m.client.Load() != nil {
			out = append(out, *h...)
		}
	}
	slices.Sort(out)
	return out
}

// endNoted calls End when a revoke or loss was noted since the last one,
// and nothing else would call it: GroupTransactSession passes no further
// revoke to onRevoked until End clears the one it saw (franz-go txn.go), so an
// idle loop that ended no transaction would never hear of the next one.
// Not in a transaction, End aborts nothing and resets the positions to the
// committed offsets, which they are at between two transactions.
func (m *member[S]) endNoted(sess *kgo.GroupTransactSession) error {
	if m.noted.Load() == m.lastEndNoted {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), m.cfg.TransactionTimeout)
	defer cancel()
	if _, _, err := m.end(ctx, sess, kgo.TryAbort); err != nil {
		return classify(fmt.Errorf("end after a group change: %w", err))
	}
	return nil
}

// end is the one place the loop calls End. It reports whether a revoke or
// loss was noted since the previous End, which is what can explain an
// abort, and then schedules a reconcile: a later revoke may have been
// dropped by the session while the earlier one's flag was still set.
func (m *member[S]) end(ctx context.Context, sess *kgo.GroupTransactSession, try kgo.TransactionEndTry) (committed, groupChanged bool, err error) {
	since, noted := m.lastEndNoted, m.noted.Load()
	committed, err = sess.End(ctx, try)
	if m.endSeen != nil {
		committed, err = m.endSeen(committed, err)
	}
	m.lastEndNoted = noted
	groupChanged = m.noted.Load() != since
	if groupChanged {
		m.reconcileAt = time.Now()
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
func (m *member[S]) reconcile(ctx context.Context, admin *kadm.Client, cl *kgo.Client) {
	if m.reconcileAt.IsZero() || time.Now().Before(m.reconcileAt) {
		return
	}
	m.reconcileAt = time.Now().Add(250 * time.Millisecond) // retry while the group settles
	member, _ := cl.GroupMetadata()
	if member == "" {
		return
	}
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	groups, err := admin.DescribeGroups(dctx, m.cfg.Group)
	if err != nil {
		m.log.Debug("describe group for reconcile", "err", err)
		return
	}
	g, ok := groups[m.cfg.Group]
	if !ok || g.Err != nil || g.State != "Stable" {
		return
	}
	var mine map[int32]bool
	for _, gm := range g.Members {
		if gm.MemberID != member {
			continue
		}
		c, ok := gm.Assigned.AsConsumer()
		if !ok {
			return
		}
		mine = map[int32]bool{}
		for _, t := range c.Topics {
			if t.Topic == m.cfg.Topics.Events {
				for _, id := range t.Partitions {
					mine[id] = true
				}
			}
		}
	}
	if mine == nil {
		return // not a member of the described generation (rejoining): retry
	}
	m.reconcileAt = time.Time{}
	var gone []int32
	for id := range m.parts {
		if !mine[id] {
			gone = append(gone, id)
		}
	}
	if len(gone) == 0 {
		return
	}
	slices.Sort(gone)
	m.log.Warn("partitions no longer assigned to this member, though no revoke reached it; dropping them",
		"partitions", gone, "group_state", g.State)
	cl.PauseFetchPartitions(map[string][]int32{m.cfg.Topics.Events: gone})
	for _, id := range gone {
		m.drop(id)
	}
	m.publishHeld()
}

// begin begins b's transaction. A shutdown signal must not cut a commit in
// half: the transaction gets its own deadline, and is aborted if the
// signal came first.
func (m *member[S]) begin(sess *kgo.GroupTransactSession, b *batch[S]) error {
	if err := sess.Begin(); err != nil {
		return classify(fmt.Errorf("begin transaction: %w", err))
	}
	b.began, b.beganAt = true, time.Now()
	b.tctx, b.cancel = context.WithTimeout(context.Background(), m.cfg.TransactionTimeout)
	b.produce = func(r *kgo.Record) { sess.Produce(b.tctx, r, b.promise) }
	if m.tracing != nil {
		b.traceCtx, b.span = m.tracing.startTxn(b)
		b.inject = m.tracing.inject
	}
	return nil
}

// commit writes the batch in one transaction: for every partition the
// changelog records of the processes it changed (to the changelog partition
// of the same number), the commands and dead letters, and the offsets of
// the polled records. The stores make the staged changes their committed
// state only when the transaction committed.
func (m *member[S]) commit(ctx context.Context, sess *kgo.GroupTransactSession, b *batch[S]) error {
	if !b.began {
		if err := m.begin(sess, b); err != nil {
			m.rollback(b)
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
	defer func() { m.metrics.txnDuration.Observe(time.Since(began).Seconds()) }()
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
	case m.cfg.AbortEvery > 0 && m.random.IntN(m.cfg.AbortEvery) == 0:
		reason = "test-only random abort"
	}
	// Every transaction commits the offsets of every partition it holds,
	// not only of those it polled from: the group coordinator then refuses
	// it unless this member is in the current generation, so a tick of a
	// stale holder or a zombie (whose expiries and tombstones would
	// otherwise overwrite the new owner's records) aborts.
	committedOffsets := sess.Client().CommittedOffsets()[m.cfg.Topics.Events]
	fenced := kgo.PreTxnCommitFnContext(tctx, func(req *kmsg.TxnOffsetCommitRequest) error {
		m.fence(req, committedOffsets)
		return nil
	})
	committed, groupChanged, err := m.end(fenced, sess, kgo.TransactionEndTry(reason == ""))
	out := endOutcome(reason == "", committed, err, groupChanged)
	if out == outcomeUnknown && err == nil && m.offsetsStayed(sess.Client(), b, committedOffsets) {
		// franz-go ends a transaction with an abort and no error when the
		// group moved to a new generation under it (the offset commit is
		// refused, or the heartbeat before EndTxn fails) without a revoke
		// for this member: members joining or leaving the group, or
		// several members of this process starting at once. The offsets
		// prove that it did not commit; the records are polled again.
		out, reason = outcomeAborted, "the group moved to a new generation during the transaction"
		m.reconcileAt = time.Now()
	}
	switch out {
	case outcomeUnknown:
		// Nothing here may assume either way: the session is rebuilt and
		// state restored from what the changelog really holds, where
		// replayed events are duplicates.
		m.rollback(b)
		m.stats.TxnUnknown.Add(1)
		if err == nil {
			err = errors.New("not committed, and no revoke or loss explains it")
		}
		outcome, endErr = "unknown", err
		return classify(fmt.Errorf("end transaction (outcome unknown; rebuilding the session from the changelog): %w", err))
	case outcomeAborted:
		m.rollback(b)
		m.stats.TxnAborted.Add(1)
		if reason == "" {
			reason = "group rebalanced during the transaction"
		}
		outcome = "aborted"
		m.log.Info("transaction aborted; its records will be polled again", "reason", reason, "records", b.records)
		return nil
	}
	committedAt := time.Now()
	m.settle(b.parts)
	debug := m.log.Enabled(context.Background(), slog.LevelDebug)
	works := slices.Concat(b.works, b.ticks)
	m.parallel(len(works), func(i int) {
		w := works[i]
		for _, r := range w.records {
			m.metrics.eventToCommit.Observe(max(0, committedAt.Sub(r.Timestamp).Seconds()))
		}
		for _, d := range w.decided {
			m.metrics.match.Observe(max(0, d.Entry.At.Time().Sub(d.Started).Seconds()))
			switch {
			case d.Cause == nil:
				m.log.Info(m.def.Logs.Deadline, m.def.Logs.Key, d.Key, "decision", d.Entry.Type)
			case debug:
				m.log.Debug("decision recorded", m.def.Logs.Key, d.Key, "decision", d.Entry.Type, "ref", d.Entry.Ref, "causation_id", d.Cause.ID)
			}
		}
	})
	m.stats.TxnCommitted.Add(1)
	m.stats.add(&b.stats)
	return nil
}

// offsetsStayed reports whether the group's stable committed offset of
// every partition b polled records from is still what it was before b's
// transaction (before: the client's committed offsets then). The
// transaction carried those partitions' new offsets, committed atomically
// with everything else it wrote, so this proves that it did not commit.
// It asks with require_stable, which makes the coordinator answer
// UNSTABLE_OFFSET_COMMIT while any transaction's offsets are still pending
// (the markers of this one's abort, say): it asks again until they are not.
// A transaction that polled nothing proves nothing, and nor does any error:
// those stay unknown.
func (m *member[S]) offsetsStayed(cl *kgo.Client, b *batch[S], before map[int32]kgo.EpochOffset) bool {
	polled := map[int32]bool{}
	for _, w := range b.works {
		if len(w.records) > 0 {
			polled[w.part.id] = true
		}
	}
	if len(polled) == 0 {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), m.cfg.TransactionTimeout)
	defer cancel()
	adm := kadm.NewClient(cl)
	for {
		offsets, err := adm.FetchOffsets(kadm.RequireStable(ctx), m.cfg.Group)
		if err == nil {
			err = offsets.Error()
		}
		switch {
		case err == nil:
			for id := range polled {
				was := int64(-1) // never committed
				if eo, ok := before[id]; ok {
					was = eo.Offset
				}
				now := int64(-1)
				if o, ok := offsets.Lookup(m.cfg.Topics.Events, id); ok {
					now = o.At
				}
				if now != was {
					return false
				}
			}
			return true
		case !errors.Is(err, kerr.UnstableOffsetCommit):
			m.log.Warn("cannot tell whether a transaction committed; treating it as unknown", "err", err)
			return false
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// closeStuck is how long a member's client may take to close before the
// member leaves the group explicitly (see shutdown).
const closeStuck = time.Second

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
func (m *member[S]) rollback(b *batch[S]) {
	for _, pt := range b.parts {
		pt.store.Rollback()
	}
	for _, w := range b.ticks {
		if m.parts[w.part.id] != w.part {
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
func (m *member[S]) fence(req *kmsg.TxnOffsetCommitRequest, committed map[int32]kgo.EpochOffset) {
	var topic *kmsg.TxnOffsetCommitRequestTopic
	for i := range req.Topics {
		if req.Topics[i].Topic == m.cfg.Topics.Events {
			topic = &req.Topics[i]
		}
	}
	if topic == nil {
		req.Topics = append(req.Topics, kmsg.NewTxnOffsetCommitRequestTopic())
		topic = &req.Topics[len(req.Topics)-1]
		topic.Topic, topic.TopicID = m.cfg.Topics.Events, m.eventsID // v6+ names topics by id
	}
	have := make(map[int32]bool, len(topic.Partitions))
	for _, rp := range topic.Partitions {
		have[rp.Partition] = true
	}
	for id, part := range m.parts {
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

func (m *member[S]) logProgress() {
	s := &m.stats
	live := 0
	for _, part := range m.parts {
		if part.store != nil {
			live += part.store.Len()
		}
	}
	m.log.Info("progress",
		"applied", s.Applied.Load(), "commands_issued", s.CommandsIssued.Load(),
		"dead_lettered", s.DeadLettered.Load(), "skipped_duplicate", s.SkippedDuplicate.Load(),
		"skipped_terminal", s.SkippedTerminal.Load(), "skipped_other_type", s.SkippedOtherType.Load(),
		"expired", s.Expired.Load(), "forgotten", s.Forgotten.Load(),
		"txn_committed", s.TxnCommitted.Load(), "txn_aborted", s.TxnAborted.Load(),
		"partitions", len(m.parts), "live_processes", live)
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
