package processor

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/catering-match/catering-match/state"
	"github.com/catering-match/catering-match/topics"
)

// ErrNotRunning is returned by queries while no session runs (starting,
// or rebuilding after an error).
var ErrNotRunning = errors.New("processor is not running a session")

// inLoop runs fn on the loop goroutine, which owns the stores, between two
// transactions; so fn sees committed state only.
func (p *Processor[S]) inLoop(ctx context.Context, fn func()) error {
	done := make(chan struct{})
	p.mu.Lock()
	if !p.running {
		p.mu.Unlock()
		return ErrNotRunning
	}
	p.queries = append(p.queries, func() { fn(); close(done) })
	p.mu.Unlock()
	p.wake()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("query: %w", ctx.Err())
	}
}

// runQueries answers the queued queries; called by the loop.
func (p *Processor[S]) runQueries() {
	p.mu.Lock()
	qs := p.queries
	p.queries = nil
	p.mu.Unlock()
	for _, q := range qs {
		q()
	}
}

// dropQueries releases queries queued when a session ends.
func (p *Processor[S]) endQueries() {
	p.mu.Lock()
	p.running = false
	p.mu.Unlock()
	p.runQueries()
}

// Ready reports whether this instance has joined its group and restored
// every partition assigned to it.
func (p *Processor[S]) Ready() bool {
	cl := p.client.Load()
	if cl == nil {
		return false
	}
	if _, gen := cl.GroupMetadata(); gen < 0 {
		return false
	}
	p.mu.Lock()
	// The generation is known from the JoinGroup response, before the
	// SyncGroup that says what is assigned: until the first assignment
	// of the session reached onAssigned, nothing is known to be held.
	assigned := p.assigned
	pending := len(p.changes) // an assignment the loop has not started restoring yet
	p.mu.Unlock()
	return assigned && pending == 0 && p.restoring.Load() == 0
}

// Snapshot is a process as a query sees it: its committed history and
// state, where it lives, and the times the engine keeps for it.
type Snapshot[S any] struct {
	Process   *state.Process[S]
	Status    string // the definition's name for the state
	Partition int32
	Source    string // "memory" (this instance owns the partition) or "changelog"
	// Deadline is set while the process is pending; EndedAt and ForgetAt
	// (the end of its retention) once it is terminal.
	Deadline, EndedAt, ForgetAt *time.Time
}

func (p *Processor[S]) snapshot(proc *state.Process[S], part int32, source string) Snapshot[S] {
	s := Snapshot[S]{Process: proc, Status: p.def.Status(proc.State), Partition: part, Source: source}
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
	err = p.inLoop(ctx, func() {
		if pt := p.parts[part]; pt != nil && pt.store != nil {
			owned = true
			if proc := pt.store.Committed(key); proc != nil {
				s, ok = p.snapshot(proc, part, "memory"), true
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
		return p.snapshot(proc, part, "changelog"), true, nil
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
	err := p.inLoop(ctx, func() {
		for id, pt := range p.parts {
			if pt.store == nil {
				continue
			}
			owned[id] = true
			for _, proc := range pt.store.All() {
				if s := p.snapshot(proc, id, "memory"); keep(s) {
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
		for _, proc := range store.All() {
			if s := p.snapshot(proc, id, "changelog"); keep(s) {
				out = append(out, s)
			}
		}
	}
	slices.SortFunc(out, func(a, b Snapshot[S]) int { return a.Process.History[0].At.Compare(b.Process.History[0].At) })
	return out, nil
}

// Now is the processor's processing-time clock.
func (p *Processor[S]) Now() time.Time { return p.clock() }
