package catering

import (
	"errors"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/catering-match/catering-match/processor"
	"github.com/catering-match/catering-match/state"
	"github.com/catering-match/catering-match/topics"
)

func TestDecode(t *testing.T) {
	v := []byte(`{"id":"e-1","type":"CatererConfirmedMenu","order_id":"42","menu_id":"menu-a","occurred_at":"2026-12-02T01:00:00Z"}`)
	key, e, err := decode(&kgo.Record{Key: []byte("42"), Value: v})
	require.NoError(t, err)
	require.Equal(t, "42", key)
	require.Equal(t, state.Entry{ID: "e-1", Type: state.CatererConfirmedMenu, Ref: "menu-a"}, e)
	require.Equal(t, unsafe.StringData(state.CatererConfirmedMenu), unsafe.StringData(e.Type), "the type is the package constant (interned by the decoder)")

	_, _, err = decode(&kgo.Record{Key: []byte("41"), Value: v})
	var m *topics.MalformedError
	require.True(t, errors.As(err, &m), "%v", err)
	require.Equal(t, topics.MalformedKeyMismatch, m.Kind)

	_, e, err = decode(&kgo.Record{Key: []byte("42"), Value: []byte(`{"id":"e-2","type":"SomethingElse","order_id":"42"}`)})
	require.NoError(t, err, "other types are skipped by the engine, not dead-lettered")
	require.Equal(t, state.Entry{ID: "e-2", Type: "SomethingElse"}, e)
}

func TestEmit(t *testing.T) {
	at := time.Date(2026, 12, 2, 1, 0, 0, 0, time.UTC)
	cause := state.Entry{ID: "e-9", Type: state.CustomerConfirmedMenu, Ref: "menu-a"}
	rs := emit(processor.Decision[state.Order]{Key: "42", Cause: &cause,
		Entry: state.Entry{ID: state.CommandID("42"), Type: state.ConfirmOrderIssued, Ref: "menu-a", At: state.StampOf(at)}})
	require.Len(t, rs, 1)
	require.Equal(t, "42", string(rs[0].Key))
	require.Equal(t, []kgo.RecordHeader{{Key: "type", Value: []byte("ConfirmOrder")}}, rs[0].Headers)
	c, err := topics.DecodeConfirmOrder(rs[0].Value)
	require.NoError(t, err)
	require.Equal(t, topics.NewConfirmOrder("42", "menu-a", "e-9", at), c)

	require.Empty(t, emit(processor.Decision[state.Order]{Key: "42",
		Entry: state.Entry{ID: "x", Type: state.MatchExpired, At: state.StampOf(at)}}), "an expiry emits nothing")
}

func TestWhyPending(t *testing.T) {
	menu := func(id string, customer bool, caterer state.Answer) state.Menu {
		return state.Menu{ID: id, Customer: customer, Caterer: caterer}
	}
	for _, c := range []struct {
		menus []state.Menu
		want  string
	}{
		{[]state.Menu{menu("menu-a", true, state.NoAnswer)}, "waiting for the caterer on menu-a"},
		{[]state.Menu{menu("menu-a", false, state.Accepted)}, "waiting for the customer on menu-a"},
		{[]state.Menu{menu("", true, state.NoAnswer)}, "waiting for the caterer on the default menu"},
		{[]state.Menu{menu("menu-a", true, state.NoAnswer), menu("menu-b", false, state.Accepted)},
			"waiting for the caterer on menu-a; waiting for the customer on menu-b"},
		{[]state.Menu{menu("a", true, state.NoAnswer), menu("b", true, state.NoAnswer), menu("c", true, state.NoAnswer)},
			"waiting for the caterer on a, b and c"},
		{[]state.Menu{menu("menu-a", true, state.NoAnswer), menu("menu-b", true, state.Declined)},
			"waiting for the caterer on menu-a; caterer declined menu-b"},
		{[]state.Menu{menu("menu-b", false, state.Declined)},
			"caterer declined menu-b; waiting for a customer confirmation of another menu"},
		{[]state.Menu{menu("menu-b", true, state.Declined)},
			"caterer declined menu-b; waiting for a customer confirmation of another menu, or for the caterer to confirm menu-b after all"},
		{[]state.Menu{menu("menu-a", true, state.Accepted)}, "both sides confirmed menu-a: the decision is recorded with this event"},
		{nil, "waiting for both sides"},
	} {
		require.Equal(t, c.want, whyPending(state.Order{Menus: c.menus}))
	}
}

// TestSteps folds a history with the catering definition and views each
// step: the answers, the deadline while pending, the decision at the end.
func TestSteps(t *testing.T) {
	limits := state.DefaultLimits()
	m, err := state.NewCatering(limits)
	require.NoError(t, err)
	at := time.Date(2026, 12, 2, 1, 0, 0, 0, time.UTC)
	h := []state.Entry{
		{ID: "c1", Type: state.CustomerConfirmedMenu, Ref: "menu-b", At: state.StampOf(at)},
		{ID: "k1", Type: state.CatererDeclinedMenu, Ref: "menu-b", At: state.StampOf(at.Add(time.Minute))},
		{ID: "c2", Type: state.CustomerConfirmedMenu, Ref: "menu-a", At: state.StampOf(at.Add(2 * time.Minute))},
		{ID: "k2", Type: state.CatererConfirmedMenu, Ref: "menu-a", At: state.StampOf(at.Add(3 * time.Minute))},
		{ID: state.CommandID("42"), Type: state.ConfirmOrderIssued, Ref: "menu-a", At: state.StampOf(at.Add(3 * time.Minute))},
	}
	var snaps []processor.Snapshot[state.Order]
	for i := range h {
		proc := m.Restore(h[:i+1])
		s := processor.Snapshot[state.Order]{Process: proc, Status: proc.State.Status.String(), Partition: 1, Source: "memory"}
		if d, ok := m.Deadline(proc); ok {
			s.Deadline = &d
		}
		snaps = append(snaps, s)
	}
	v := Steps("42", snaps)
	require.Equal(t, "confirmed", v.Status)
	require.Equal(t, state.CommandID("42"), v.CommandID)
	require.Len(t, v.Steps, 5)
	var why []string
	for _, s := range v.Steps[:4] {
		require.Equal(t, "pending", s.Status)
		require.Equal(t, at.Add(limits.Timeout), *s.Deadline)
		require.Empty(t, s.Decision)
		why = append(why, s.WhyPending)
	}
	require.Equal(t, []string{
		"waiting for the caterer on menu-b",
		"caterer declined menu-b; waiting for a customer confirmation of another menu, or for the caterer to confirm menu-b after all",
		"waiting for the caterer on menu-a; caterer declined menu-b",
		"both sides confirmed menu-a: the decision is recorded with this event",
	}, why)
	last := v.Steps[4]
	require.Equal(t, StepView{Entry: EntryView{ID: state.CommandID("42"), Type: state.ConfirmOrderIssued, MenuID: "menu-a", At: at.Add(3 * time.Minute)},
		Status: "confirmed", Menus: []MenuView{{MenuID: "menu-b", Customer: true, Caterer: "declined"}, {MenuID: "menu-a", Customer: true, Caterer: "confirmed"}},
		Decision: state.ConfirmOrderIssued, ConfirmedMenu: "menu-a", CommandID: state.CommandID("42")}, last)
}
