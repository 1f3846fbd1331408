// Package catering wires the catering process manager into the engine:
// the process (state.Catering), the wire format of its events and
// commands (topics), and the views its operators query. It is the only
// place where the engine (processor) meets catering.
package catering

import (
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/catering-match/catering-match/processor"
	"github.com/catering-match/catering-match/state"
	"github.com/catering-match/catering-match/topics"
)

// Definition is the catering process manager: it waits for the customer's
// and the caterer's confirmation of the same menu, then issues one
// ConfirmOrder; at its deadline it records MatchExpired and emits nothing.
func Definition() processor.Definition[state.Order] {
	return processor.Definition[state.Order]{
		Process: state.Catering(),
		Decode:  decode,
		Codec:   processor.ProcessRecord,
		Emit:    emit,
		Status:  func(o state.Order) string { return o.Status.String() },
		Statuses: []string{
			state.Pending.String(), state.Confirmed.String(), state.Expired.String(),
		},
		Summary: func(h []state.Entry) (string, bool) {
			st := state.StatusOf(h)
			return st.String(), st != state.Pending
		},
		Logs: processor.Logs{Key: "order_id", Deadline: "process expired without a match"},
	}
}

// decode reads an event record (docs/contract.md): key and order_id are the
// process key, menu_id the entry's Ref.
func decode(r *kgo.Record) (string, state.Entry, error) {
	ev, err := topics.DecodeEventView(r.Key, r.Value)
	if err != nil {
		return "", state.Entry{}, err
	}
	// What a history keeps of the event: its id and menu id, copied into
	// one allocation of their own (the decoded strings are views of the
	// record, which the history must not pin), and the type, which the
	// decoder returns as its constant. The order id stays a view: the
	// engine keeps a key only until the transaction ends.
	var b strings.Builder
	b.Grow(len(ev.ID) + len(ev.MenuID))
	b.WriteString(ev.ID)
	b.WriteString(ev.MenuID)
	kept := b.String()
	return ev.OrderID, state.Entry{ID: kept[:len(ev.ID)], Type: ev.Type, Ref: kept[len(ev.ID):]}, nil
}

var confirmOrderHeader = []kgo.RecordHeader{{Key: "type", Value: []byte(topics.ConfirmOrderType)}}

// emit issues ConfirmOrder for ConfirmOrderIssued, with the id of the event
// that completed the match as its causation id. MatchExpired emits nothing.
func emit(d processor.Decision[state.Order]) []*kgo.Record {
	if d.Entry.Type != state.ConfirmOrderIssued || d.Cause == nil {
		return nil
	}
	// The decision's id is state.CommandID(key): the command's id.
	return []*kgo.Record{{
		Key:     []byte(d.Key),
		Value:   topics.EncodeConfirmOrder(d.Entry.ID, d.Key, d.Entry.Ref, d.Cause.ID, d.Entry.At),
		Headers: confirmOrderHeader,
	}}
}
