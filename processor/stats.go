package processor

import (
	"maps"
	"sync"
	"sync/atomic"
)

// Stats are the processor's counters since it started. Counts of records
// (applied, skipped, dead-lettered) and of commands move only when the
// transaction that carried them committed.
type Stats struct {
	Applied          atomic.Int64 // events that entered a process's history
	SkippedDuplicate atomic.Int64
	SkippedTerminal  atomic.Int64
	SkippedOtherType atomic.Int64
	DeadLettered     atomic.Int64 // malformed records and full histories
	HistoryFull      atomic.Int64 // of DeadLettered: process history full
	CommandsIssued   atomic.Int64 // records the decisions emitted (ConfirmOrder), committed
	Expired          atomic.Int64 // processes decided by their deadline
	Forgotten        atomic.Int64 // terminal processes tombstoned after retention
	TxnCommitted     atomic.Int64
	TxnAborted       atomic.Int64
	TxnUnknown       atomic.Int64 // End failed: outcome unknown, session rebuilt
	Restored         atomic.Int64 // processes loaded from the changelog
	RestoreRecords   atomic.Int64 // changelog records read while restoring
	SessionRestarts  atomic.Int64 // client sessions rebuilt after an error

	mu        sync.Mutex
	dlqByKind map[string]int64 // DeadLettered by topics.Malformed* kind or "history_full"
}

// DeadLetteredByKind returns DeadLettered split by reason kind.
func (s *Stats) DeadLetteredByKind() map[string]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.dlqByKind)
}

// batchStats counts one transaction's outcomes; they are added to Stats
// only when it commits.
type batchStats struct {
	applied, dup, terminal, other, dlq, full, commands, expired, forgotten int64
	dlqByKind                                                              map[string]int64
}

func (s *batchStats) merge(o *batchStats) {
	s.applied += o.applied
	s.dup += o.dup
	s.terminal += o.terminal
	s.other += o.other
	s.dlq += o.dlq
	s.full += o.full
	s.commands += o.commands
	s.expired += o.expired
	s.forgotten += o.forgotten
	for k, n := range o.dlqByKind {
		if s.dlqByKind == nil {
			s.dlqByKind = map[string]int64{}
		}
		s.dlqByKind[k] += n
	}
}

func (s *Stats) add(b *batchStats) {
	s.Applied.Add(b.applied)
	s.SkippedDuplicate.Add(b.dup)
	s.SkippedTerminal.Add(b.terminal)
	s.SkippedOtherType.Add(b.other)
	s.DeadLettered.Add(b.dlq)
	s.HistoryFull.Add(b.full)
	s.CommandsIssued.Add(b.commands)
	s.Expired.Add(b.expired)
	s.Forgotten.Add(b.forgotten)
	if len(b.dlqByKind) > 0 {
		s.mu.Lock()
		if s.dlqByKind == nil {
			s.dlqByKind = map[string]int64{}
		}
		for k, n := range b.dlqByKind {
			s.dlqByKind[k] += n
		}
		s.mu.Unlock()
	}
}
