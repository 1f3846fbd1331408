package processor

import (
	"context"
	"errors"
	"fmt"
	"go.opentelemetry.io/otel/trace"
	"iter"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/catering-match/catering-match/state"
	"github.com/catering-match/catering-match/topics"
)

// ReasonHistoryFull is the dlq-reason of an event refused by a full history.
const ReasonHistoryFull = "process history full"

// batch is what one transaction carries: works for the polled records,
// then a tick work for every partition whose timers are due.
type batch[S any] struct {
	records int    // input records polled
	writes  int    // changelog records, commands and dead letters to produce
	abort   string // non-empty: this transaction must abort, and why
	works   []*work[S]
	ticks   []*work[S]
	parts   []*partition[S] // every partition the batch touches, once
	stats   batchStats      // the works' stats, merged

	// Set by begin when the transaction began before the works ran: each
	// work then produces its records as soon as it is done, while the
	// others still run.
	began   bool
	beganAt time.Time
	tctx    context.Context
	cancel  context.CancelFunc
	produce func(*kgo.Record)
	prodMu  sync.Mutex
	prodErr error

	// Set by begin when tracing is on: the transaction's span, and how an
	// emitted record gets its trace context (see tracing.go).
	traceCtx context.Context
	span     trace.Span
	inject   func(txn context.Context, cause, out *kgo.Record)
}

// inputs yields b's input records until yield returns false.
func (b *batch[S]) inputs(yield func(*kgo.Record) bool) {
	for _, w := range b.works {
		for _, r := range w.records {
			if !yield(r) {
				return
			}
		}
	}
}

// all yields every work of b: the record works, then the ticks.
func (b *batch[S]) all() iter.Seq[*work[S]] {
	return func(yield func(*work[S]) bool) {
		for _, ws := range [][]*work[S]{b.works, b.ticks} {
			for _, w := range ws {
				if !yield(w) {
					return
				}
			}
		}
	}
}

// send produces what w made: its changelog records, then its commands and
// dead letters. The transaction has begun.
func (b *batch[S]) send(w *work[S]) {
	for _, r := range w.changelog {
		b.produce(r)
	}
	if b.inject != nil {
		for _, e := range w.emitted {
			b.inject(b.traceCtx, e.cause, e.out)
		}
	}
	for _, r := range w.out {
		b.produce(r)
	}
}

// promise records the first produce error of the transaction.
func (b *batch[S]) promise(r *kgo.Record, err error) {
	if err != nil {
		b.prodMu.Lock()
		if b.prodErr == nil {
			b.prodErr = fmt.Errorf("produce to %s: %w", r.Topic, err)
		}
		b.prodMu.Unlock()
	}
}

// work is a share of a transaction that one goroutine does alone: a
// partition's records, or those of its records whose keys fall in some of
// its store's shards (keys are independent, so a large partition is split
// across the workers), or a partition's due timers.
type work[S any] struct {
	part    *partition[S]
	shards  []int // the store shards this work owns (a tick: all of them)
	records []*kgo.Record
	tick    bool

	changelog []*kgo.Record // one per process changed
	out       []*kgo.Record // commands and dead letters, in decision order
	decided   []Decision[S]
	stats     batchStats
	// popped are the due-queue entries the tick took: an abort puts them
	// back, so the expiry or retention they stand for happens later.
	popped []popped
	ticked []string // the keys the tick changed
	// emitted are the records decisions emitted, with the input record that
	// caused each (nil: a timer), for their trace context.
	emitted []emitted
}

type emitted struct{ cause, out *kgo.Record }

// popped is a due-queue entry a tick took, and which heap it came from.
type popped struct {
	e     dueEntry
	ended bool
}

// splitMin is the least number of a partition's records that are split
// across workers by store shard: below it, one goroutine is quicker.
const splitMin = 256

var allShards = func() []int {
	out := make([]int, state.Shards)
	for i := range out {
		out[i] = i
	}
	return out
}()

// plan groups the polled records by partition into works, splitting a
// large partition's records by store shard, and adds a tick work for every
// partition whose timers are due when tick.
func (m *member[S]) plan(fetches kgo.Fetches, now time.Time, tick bool) *batch[S] {
	b := &batch[S]{}
	byPart := map[int32][]*kgo.Record{}
	var order []*partition[S]
	fetches.EachPartition(func(fp kgo.FetchTopicPartition) {
		if fp.Topic != m.cfg.Topics.Events || len(fp.Records) == 0 {
			return
		}
		b.records += len(fp.Records)
		pt := m.parts[fp.Partition]
		if pt == nil || pt.store == nil {
			// Not restored (yet) or no longer ours: processing it now could
			// repeat a decision. The transaction aborts, and the records are
			// polled again once the partition is restored.
			b.abort = "records arrived for partition " + strconv.Itoa(int(fp.Partition)) + " before its restore finished"
			return
		}
		pt.highWatermark = fp.HighWatermark
		pt.next = fp.Records[len(fp.Records)-1].Offset + 1
		if _, seen := byPart[fp.Partition]; !seen {
			order = append(order, pt)
		}
		byPart[fp.Partition] = append(byPart[fp.Partition], fp.Records...)
	})
	if b.abort != "" {
		return b // nothing is staged: the transaction only aborts
	}
	for _, pt := range order {
		recs := byPart[pt.id]
		k := 1
		if m.workers > 1 && len(recs) >= splitMin {
			k = min(m.workers, state.Shards)
		}
		if k == 1 {
			b.works = append(b.works, &work[S]{part: pt, shards: allShards, records: recs})
			continue
		}
		groups := make([]*work[S], k)
		for g := range groups {
			groups[g] = &work[S]{part: pt, records: make([]*kgo.Record, 0, len(recs)/k+16)}
		}
		for sh := range state.Shards {
			groups[sh%k].shards = append(groups[sh%k].shards, sh)
		}
		for _, r := range recs {
			g := groups[state.ShardOfBytes(r.Key)%k]
			g.records = append(g.records, r)
		}
		for _, g := range groups {
			if len(g.records) > 0 {
				b.works = append(b.works, g)
			}
		}
	}
	b.parts = order
	if tick {
		for id, pt := range m.parts {
			if pt.store == nil || !pt.due.dueBy(now) {
				continue
			}
			b.ticks = append(b.ticks, &work[S]{part: pt, shards: allShards, tick: true})
			if _, seen := byPart[id]; !seen {
				b.parts = append(b.parts, pt)
			}
		}
	}
	return b
}

// prepare does every work of b, the record works and then the ticks,
// producing what each made as soon as it is done when the transaction has
// begun, and merges the results.
func (p *Processor[S]) prepare(b *batch[S], now time.Time) {
	do := func(w *work[S]) {
		p.work(w, now)
		if b.began {
			b.send(w)
		}
	}
	p.parallel(len(b.works), func(i int) { do(b.works[i]) })
	p.parallel(len(b.ticks), func(i int) { do(b.ticks[i]) })
	for w := range b.all() {
		b.writes += len(w.changelog) + len(w.out)
		b.stats.merge(&w.stats)
	}
}

// parallel calls fn(0..n-1), up to p.workers at a time.
func (p *Processor[S]) parallel(n int, fn func(i int)) {
	k := min(p.workers, n)
	if k <= 1 {
		for i := range n {
			fn(i)
		}
		return
	}
	var next atomic.Int32
	var wg sync.WaitGroup
	for range k {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				fn(i)
			}
		})
	}
	wg.Wait()
}

// work applies a work's records or timers and encodes what changed. It
// touches only its partition's shards in w.shards.
func (p *Processor[S]) work(w *work[S], now time.Time) {
	if w.tick {
		p.tick(w, now)
		return
	}
	for _, r := range w.records {
		p.handle(w, r, now)
	}
	n := 0
	for _, sh := range w.shards {
		n += w.part.store.Shard(sh).StagedLen()
	}
	p.addChangelog(w, n, func(yield func(string, *state.Process[S]) bool) {
		for _, sh := range w.shards {
			for key, proc := range w.part.store.Shard(sh).Staged() {
				if !yield(key, proc) {
					return
				}
			}
		}
	})
}

// addChangelog appends to w.changelog the changelog record of each of the
// n processes seq yields (nil: a tombstone). The records are one slab, and
// their values one buffer when the codec can append (each value a slice of
// it): a few allocations per work instead of three per record. franz-go
// keeps the records until the transaction's end; nothing is reused.
func (p *Processor[S]) addChangelog(w *work[S], n int, seq iter.Seq2[string, *state.Process[S]]) {
	if n == 0 {
		return
	}
	slab := make([]kgo.Record, 0, n)
	app, _ := p.def.Codec.(AppendCodec)
	var buf []byte
	for key, proc := range seq {
		slab = append(slab, kgo.Record{Topic: p.cfg.Topics.Changelog, Partition: w.part.id, Key: keyBytes(key)})
		r := &slab[len(slab)-1]
		switch {
		case proc == nil:
		case app == nil:
			r.Value = p.def.Codec.Encode(key, proc.History)
		default:
			start := len(buf)
			buf = app.AppendEncode(buf, key, proc.History)
			r.Value = buf[start:len(buf):len(buf)]
			if start == 0 && n > 1 {
				// Room for the rest at about this record's size, so that the
				// buffer is not regrown record after record.
				buf = slices.Grow(buf, len(buf)*(n-1)*5/4)
			}
		}
		w.changelog = append(w.changelog, r)
	}
}

// keyBytes is key's bytes without a copy. A record's key is only read
// (hashed and written to the wire), never written to.
func keyBytes(key string) []byte { return unsafe.Slice(unsafe.StringData(key), len(key)) }

// handle is where an input record enters: it is decoded, then applied,
// skipped or dead-lettered. Exactly one of those happens to every record.
func (p *Processor[S]) handle(w *work[S], r *kgo.Record, now time.Time) {
	key, ev, err := p.def.Decode(r)
	if err == nil && key != string(r.Key) {
		// The process key must be the record key: the input is
		// partitioned by it, and so are the changelog and the stores.
		err = &topics.MalformedError{Kind: topics.MalformedKeyMismatch,
			Reason: "process key " + strconv.Quote(key) + " differs from the record key " + strconv.Quote(string(r.Key))}
	}
	if err != nil {
		var m *topics.MalformedError
		reason, kind := err.Error(), "malformed"
		if errors.As(err, &m) {
			reason, kind = m.Reason, m.Kind
		}
		p.deadLetter(w, r, kind, reason)
		return
	}
	shard := w.part.store.Shard(state.ShardOf(key))
	cur := shard.Get(key)
	out := p.manager.Apply(cur, key, ev, now)
	if out.Changed() {
		shard.Put(key, out.Process)
	}
	if len(out.Decisions) > 0 {
		// An expiry found on the way comes first; the event's decision
		// (if any) last, with the event as its cause.
		for i, d := range out.Decisions {
			var cause *state.Entry
			var rec *kgo.Record
			if i == len(out.Decisions)-1 && out.Result == state.Applied {
				cause, rec = &ev, r
			}
			p.decide(w, key, out.Process, d, cause, rec)
		}
	}
	switch out.Result {
	case state.Applied:
		w.stats.applied++
	case state.SkippedDuplicate:
		w.stats.dup++
		if p.log.Enabled(context.Background(), slog.LevelDebug) {
			p.log.Debug("duplicate event skipped", p.def.Logs.Key, key, "event_id", ev.ID, "partition", r.Partition, "offset", r.Offset)
		}
	case state.SkippedTerminal:
		w.stats.terminal++
		p.log.Info("event for a finished process skipped", p.def.Logs.Key, key, "event_id", ev.ID, "type", ev.Type, "partition", r.Partition, "offset", r.Offset)
	case state.SkippedOtherType:
		w.stats.other++
	case state.RejectedHistoryFull:
		w.stats.full++
		p.deadLetter(w, r, "history_full", ReasonHistoryFull)
	}
}

// decide turns a decision entry into output: the records the definition
// emits for it, keyed by the process and to the commands topic unless the
// definition says otherwise.
func (p *Processor[S]) decide(w *work[S], key string, proc *state.Process[S], d state.Entry, cause *state.Entry, rec *kgo.Record) {
	dec := Decision[S]{Key: key, Entry: d, State: proc.State, Cause: cause, Record: rec, Started: proc.History[0].At.Time()}
	for _, r := range p.def.Emit(dec) {
		if r.Topic == "" {
			r.Topic = p.cfg.Topics.Commands
		}
		if r.Key == nil {
			r.Key = []byte(key)
		}
		w.out = append(w.out, r)
		if p.tracing != nil {
			w.emitted = append(w.emitted, emitted{cause: rec, out: r})
		}
		w.stats.commands++
	}
	if cause == nil {
		w.stats.expired++
	}
	w.decided = append(w.decided, dec)
}

// deadLetter writes r to the DLQ as it came (key, value and headers) plus
// the reason and its coordinates.
func (p *Processor[S]) deadLetter(w *work[S], r *kgo.Record, kind, reason string) {
	headers := make([]kgo.RecordHeader, 0, len(r.Headers)+4)
	headers = append(headers, r.Headers...)
	headers = append(headers,
		kgo.RecordHeader{Key: "dlq-reason", Value: []byte(reason)},
		kgo.RecordHeader{Key: "dlq-topic", Value: []byte(r.Topic)},
		kgo.RecordHeader{Key: "dlq-partition", Value: []byte(strconv.FormatInt(int64(r.Partition), 10))},
		kgo.RecordHeader{Key: "dlq-offset", Value: []byte(strconv.FormatInt(r.Offset, 10))},
	)
	w.out = append(w.out, &kgo.Record{Topic: p.cfg.Topics.DLQ, Key: r.Key, Value: r.Value, Headers: headers})
	w.stats.dlq++
	if w.stats.dlqByKind == nil {
		w.stats.dlqByKind = map[string]int64{}
	}
	w.stats.dlqByKind[kind]++
	p.log.Warn("record dead-lettered", "reason", reason, "topic", r.Topic, "partition", r.Partition, "offset", r.Offset, "key", string(r.Key))
}

// tick applies the clock to one partition: processes past their deadline
// are decided by the definition's Expire, terminal processes past their
// retention are tombstoned. Only the due ones are visited (see dueQueue).
// It runs after the partition's record works, and encodes only the keys
// it changed.
func (p *Processor[S]) tick(w *work[S], now time.Time) {
	part := w.part
	changed := map[string]bool{}
	part.due.popDue(now, func(e dueEntry, ended bool) {
		w.popped = append(w.popped, popped{e, ended})
		for key := range part.store.KeysByHash(e.hash) {
			cur := part.store.Get(key)
			if cur == nil {
				continue // deleted in this batch
			}
			if adv := p.manager.Advance(key, cur, now); adv != nil {
				part.store.Put(key, adv.Process)
				for _, d := range adv.Decisions {
					p.decide(w, key, adv.Process, d, nil, nil)
				}
			} else if p.manager.Forget(cur, now) {
				part.store.Delete(key)
				w.stats.forgotten++
			} else {
				// The entry was stale (the process changed, and its current
				// due time is queued already), or it is another key's of
				// the same hash.
				continue
			}
			if !changed[key] {
				changed[key] = true
				w.ticked = append(w.ticked, key)
			}
		}
	})
	p.addChangelog(w, len(w.ticked), func(yield func(string, *state.Process[S]) bool) {
		for _, key := range w.ticked {
			if !yield(key, part.store.Get(key)) {
				return
			}
		}
	})
}

// partitioner writes changelog records to the partition the processor set
// (the input record's partition) and hashes keys like Kafka's default
// (murmur2) for every other topic.
type partitioner struct {
	changelog string
	manual    kgo.Partitioner
	byKey     kgo.Partitioner
}

func newPartitioner(changelog string) kgo.Partitioner {
	return partitioner{changelog: changelog, manual: kgo.ManualPartitioner(), byKey: kgo.UniformBytesPartitioner(64<<10, true, true, nil)}
}

func (p partitioner) ForTopic(t string) kgo.TopicPartitioner {
	if t == p.changelog {
		return p.manual.ForTopic(t)
	}
	return p.byKey.ForTopic(t)
}
