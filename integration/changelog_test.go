package integration

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
)

// processRecord is the changelog value as docs/contract.md defines it.
type processRecord struct {
	Schema  int    `json:"schema"`
	OrderID string `json:"order_id"`
	History []struct {
		ID     string `json:"id"`
		Type   string `json:"type"`
		MenuID string `json:"menu_id"`
		At     string `json:"at"`
	} `json:"history"`
}

// latest reads the changelog and returns the latest value per key (nil for
// a tombstone) and how many offsets compaction removed: offsets between the
// log start and end that are neither a record nor a transaction marker.
func (s *suite) latest() (map[string][]byte, int64) {
	s.t.Helper()
	recs := s.readTopicAll(s.log)
	out := map[string][]byte{}
	var present int64
	for _, r := range recs {
		present++
		if !r.Attrs.IsControl() {
			out[string(r.Key)] = r.Value
		}
	}
	ctx := s.t.Context()
	starts, err := s.adm.ListStartOffsets(ctx, s.log)
	require.NoError(s.t, err)
	ends, err := s.adm.ListEndOffsets(ctx, s.log)
	require.NoError(s.t, err)
	var span int64
	ends.Each(func(o kadm.ListedOffset) {
		st, _ := starts.Lookup(s.log, o.Partition)
		span += o.Offset - st.Offset
	})
	return out, span - present
}

// verifyChangelog checks that every order's latest process record is the
// fold docs/contract.md describes: the applied events in order, then
// ConfirmOrderIssued iff the order matched.
func (s *suite) verifyChangelog(exp *expectation, latest map[string][]byte) {
	s.t.Helper()
	bad := 0
	for order, p := range exp.orders {
		v, ok := latest[order]
		if len(p.applied) == 0 {
			if ok && v != nil {
				s.t.Errorf("order %s applied no event but has a process record: %s", order, v)
				bad++
			}
			continue
		}
		var pr processRecord
		if !ok || json.Unmarshal(v, &pr) != nil || pr.Schema != 1 || pr.OrderID != order {
			s.t.Errorf("order %s: latest changelog record %q is not its process record", order, v)
			bad++
			continue
		}
		var ids []string
		for _, h := range pr.History {
			if h.Type != "ConfirmOrderIssued" {
				ids = append(ids, h.ID)
			}
		}
		last := pr.History[len(pr.History)-1]
		if !slices.Equal(ids, p.applied) || p.confirmed != (last.Type == "ConfirmOrderIssued") ||
			(p.confirmed && (last.ID != expectedCommandID(order) || last.MenuID != p.menu)) {
			s.t.Errorf("order %s: history %+v, want applied %v confirmed=%v menu %q", order, pr.History, p.applied, p.confirmed, p.menu)
			bad++
		}
		if bad > 10 {
			s.t.FailNow()
		}
	}
}

// TestChangelogCompactionAndRestore: on a real broker the changelog really
// compacts (small segments, low dirty ratio); the state it holds after
// compaction equals the state before, and a service restored from it
// (kill -9, restart) treats every resent event as a duplicate.
func TestChangelogCompactionAndRestore(t *testing.T) {
	s := newSuite(t, 3)
	if !env.real() {
		t.Skip("kfake compacts only on demand and ignores the last stable offset (measured with the pinned kfake): the real broker is the judge; run `make test-kafka`")
	}
	s.createTopics(3, 3, map[string]*string{
		"cleanup.policy":            kadm.StringPtr("compact"),
		"segment.ms":                kadm.StringPtr("500"),
		"min.cleanable.dirty.ratio": kadm.StringPtr("0.01"),
		"min.compaction.lag.ms":     kadm.StringPtr("0"),
		"delete.retention.ms":       kadm.StringPtr("1000"),
	})
	recs, exp := workload(seed(t), scale(t), "c")
	svc := s.start("a")
	// Several rounds, so that each order's record is rewritten across
	// segments, with pauses that let segments roll.
	for i := range 4 {
		s.publish(recs[i*len(recs)/4 : (i+1)*len(recs)/4])
		time.Sleep(700 * time.Millisecond)
	}
	s.waitProcessed(5*time.Minute, svc)
	// Compaction: offsets vanish from the changelog while the latest
	// record of every order stays its exact fold. A trickle of one order's
	// events keeps segments rolling until the cleaner has run.
	deadline := time.Now().Add(3 * time.Minute)
	for i := 0; ; i++ {
		s.waitProcessed(time.Minute, svc)
		latest, removed := s.latest()
		if removed > 0 {
			s.verifyChangelog(exp, latest)
			t.Logf("compaction removed %d changelog offsets; %d processes", removed, len(latest))
			break
		}
		require.True(t, time.Now().Before(deadline), "the changelog did not compact within 3m")
		tick := genEvent{ID: fmt.Sprintf("tick-%d", i), Type: customerConfirmed, Order: "c-ticker", Menu: fmt.Sprint(i)}
		s.publish([]input{tick.record()})
		exp.records++
		exp.orders["c-ticker"] = ticker(exp.orders["c-ticker"], tick)
		time.Sleep(time.Second)
	}
	before, _ := s.latest()

	// Restore from the compacted changelog.
	svc.kill()
	svc = s.start("a")
	s.publish(recs)
	for k := range exp.malformed {
		exp.malformed[k] *= 2
	}
	s.waitProcessed(5*time.Minute, svc)
	s.verify(exp)
	after, _ := s.latest()
	s.verifyChangelog(exp, after)
	restored := restoredProcesses(svc.out.String())
	require.Equal(t, len(before), restored, "processes restored after the restart")
	svc.stop(t)
}

// ticker applies a ticker event to the oracle's process for it.
func ticker(p *oracleProcess, e genEvent) *oracleProcess {
	if p == nil {
		p = &oracleProcess{seen: map[string]bool{}, customer: map[string]bool{}, caterer: map[string]string{}}
	}
	p.apply(e)
	return p
}

// restoredProcesses sums the processes of the "partition restored" lines
// of a service's last session.
func restoredProcesses(log string) int {
	total := 0
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, `"msg":"partitions assigned`) {
			total = 0
		}
		if !strings.Contains(line, `"msg":"partition restored"`) {
			continue
		}
		var l struct{ Processes int }
		if json.Unmarshal([]byte(line), &l) == nil {
			total += l.Processes
		}
	}
	return total
}

// TestRetentionTombstones: a terminal process is tombstoned after the
// retention; a pending one expires at its deadline (no command) and is then
// tombstoned too; an event after that starts a new process.
func TestRetentionTombstones(t *testing.T) {
	s := newSuite(t, 3)
	s.extra = []string{"--retention", "3s", "--match-timeout", "2s", "--tick-interval", "200ms"}
	svc := s.start("a")
	matched := []genEvent{
		{ID: "m1", Type: customerConfirmed, Order: "t-matched", Menu: "a"},
		{ID: "m2", Type: catererConfirmed, Order: "t-matched", Menu: "a"},
	}
	pending := genEvent{ID: "p1", Type: customerConfirmed, Order: "t-pending", Menu: "a"}
	var in []input
	for _, e := range append(matched, pending) {
		in = append(in, e.record())
	}
	s.publish(in)
	s.waitProcessed(time.Minute, svc)

	// The pending order expires: a record of it ends with MatchExpired. Any
	// record, not the latest: on a loaded machine one poll can miss the
	// second between the expiry and the tombstone that follows it.
	require.Eventually(t, func() bool {
		for _, r := range s.readTopic(s.log) {
			var pr processRecord
			if string(r.Key) != "t-pending" || json.Unmarshal(r.Value, &pr) != nil || len(pr.History) == 0 {
				continue
			}
			if pr.History[len(pr.History)-1].Type == "MatchExpired" {
				return true
			}
		}
		return false
	}, time.Minute, 200*time.Millisecond, "t-pending never expired")

	// Both are tombstoned once their retention ran out.
	require.Eventually(t, func() bool {
		l, _ := s.latest()
		v1, ok1 := l["t-matched"]
		v2, ok2 := l["t-pending"]
		return ok1 && ok2 && v1 == nil && v2 == nil
	}, time.Minute, 200*time.Millisecond, "no tombstones after the retention")
	out, err := runClient(t, "state", "t-matched", "--changelog-topic", s.log)
	require.Error(t, err, "catering state on a forgotten order: %s", out)
	require.Contains(t, err.Error(), "no process")

	// Only one command: for the matched order, none for the expired one.
	cmds := s.readTopic(s.cmds)
	require.Len(t, cmds, 1)
	require.Equal(t, "t-matched", string(cmds[0].Key))

	// The documented limit of dedup: after retention, a resent event starts
	// a new process.
	s.publish([]input{matched[0].record()})
	s.waitProcessed(time.Minute, svc)
	require.Eventually(t, func() bool {
		l, _ := s.latest()
		var pr processRecord
		return json.Unmarshal(l["t-matched"], &pr) == nil && len(pr.History) == 1 && pr.History[0].ID == "m1"
	}, time.Minute, 200*time.Millisecond, "a resent event after retention did not start a new process")
	svc.stop(t)
}
