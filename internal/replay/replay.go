// Package replay answers, before a release that changes state/: is this
// build's definition safe for the processes stored in the changelog? It
// reads every changelog partition (read_committed, to the end offsets seen
// at start), takes each key's latest record as a restore does (a tombstone
// deletes), and for every stored process compares this build with the
// behaviour the record implies under the contract's rules (rules.go):
//
//   - the state this build restores (its fold of the history): status,
//     confirmed menu and command id, and each menu's answers;
//   - the decisions this build makes replaying the history (each event
//     applied at its recorded processing time, a tick at each stored
//     decision's time): a stored event it would leave out, a stored
//     ConfirmOrderIssued or MatchExpired it would not record or would
//     record differently (place, type, menu, id), or a decision it would
//     record where the history has none;
//   - for a pending process, what this build does with each step that could
//     come next (every event type for every menu the history mentions and
//     one it does not, at the time of its last entry; a tick an instant
//     before and at its deadline) against what the rules do with the
//     stored record;
//   - and every record this build cannot decode, even a superseded one: a
//     restore stops at it.
//
// The definition is a parameter, so that a test can check a deliberately
// changed rule is caught; the catering binary passes the service's own.
package replay

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/catering-match/catering-match/state"
)

// Kind is a kind of difference.
type Kind string

// The kinds of difference, in the order the report lists them.
const (
	// KindUndecodable: a record this build's codec cannot decode.
	KindUndecodable Kind = "undecodable"
	// KindStatus: the restored status (or terminality) is not the one the
	// record's decision entry gives.
	KindStatus Kind = "status"
	// KindConfirmedMenu: the restored confirmed menu or command id is not
	// the record's ConfirmOrderIssued's.
	KindConfirmedMenu Kind = "confirmed-menu"
	// KindMenus: a menu's restored answers (customer, caterer) are not the
	// ones the rules derive from the history.
	KindMenus Kind = "menus"
	// KindEventRefused: replayed, this build would leave out an event the
	// history applied (skip it or refuse it).
	KindEventRefused Kind = "event-refused"
	// KindDecisionUnexpected: the history records a decision this build
	// would not record.
	KindDecisionUnexpected Kind = "decision-unexpected"
	// KindDecisionDiffers: both decide, at another place or differently.
	KindDecisionDiffers Kind = "decision-differs"
	// KindDecisionMissing: this build would decide where the history
	// records no decision.
	KindDecisionMissing Kind = "decision-missing"
	// KindNextEvent: a pending process on which this build would act
	// differently from the rules on some possible next step.
	KindNextEvent Kind = "next-event"
)

// Kinds lists every kind, in report order.
var Kinds = []Kind{KindUndecodable, KindStatus, KindConfirmedMenu, KindMenus, KindEventRefused,
	KindDecisionUnexpected, KindDecisionDiffers, KindDecisionMissing, KindNextEvent}

// Problem is one difference found for an order.
type Problem struct {
	Kind   Kind
	Detail string
	// Offset is the undecodable record's offset (KindUndecodable only).
	Offset int64
}

// Order is an order whose stored process differs, with where its latest
// record stands. It has at most one Problem of each kind, except
// KindUndecodable: one per undecodable record.
type Order struct {
	Key       string
	Partition int32
	Offset    int64  // of the key's latest record
	Status    string // pending, confirmed, expired by the record; undecodable; forgotten (a tombstone)
	Entries   int    // of the latest record's history
	Problems  []Problem
}

// Report is the outcome of a replay.
type Report struct {
	Topic      string
	Partitions int
	Records    int64 // records read, tombstones included
	Processes  int   // live processes checked (latest records that decode)
	Differing  int   // orders with at least one problem
	// Counts are the problems per kind: orders, and for KindUndecodable
	// records.
	Counts map[Kind]int
	// Orders are the first offending orders, by partition then offset (at
	// most Config.Show of them, unless it is 0).
	Orders []Order
}

// OK reports whether nothing differs.
func (r *Report) OK() bool { return r.Differing == 0 }

// Config says what to replay.
type Config struct {
	// Topic is the changelog.
	Topic string
	// Limits are the service's: Timeout (--match-timeout) and MaxHistory
	// (--max-history) take part in the rules; Retention does not (zero is
	// taken as the default).
	Limits state.Limits
	// Wait bounds the wait for a transaction open on a partition at start
	// to end (default DefaultWait).
	Wait time.Duration
	// Show is the most offending orders the report keeps; 0 keeps all.
	Show int
	// Progress, when not nil, receives a line per partition read and one
	// every ProgressEvery (default 5s) while a partition is read. Run
	// writes to it from one goroutine at a time.
	Progress      io.Writer
	ProgressEvery time.Duration
}

// DefaultWait is Config.Wait's default.
const DefaultWait = time.Minute

func (c Config) withDefaults() Config {
	if c.Limits.Retention == 0 {
		c.Limits.Retention = state.DefaultLimits().Retention
	}
	if c.Progress != nil {
		c.Progress = &lockedWriter{w: c.Progress}
	}
	if c.Wait == 0 {
		c.Wait = DefaultWait
	}
	if c.ProgressEvery == 0 {
		c.ProgressEvery = 5 * time.Second
	}
	return c
}

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	var errs []error
	if c.Topic == "" {
		errs = append(errs, errors.New("replay: no changelog topic: name it"))
	}
	if err := c.Limits.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("replay: %w", err))
	}
	if c.Wait < 0 {
		errs = append(errs, fmt.Errorf("replay: wait %v must not be negative", c.Wait))
	}
	if c.Show < 0 {
		errs = append(errs, fmt.Errorf("replay: show %d must not be negative (0: all)", c.Show))
	}
	return errors.Join(errs...)
}

// lockedWriter serializes the progress lines of the read loop and of its
// ticker.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
