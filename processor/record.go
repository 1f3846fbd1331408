package processor

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/catering-match/catering-match/state"
	"github.com/catering-match/catering-match/topics"
)

// ReasonHistoryFull is the dlq-reason of an event refused by a full history.
const ReasonHistoryFull = "process history full"

// batch is what one transaction carries: one work per partition that had
// records or due timers.
type batch[S any] struct {
	records int    // input records polled
	writes  int    // changelog records, commands and dead letters to produce
	abort   string // non-empty: this transaction must abort, and why
	works   []*work[S]
	stats   batchStats // the works' stats, merged

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

// work is one partition's share of a transaction. Partitions are
// independent (each has its own store and due queue, and keys never cross
// partitions), so the works of one poll run in parallel; the loop then
// produces what they made, in one transaction.
type work[S any] struct {
	part    *partition[S]
	records []*kgo.Record
	tick    bool // apply the clock after the records

	changelog []*kgo.Record // one per process changed, from the staged store
	out       []*kgo.Record // commands and dead letters, in decision order
	decided   []Decision[S]
	stats     batchStats
	// popped are the due-queue entries the tick took: an abort puts them
	// back, so the expiry or retention they stand for happens later.
	popped []dueEntry
}

// plan groups the polled records by partition into works, with a work for
// every other partition whose timers are due when tick.
func (p *Processor[S]) plan(fetches kgo.Fetches, now time.Time, tick bool) *batch[S] {
	b := &batch[S]{}
	byPart := map[int32]*work[S]{}
	fetches.EachPartition(func(fp kgo.FetchTopicPartition) {
		if fp.Topic != p.cfg.Topics.Events || len(fp.Records) == 0 {
			return
		}
		b.records += len(fp.Records)
		pt := p.parts[fp.Partition]
		if pt == nil || pt.store == nil {
			// Not restored (yet) or no longer ours: processing it now could
			// repeat a decision. The transaction aborts, and the records are
			// polled again once the partition is restored.
			b.abort = "records arrived for partition " + strconv.Itoa(int(fp.Partition)) + " before its restore finished"
			return
		}
		pt.highWatermark = fp.HighWatermark
		pt.next = fp.Records[len(fp.Records)-1].Offset + 1
		w := byPart[fp.Partition]
		if w == nil {
			w = &work[S]{part: pt}
			byPart[fp.Partition] = w
			b.works = append(b.works, w)
		}
		w.records = append(w.records, fp.Records...)
	})
	if tick {
		for id, pt := range p.parts {
			if pt.store == nil || !pt.due.dueBy(now) {
				continue
			}
			w := byPart[id]
			if w == nil {
				w = &work[S]{part: pt}
				byPart[id] = w
				b.works = append(b.works, w)
			}
			w.tick = true
		}
	}
	if b.abort != "" {
		// Nothing is staged: the transaction only aborts.
		b.works = nil
	}
	return b
}

// prepare works every work of b (its records, then its timers), producing
// what each made when the transaction has begun, and merges the results.
func (p *Processor[S]) prepare(b *batch[S], now time.Time) {
	p.each(b.works, func(w *work[S]) {
		p.work(w, now)
		if b.began {
			for _, r := range w.changelog {
				b.produce(r)
			}
			for _, r := range w.out {
				b.produce(r)
			}
		}
	})
	for _, w := range b.works {
		b.writes += len(w.changelog) + len(w.out)
		b.stats.merge(&w.stats)
	}
}

// each calls fn for every work, up to p.workers at a time. Works touch
// only their own partition, so they need no lock between them.
func (p *Processor[S]) each(ws []*work[S], fn func(*work[S])) {
	n := min(p.workers, len(ws))
	if n <= 1 {
		for _, w := range ws {
			fn(w)
		}
		return
	}
	var next atomic.Int32
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < len(ws); i = int(next.Add(1)) - 1 {
				fn(ws[i])
			}
		})
	}
	wg.Wait()
}

// work applies one partition's records and timers and encodes what
// changed. It touches only w and w.part.
func (p *Processor[S]) work(w *work[S], now time.Time) {
	for _, r := range w.records {
		p.handle(w, r, now)
	}
	if w.tick {
		p.tick(w, now)
	}
	part := w.part
	for key, proc := range part.store.Staged() {
		r := &kgo.Record{Topic: p.cfg.Topics.Changelog, Partition: part.id, Key: []byte(key)}
		if proc != nil {
			r.Value = p.def.Codec.Encode(key, proc.History)
		}
		w.changelog = append(w.changelog, r)
	}
}

// handle is where an input record enters: it is decoded, then applied,
// skipped or dead-lettered. Exactly one of those happens to every record.
func (p *Processor[S]) handle(w *work[S], r *kgo.Record, now time.Time) {
	key, ev, err := p.def.Decode(r)
	if err != nil {
		var m *topics.MalformedError
		reason, kind := err.Error(), "malformed"
		if errors.As(err, &m) {
			reason, kind = m.Reason, m.Kind
		}
		p.deadLetter(w, r, kind, reason)
		return
	}
	store := w.part.store
	cur := store.Get(key)
	if cur == nil {
		// A new process keeps its key for as long as it lives: a copy of
		// its own, not a slice of the decoder's buffer for the record.
		key = strings.Clone(key)
	}
	out := p.manager.Apply(cur, key, ev, now)
	if out.Changed() {
		store.Put(out.Process)
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
			p.decide(w, out.Process, d, cause, rec)
		}
	}
	switch out.Result {
	case state.Applied:
		w.stats.applied++
	case state.SkippedDuplicate:
		w.stats.dup++
		p.log.Debug("duplicate event skipped", p.def.Logs.Key, key, "event_id", ev.ID, "partition", r.Partition, "offset", r.Offset)
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
func (p *Processor[S]) decide(w *work[S], proc *state.Process[S], d state.Entry, cause *state.Entry, rec *kgo.Record) {
	dec := Decision[S]{Key: proc.Key, Entry: d, State: proc.State, Cause: cause, Record: rec, Started: proc.History[0].At}
	for _, r := range p.def.Emit(dec) {
		if r.Topic == "" {
			r.Topic = p.cfg.Topics.Commands
		}
		if r.Key == nil {
			r.Key = []byte(proc.Key)
		}
		w.out = append(w.out, r)
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
func (p *Processor[S]) tick(w *work[S], now time.Time) {
	part := w.part
	part.due.popDue(now, func(e dueEntry) {
		w.popped = append(w.popped, e)
		cur := part.store.Get(e.key)
		if cur == nil {
			return // forgotten, or deleted in this batch
		}
		if adv := p.manager.Advance(cur, now); adv != nil {
			part.store.Put(adv.Process)
			for _, d := range adv.Decisions {
				p.decide(w, adv.Process, d, nil, nil)
			}
		} else if p.manager.Forget(cur, now) {
			part.store.Delete(e.key)
			w.stats.forgotten++
		}
		// Otherwise the entry was stale: the process changed, and its
		// current due time is queued already.
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
