package processor_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/catering-match/catering-match/state"
	"github.com/catering-match/catering-match/topics"
)

func TestSmokeMatchIssuesOneCommand(t *testing.T) {
	b := startBroker(t, "")
	names := testNames(t)
	r := start(t, testConfig(t, b.Addr(), names))
	recs := []any{}
	_ = recs
	for _, rec := range []struct{ id, typ, order, menu string }{
		{"e1", state.CustomerConfirmedMenu, "42", "menu-a"},
		{"e2", state.CatererConfirmedMenu, "42", "menu-a"},
		{"e2", state.CatererConfirmedMenu, "42", "menu-a"},
		{"e3", state.CustomerConfirmedMenu, "43", ""},
	} {
		ev := event(rec.id, rec.typ, rec.order, rec.menu)
		ev.Topic = names.Events
		produce(t, b.Addr(), ev)
	}
	eventually(t, 30*time.Second, "events processed", func() bool {
		s := r.p.Stats()
		return s.Applied.Load()+s.SkippedDuplicate.Load() == 4
	})
	cmds := readAll(t, b.Addr(), names.Commands)
	require.Len(t, cmds, 1)
	c, err := topics.DecodeConfirmOrder(cmds[0].Value)
	require.NoError(t, err)
	require.Equal(t, "42", c.OrderID)
	require.Equal(t, "menu-a", c.MenuID)
	require.Equal(t, "e2", c.CausationID)
	require.Equal(t, state.CommandID("42"), c.CommandID)
}
