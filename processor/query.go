package processor

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/catering-match/catering-match/state"
	"github.com/catering-match/catering-match/topics"
)

// ErrNotRunning is returned by queries while no session runs (starting,
// or rebuilding after an error).
var ErrNotRunning = errors.New("processor is not running a session")

// inLoop runs fn on the loop goroutine, which owns the stores, between two
// transactions; so fn sees committed state only.
func (m *member[S]) inLoop(ctx context.Context, fn func()) error {
	done := make(chan struct{})
	m.mu.Lock()
	if !m.running {
		m.mu.Unlock()
		return ErrNotRunning
	}
	m.queries = append(m.queries, func() { fn(); close(done) })
	m.mu.Unlock()
	m.wake()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("query: %w", ctx.Err())
	}
}

// runQueries answers the queued queries; called by the loop.
func (m *member[S]) runQueries() {
	m.mu.Lock()
	qs := m.queries
	m.queries = nil
	m.mu.Unlock()
	for _, q := range qs {
		q()
	}
}

// dropQueries releases queries queued when a session ends.
func (m *member[S]) endQueries() {
	m.mu.Lock()
	m.running = false
	m.mu.Unlock()
	m.runQueries()
}

// Ready reports whether every member of this instance has joined its
// group and restored every partition assigned to it.
func (p *Processor[S]) Ready() bool {
	for _, m := range p.members {
		if !m.ready() {
			return false
		}
	}
	return true
}

func (m *member[S]) ready() bool {
	cl := m.client.Load()
	if cl == nil {
		return false
	}
	if _, gen := cl.GroupMetadata(); gen < 0 {
		return false
	}
	m.mu.Lock()
	// The generation is known from the JoinGroup response, before the
	// SyncGroup that says what is assigned: until the first assignment
	// of the session reached onAssigned, nothing is known to be held.
	assigned := m.assigned
	pending := len(m.changes) // an assignment the loop has not started restoring yet
	m.mu.Unlock()
	return assigned && pending == 0 && m.restoring.Load() == 0
}

// eachMember calls fn on the loop of every member, one after the other,
// so that fn sees each member's committed state.
func (p *Processor[S]) eachMember(ctx context.Context, fn func(m *member[S])) error {
	for _, m := range p.members {
		if err := m.inLoop(ctx, func() { fn(m) }); err != nil {
			return err
		}
	}
	return nil
}

// Snapshot is a process as a query sees it: its committed history and
// state, where it lives, and the times the engine keeps for it.
type Snapshot[S any] struct {
	Key       string
	Process   *state.Process[S]
	Status    string // the definition's name for the state
	Partition int32
	Source    string // "memory" (this instance owns the partition) or "changelog"
	// Deadline is set while the process is pending; EndedAt and ForgetAt
	// (the end of its retention) once it is terminal.
	Deadline, EndedAt, ForgetAt *time.Time
}

func (p *Processor[S]) snapshot(key string, proc *state.Process[S], part int32, source string) Snapshot[S] {
	s := Snapshot[S]{Key: key, Process: proc, Status: p.def.Status(proc.State), Partition: part, Source: source}
	if d, ok := p.manager.Deadline(proc); ok {
		s.Deadline = &d
	}
	if e, ok := p.manager.Ended(proc); ok {
		f := e.Add(p.cfg.Limits.Retention)
		s.EndedAt, s.ForgetAt = &e, &f
	}
	return s
}

// Get returns the process of key: from memory when this instance owns its
// partition, otherwise read from the changelog. ok is false when key has
// no process.
func (p *Processor[S]) Get(ctx context.Context, key string) (s Snapshot[S], ok bool, err error) {
	parts := p.partitions.Load()
	if parts == 0 {
		return s, false, ErrNotRunning
	}
	part := topics.PartitionFor(key, parts)
	owned := false
	err = p.eachMember(ctx, func(m *member[S]) {
		if pt := m.parts[part]; pt != nil && pt.store != nil {
			owned = true
			if proc := pt.store.Committed(key); proc != nil {
				s, ok = p.snapshot(key, proc, part, "memory"), true
			}
		}
	})
	if err != nil || owned {
		return s, ok, err
	}
	cl, err := kgo.NewClient(p.clientOpts()...)
	if err != nil {
		return s, false, err
	}
	defer cl.Close()
	store, err := LoadPartition(ctx, cl, p.def, p.cfg.Topics.Changelog, part, p.cfg.Limits, p.log)
	if err != nil {
		return s, false, err
	}
	if proc := store.Get(key); proc != nil {
		return p.snapshot(key, proc, part, "changelog"), true, nil
	}
	return s, false, nil
}

// List returns the processes of every partition that keep accepts, oldest
// first: the ones this instance owns from memory, the others read from the
// changelog. keep runs on the loop goroutine for owned partitions: it must
// be quick and must not keep the snapshot's process beyond the call
// unless it copies what it needs (the process itself is immutable).
func (p *Processor[S]) List(ctx context.Context, keep func(Snapshot[S]) bool) ([]Snapshot[S], error) {
	parts := p.partitions.Load()
	if parts == 0 {
		return nil, ErrNotRunning
	}
	var out []Snapshot[S]
	owned := map[int32]bool{}
	err := p.eachMember(ctx, func(m *member[S]) {
		for id, pt := range m.parts {
			if pt.store == nil {
				continue
			}
			owned[id] = true
			for key, proc := range pt.store.All() {
				if s := p.snapshot(key, proc, id, "memory"); keep(s) {
					out = append(out, s)
				}
			}
		}
	})
	if err != nil {
		return nil, err
	}
	var cl *kgo.Client // one client for every partition read from the changelog
	defer func() {
		if cl != nil {
			cl.Close()
		}
	}()
	for id := range parts {
		if owned[id] {
			continue
		}
		if cl == nil {
			if cl, err = kgo.NewClient(p.clientOpts()...); err != nil {
				return nil, err
			}
		}
		store, err := LoadPartition(ctx, cl, p.def, p.cfg.Topics.Changelog, id, p.cfg.Limits, p.log)
		if err != nil {
			return nil, err
		}
		for key, proc := range store.All() {
			if s := p.snapshot(key, proc, id, "changelog"); keep(s) {
				out = append(out, s)
			}
		}
	}
	slices.SortFunc(out, func(a, b Snapshot[S]) int { return cmp.Compare(a.Process.History[0].At, b.Process.History[0].At) })
	return out, nil
}

// Now is the processor's processing-time clock.
func (p *Processor[S]) Now() time.Time { return p.clock() }

// Config returns the configuration the processor runs with.
func (p *Processor[S]) Config() Config {
	c := p.cfg
	c.Brokers, c.ClientOpts = slices.Clone(c.Brokers), slices.Clone(c.ClientOpts)
	return c
}

// Steps returns the process of key, found as Get finds it, after each
// entry of its history: step i is the definition's fold of the first i+1
// entries, with the status and times a query would have shown then. ok is
// false when key has no process. The folds cost O(n²) for n entries, at
// most Limits.MaxHistory+1: for one process at a time.
func (p *Processor[S]) Steps(ctx context.Context, key string) (steps []Snapshot[S], ok bool, err error) {
	s, ok, err := p.Get(ctx, key)
	if err != nil || !ok {
		return nil, ok, err
	}
	h := s.Process.History
	steps = make([]Snapshot[S], len(h))
	for i := range h {
		steps[i] = p.snapshot(key, p.manager.Restore(h[:i+1:i+1]), s.Partition, s.Source)
	}
	return steps, true, nil
}

// Lag returns the records of the events topic not processed yet, per held
// partition that has fetched records (the last fetch's high watermark
// minus the next offset to process), as the consumer_lag metric has it.
// It asks the loop, which looks at no process.
func (p *Processor[S]) Lag(ctx context.Context) (map[int32]int64, error) {
	lag := map[int32]int64{}
	err := p.eachMember(ctx, func(m *member[S]) {
		for id, pt := range m.parts {
			if pt.store != nil && pt.highWatermark > 0 {
				lag[id] = max(0, pt.highWatermark-pt.next)
			}
		}
	})
	return lag, err
}

// DeadLetter is a record of the DLQ topic, with what the service's dlq-*
// headers say about it (docs/contract.md, Dead letters).
type DeadLetter struct {
	Partition  int32 // of the DLQ topic
	Offset     int64 // likewise
	Timestamp  time.Time
	Key, Value []byte
	Headers    []kgo.RecordHeader // every header, the service's included
	// Reason, Topic, SourcePartition and SourceOffset come from the last
	// dlq-reason, dlq-topic, dlq-partition and dlq-offset header: a record
	// replayed from the DLQ carries older ones before them. A missing or
	// unreadable partition or offset is -1.
	Reason          string
	Topic           string
	SourcePartition int32
	SourceOffset    int64
	// Kind is the reason's kind, the events_dead_lettered_total label:
	// what the definition's Decode says of the record now, as the loop
	// classified it; "" when the record decodes (history_full aside), as
	// one dead-lettered by another build would.
	Kind string
}

// DeadLetterPartition is a partition of the DLQ topic: its log start
// offset and last stable offset, between which its dead letters lie with
// the markers of the transactions that wrote them.
type DeadLetterPartition struct {
	Partition  int32
	Start, End int64
}

// DeadLetters is what DeadLetters read.
type DeadLetters struct {
	Topic      string
	Partitions []DeadLetterPartition
	Latest     []DeadLetter // newest first
}

// deadLetterReach bounds how far back DeadLetters looks in a partition:
// in windows of 2·limit offsets, then 4 times as many each time, at most
// this many windows.
const deadLetterReach = 6

// DeadLetters reads the latest dead letters of the DLQ topic, at most
// limit, newest first, read_committed and with a client of its own (not on
// the loop).
func (p *Processor[S]) DeadLetters(ctx context.Context, limit int) (DeadLetters, error) {
	out := DeadLetters{Topic: p.cfg.Topics.DLQ}
	if limit < 1 {
		return out, errors.New("dead letter limit must be at least 1")
	}
	cl, err := kgo.NewClient(p.clientOpts()...)
	if err != nil {
		return out, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	starts, err := adm.ListStartOffsets(ctx, out.Topic)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return out, fmt.Errorf("list start offsets of %s: %w", out.Topic, err)
	}
	stable, err := adm.ListCommittedOffsets(ctx, out.Topic)
	if err == nil {
		err = stable.Error()
	}
	if err != nil {
		return out, fmt.Errorf("list stable offsets of %s: %w", out.Topic, err)
	}
	stable.Each(func(o kadm.ListedOffset) {
		part := DeadLetterPartition{Partition: o.Partition, End: o.Offset}
		if s, ok := starts.Lookup(out.Topic, o.Partition); ok {
			part.Start = s.Offset
		}
		out.Partitions = append(out.Partitions, part)
	})
	slices.SortFunc(out.Partitions, func(a, b DeadLetterPartition) int { return int(a.Partition) - int(b.Partition) })
	r := newRestorer(cl, out.Topic, p.def.Codec, p.manager, p.log)
	for _, part := range out.Partitions {
		recs, err := latestRecords(ctx, r, part, limit)
		if err != nil {
			return out, fmt.Errorf("read %s partition %d: %w", out.Topic, part.Partition, err)
		}
		for _, rec := range recs {
			out.Latest = append(out.Latest, p.readDeadLetter(rec))
		}
	}
	slices.SortFunc(out.Latest, func(a, b DeadLetter) int {
		if n := b.Timestamp.Compare(a.Timestamp); n != 0 {
			return n
		}
		if a.Partition != b.Partition {
			return int(a.Partition) - int(b.Partition)
		}
		return int(b.Offset - a.Offset)
	})
	if len(out.Latest) > limit {
		out.Latest = out.Latest[:limit]
	}
	return out, nil
}

// latestRecords returns the last limit records of a partition below its
// stable end, oldest first. A window of offsets holds fewer records than
// offsets (transaction markers, aborted records), so the window widens
// until it has enough or reaches the start.
func latestRecords[S any](ctx context.Context, r *restorer[S], part DeadLetterPartition, limit int) ([]*kgo.Record, error) {
	var out []*kgo.Record
	var at leader
	hi, span := part.End, 2*int64(limit)
	for range deadLetterReach {
		if hi <= part.Start || len(out) >= limit {
			break
		}
		lo := max(part.Start, hi-span)
		var got []*kgo.Record
		for off := lo; off < hi; {
			fp, next, err := r.fetch(ctx, part.Partition, off, &at)
			if err != nil {
				return nil, err
			}
			for _, rec := range fp.Records {
				if rec.Offset >= lo && rec.Offset < hi {
					got = append(got, rec)
				}
			}
			off = max(off, next)
		}
		out = append(got, out...)
		hi, span = lo, 4*span
	}
	if len(out) > limit {
		out = out[len(out)-limit:]
	}
	return out, nil
}

// readDeadLetter reads a DLQ record's dlq-* headers and classifies it again.
func (p *Processor[S]) readDeadLetter(rec *kgo.Record) DeadLetter {
	d := DeadLetter{Partition: rec.Partition, Offset: rec.Offset, Timestamp: rec.Timestamp,
		Key: rec.Key, Value: rec.Value, Headers: rec.Headers, SourcePartition: -1, SourceOffset: -1}
	for _, h := range rec.Headers {
		switch h.Key {
		case "dlq-reason":
			d.Reason = string(h.Value)
		case "dlq-topic":
			d.Topic = string(h.Value)
		case "dlq-partition":
			d.SourcePartition = -1
			if n, err := strconv.ParseInt(string(h.Value), 10, 32); err == nil {
				d.SourcePartition = int32(n)
			}
		case "dlq-offset":
			d.SourceOffset = -1
			if n, err := strconv.ParseInt(string(h.Value), 10, 64); err == nil {
				d.SourceOffset = n
			}
		}
	}
	orig := &kgo.Record{Key: rec.Key, Value: rec.Value, Headers: rec.Headers, Topic: d.Topic,
		Partition: d.SourcePartition, Offset: d.SourceOffset, Timestamp: rec.Timestamp}
	key, _, err := p.def.Decode(orig)
	var m *topics.MalformedError
	switch {
	case errors.As(err, &m):
		d.Kind = m.Kind
	case err != nil:
		d.Kind = "malformed"
	case key != string(rec.Key):
		d.Kind = topics.MalformedKeyMismatch
	case d.Reason == ReasonHistoryFull:
		d.Kind = "history_full"
	}
	return d
}
