package integration

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestChaosAbortsWithTimers: a third of the transactions abort (a
// test-only switch), ticks included, with a short match timeout and
// retention. Every unmatched process still expires, and every decided one
// is then forgotten (tombstoned), within match timeout + retention + slack
// of the last event: an aborted transaction must not lose the expiries and
// retentions it carried. No restart or rebalance happens after the events
// are published, so no restore rebuilds lost timers.
func TestChaosAbortsWithTimers(t *testing.T) {
	s := newSuite(t, 6)
	// The deadline counts on the processing clock, so it must leave room for
	// the lag a loaded machine adds between publishing and processing: with
	// 5 s, a CI run on a busy machine applied some second events after
	// their process had expired, which the rules then skip.
	const timeout, retention, slack = 12 * time.Second, 5 * time.Second, 30 * time.Second
	s.extra = []string{"--test-abort-every", "3", "--match-timeout", timeout.String(),
		"--retention", retention.String(), "--tick-interval", "200ms"}
	recs, exp := workload(seed(t), max(scale(t)/3, 50), "timer")
	a, b := s.start("a"), s.start("b")
	s.waitGroup("start: a and b", 2*time.Minute, a, b) // no rebalance from here on

	// Paced over about two seconds, so that deadlines and retentions fall
	// due over many ticks: many transactions carry timer work, some of
	// them nothing else.
	<-s.publishPaced(recs, 25, 80*time.Millisecond)
	published := time.Now()
	s.waitProcessed(2*time.Minute, a, b)
	var decided, matched int
	for _, p := range exp.orders {
		if len(p.applied) > 0 {
			decided++
			if p.confirmed {
				matched++
			}
		}
	}
	t.Logf("%d orders with a process: %d match, %d must expire; all must be forgotten within %v of the last event",
		decided, matched, decided-matched, timeout+retention+slack)

	bound := published.Add(timeout + retention + slack)
	var problems []string
	for {
		problems = s.timerProblems(exp)
		if len(problems) == 0 || time.Now().After(bound) {
			break
		}
		time.Sleep(time.Second)
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		n := len(problems)
		if n > 20 {
			problems = append(problems[:20], fmt.Sprintf("... and %d more", n-20))
		}
		t.Fatalf("%d of %d processes not expired and forgotten within %v of the last event:\n%s",
			n, decided, timeout+retention+slack, strings.Join(problems, "\n"))
	}
	t.Logf("every process decided and forgotten %v after the last event", time.Since(published).Round(time.Millisecond))

	// An aborted transaction without input records carried timer work
	// only (expiries, tombstones): a transaction runs only with something
	// to write.
	aborted, timerOnly := 0, 0
	for _, line := range strings.Split(a.out.String()+b.out.String(), "\n") {
		if strings.Contains(line, `"reason":"test-only random abort"`) {
			aborted++
			if strings.Contains(line, `"records":0`) {
				timerOnly++
			}
		}
	}
	require.Positive(t, aborted, "no transaction was aborted")
	require.Positive(t, timerOnly, "no aborted transaction carried timer work only: the test did not exercise what it is for")
	t.Logf("%d transactions aborted at random, %d of them with timer work only", aborted, timerOnly)
	s.verify(exp)
	s.audit("--match-timeout", timeout.String(), "--retention", retention.String())
	a.stop(t)
	b.stop(t)
}

// timerProblems reads the whole changelog and says, for each order with a
// process, what is missing: its decided record (the fold of its events
// with ConfirmOrderIssued, or MatchExpired for an unmatched order) as the
// last record before a tombstone, and that tombstone as its latest record.
func (s *suite) timerProblems(exp *expectation) []string {
	s.t.Helper()
	history := map[string][][]byte{}
	for _, r := range s.readTopic(s.log) {
		history[string(r.Key)] = append(history[string(r.Key)], r.Value)
	}
	var problems []string
	for order, p := range exp.orders {
		if len(p.applied) == 0 {
			if len(history[order]) > 0 {
				problems = append(problems, fmt.Sprintf("order %s applied no event but has changelog records", order))
			}
			continue
		}
		vs := history[order]
		switch {
		case len(vs) == 0:
			problems = append(problems, fmt.Sprintf("order %s: no changelog record", order))
		case vs[len(vs)-1] != nil:
			what := "not forgotten"
			if foldProblem(order, p, vs[len(vs)-1], !p.confirmed) != "" {
				what = "not decided"
			}
			problems = append(problems, fmt.Sprintf("order %s %s: latest record %s", order, what, vs[len(vs)-1]))
		case len(vs) < 2 || vs[len(vs)-2] == nil:
			problems = append(problems, fmt.Sprintf("order %s: tombstoned without a decided record before it", order))
		default:
			if pr := foldProblem(order, p, vs[len(vs)-2], !p.confirmed); pr != "" {
				problems = append(problems, "before its tombstone: "+pr)
			}
		}
	}
	return problems
}
