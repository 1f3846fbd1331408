package processor

import (
	"errors"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/catering-match/catering-match/state"
	"github.com/catering-match/catering-match/topics"
)

// ReasonHistoryFull is the dlq-reason of an event refused by a full history.
const ReasonHistoryFull = "process history full"

// batch is what one transaction carries besides the changelog records,
// which the partitions' stores hold as staged changes.
type batch struct {
	records int           // input records polled
	out     []*kgo.Record // commands and dead letters
	abort   string        // non-empty: this transaction must abort, and why
	stats   batchStats
	issued  []topics.ConfirmOrder
	expired []string
	// popped are the due-queue entries the tick took: an abort puts them
	// back, so the expiry or retention they stand for happens later.
	popped []popped
}

type popped struct {
	part *partition
	e    dueEntry
}

// handle is where an input record enters: it is decoded, then applied,
// skipped or dead-lettered. Exactly one of those happens to every record.
func (p *Processor) handle(b *batch, r *kgo.Record, now time.Time) {
	b.records++
	part := p.parts[r.Partition]
	if part == nil || part.store == nil {
		// Not restored (yet) or no longer ours: processing it now could
		// repeat a decision. The transaction aborts, and the record is
		// polled again once the partition is restored.
		b.abort = "records arrived for partition " + strconv.Itoa(int(r.Partition)) + " before its restore finished"
		return
	}
	ev, err := topics.DecodeEvent(r.Key, r.Value)
	if err != nil {
		var m *topics.MalformedError
		reason, kind := err.Error(), "malformed"
		if errors.As(err, &m) {
			reason, kind = m.Reason, m.Kind
		}
		p.deadLetter(b, r, kind, reason)
		return
	}
	proc := part.store.Get(ev.OrderID)
	out := p.manager.Apply(proc, ev.OrderID, state.Entry{ID: ev.ID, Type: ev.Type, MenuID: ev.MenuID}, now)
	if out.Changed() {
		part.store.Put(out.Process)
	}
	p.decided(b, ev.OrderID, out.Decisions, ev.ID, now)
	switch out.Result {
	case state.Applied:
		b.stats.applied++
	case state.SkippedDuplicate:
		b.stats.dup++
		p.log.Debug("duplicate event skipped", "order_id", ev.OrderID, "event_id", ev.ID, "partition", r.Partition, "offset", r.Offset)
	case state.SkippedTerminal:
		b.stats.terminal++
		p.log.Info("event for a finished process skipped", "order_id", ev.OrderID, "event_id", ev.ID, "type", ev.Type, "partition", r.Partition, "offset", r.Offset)
	case state.SkippedOtherType:
		b.stats.other++
	case state.RejectedHistoryFull:
		b.stats.full++
		p.deadLetter(b, r, "history_full", ReasonHistoryFull)
	}
}

// decided turns decision entries into output: a ConfirmOrder command for
// ConfirmOrderIssued, a log line and a count for MatchExpired.
func (p *Processor) decided(b *batch, orderID string, decisions []state.Entry, causation string, now time.Time) {
	for _, d := range decisions {
		switch d.Type {
		case state.ConfirmOrderIssued:
			c := topics.NewConfirmOrder(orderID, d.MenuID, causation, now)
			b.out = append(b.out, &kgo.Record{
				Topic:   p.cfg.Topics.Commands,
				Key:     []byte(orderID),
				Value:   c.Encode(),
				Headers: []kgo.RecordHeader{{Key: "type", Value: []byte(topics.ConfirmOrderType)}},
			})
			b.issued = append(b.issued, c)
			b.stats.commands++
		case state.MatchExpired:
			b.expired = append(b.expired, orderID)
			b.stats.expired++
		}
	}
}

// deadLetter writes r to the DLQ as it came (key, value and headers) plus
// the reason and its coordinates.
func (p *Processor) deadLetter(b *batch, r *kgo.Record, kind, reason string) {
	headers := make([]kgo.RecordHeader, 0, len(r.Headers)+4)
	headers = append(headers, r.Headers...)
	headers = append(headers,
		kgo.RecordHeader{Key: "dlq-reason", Value: []byte(reason)},
		kgo.RecordHeader{Key: "dlq-topic", Value: []byte(r.Topic)},
		kgo.RecordHeader{Key: "dlq-partition", Value: []byte(strconv.FormatInt(int64(r.Partition), 10))},
		kgo.RecordHeader{Key: "dlq-offset", Value: []byte(strconv.FormatInt(r.Offset, 10))},
	)
	b.out = append(b.out, &kgo.Record{Topic: p.cfg.Topics.DLQ, Key: r.Key, Value: r.Value, Headers: headers})
	b.stats.dlq++
	if b.stats.dlqByKind == nil {
		b.stats.dlqByKind = map[string]int64{}
	}
	b.stats.dlqByKind[kind]++
	p.log.Warn("record dead-lettered", "reason", reason, "topic", r.Topic, "partition", r.Partition, "offset", r.Offset, "key", string(r.Key))
}

// tick applies the clock to every restored partition: processes past their
// deadline expire, terminal processes past their retention are tombstoned.
// Only the due ones are visited (see dueQueue).
func (p *Processor) tick(b *batch, now time.Time) {
	for _, part := range p.parts {
		if part.store == nil {
			continue
		}
		part.due.popDue(now, func(e dueEntry) {
			b.popped = append(b.popped, popped{part, e})
			key := e.key
			cur := part.store.Get(key)
			if cur == nil {
				return // forgotten, or deleted in this batch
			}
			if adv := p.manager.Advance(cur, now); adv != nil {
				part.store.Put(adv.Process)
				p.decided(b, key, adv.Decisions, "", now)
			} else if p.manager.Forget(cur, now) {
				part.store.Delete(key)
				b.stats.forgotten++
			}
			// Otherwise the entry was stale: the process changed, and its
			// current due time is queued already.
		})
	}
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
