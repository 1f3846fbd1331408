package replay

import (
	"time"

	"github.com/google/uuid"

	"github.com/catering-match/catering-match/state"
)

// The stored behaviour. A process record holds events and decisions, not
// derived fields: its status, per-menu answers, confirmed menu and deadline
// follow from the contract's rules (docs/contract.md, "Process record" and
// rules 1-8). This file writes those rules down afresh, beside the build's
// definition, as the reference the build is compared with. It is the rules
// of the releases that wrote the changelog: a release that changes a rule on
// purpose sees its impact on the stored processes here, and changes this
// file (with docs/contract.md) once it is out.

// commandNamespace is the contract's UUID namespace of decision ids.
var commandNamespace = uuid.MustParse("6f2b8c0e-3a6d-5b9e-8f41-6c1f0e2a9d57")

// confirmID is the ConfirmOrder command id of an order, and so the id of its
// ConfirmOrderIssued entry: UUID v5 of "ConfirmOrder/<order id>".
func confirmID(order string) string {
	return uuid.NewSHA1(commandNamespace, []byte("ConfirmOrder/"+order)).String()
}

// expiryID is the id of an order's MatchExpired entry: UUID v5 of
// "MatchExpired/<order id>".
func expiryID(order string) string {
	return uuid.NewSHA1(commandNamespace, []byte("MatchExpired/"+order)).String()
}

// isDecision reports whether an entry type is one of the process's own
// decisions, as opposed to an event it applied.
func isDecision(typ string) bool {
	return typ == state.ConfirmOrderIssued || typ == state.MatchExpired
}

// menuAnswers is what the two sides said about one menu.
type menuAnswers struct {
	customer bool         // rule 2: the customer's confirmations accumulate
	caterer  state.Answer // rule 3: the caterer's latest answer stands
}

// stored is the state a process record implies under the contract's rules.
type stored struct {
	status        state.Status
	decidedAt     int // index of the entry that set status; -1 while pending
	menuOrder     []string
	menus         map[string]menuAnswers
	confirmedMenu string // of the ConfirmOrderIssued entry
	commandID     string // its id
}

func (s *stored) menu(id string) menuAnswers { return s.menus[id] }

func (s *stored) setMenu(id string, f func(*menuAnswers)) {
	a, ok := s.menus[id]
	if !ok {
		s.menuOrder = append(s.menuOrder, id)
	}
	f(&a)
	s.menus[id] = a
}

// storedState folds a history by the contract's rules: each entry in order,
// decisions included; entry types other than the five change nothing.
func storedState(h []state.Entry) *stored {
	s := &stored{decidedAt: -1, menus: map[string]menuAnswers{}}
	for i, e := range h {
		switch e.Type {
		case state.CustomerConfirmedMenu:
			s.setMenu(e.Ref, func(a *menuAnswers) { a.customer = true })
		case state.CatererConfirmedMenu:
			s.setMenu(e.Ref, func(a *menuAnswers) { a.caterer = state.Accepted })
		case state.CatererDeclinedMenu:
			s.setMenu(e.Ref, func(a *menuAnswers) { a.caterer = state.Declined })
		case state.ConfirmOrderIssued:
			s.status, s.decidedAt, s.confirmedMenu, s.commandID = state.Confirmed, i, e.Ref, e.ID
		case state.MatchExpired:
			s.status, s.decidedAt = state.Expired, i
		}
	}
	return s
}

// outcome is what happens when an event reaches a process, or a tick
// passes: whether the event is applied, and the decisions recorded.
type outcome struct {
	result    state.Result
	decisions []state.Entry // Type, ID and Ref; At is not compared
}

// storedNext is what the contract's rules do with one more event of type
// typ for menu at processing time at, for a pending process with history h
// (folded into s): an expiry that is due comes first and the event is
// skipped as terminal (rule 6); a full history refuses it (rule 8);
// otherwise it is applied (rules 2, 3) and completes the match when its own
// menu has both confirmations (rule 4). The event's id is new (rule 1).
func storedNext(order string, h []state.Entry, s *stored, limits state.Limits, typ, menu string, at time.Time) outcome {
	if !at.Before(deadline(h, limits)) {
		return outcome{result: state.SkippedTerminal, decisions: []state.Entry{{ID: expiryID(order), Type: state.MatchExpired}}}
	}
	if len(h) >= limits.MaxHistory {
		return outcome{result: state.RejectedHistoryFull}
	}
	a := s.menu(menu)
	switch typ {
	case state.CustomerConfirmedMenu:
		a.customer = true
	case state.CatererConfirmedMenu:
		a.caterer = state.Accepted
	case state.CatererDeclinedMenu:
		a.caterer = state.Declined
	}
	if a.customer && a.caterer == state.Accepted {
		return outcome{result: state.Applied, decisions: []state.Entry{{ID: confirmID(order), Type: state.ConfirmOrderIssued, Ref: menu}}}
	}
	return outcome{result: state.Applied}
}

// storedTick is what a tick at processing time at does to a pending
// process with history h: it records MatchExpired from the deadline on,
// inclusive (rule 6).
func storedTick(order string, h []state.Entry, limits state.Limits, at time.Time) outcome {
	if at.Before(deadline(h, limits)) {
		return outcome{result: state.Applied}
	}
	return outcome{result: state.Applied, decisions: []state.Entry{{ID: expiryID(order), Type: state.MatchExpired}}}
}

// deadline is the first entry's processing time plus the match timeout.
func deadline(h []state.Entry, limits state.Limits) time.Time {
	return h[0].At.Time().Add(limits.Timeout)
}
