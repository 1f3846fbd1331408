package integration

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/catering-match/catering-match/topics"
)

// The quiet is a fault too (RELIABILITY.md item 7, issue 9): rebalances
// with no records flowing, and timers that fire in a paused instance.

// idleTick is the suite's default --tick-interval (serviceArgs).
const idleTick = 500 * time.Millisecond

// TestIdleRebalances: 30 orders wait for their caterer while the group
// scales 1 -> 2 -> 3 -> 2 -> 1 with no traffic between the steps (one
// instance leaves with SIGTERM, one with kill -9), then one more instance
// joins so that every order has an owner and a non-owner. After each step
// every instance holds exactly its assignment, and keeps holding it. Then
// half the orders get their caterer's confirmation and the other half pass
// their deadline: one ConfirmOrder per matched order, every latest
// changelog record is the fold of its events, every instance answers
// alike, and `catering verify` passes.
func TestIdleRebalances(t *testing.T) {
	s := newSuite(t, 6)
	// Long enough for the scaling phase (30 to 50 s); the orders'
	// deadline counts from their first event, published before it.
	const timeout = 80 * time.Second
	flags := []string{"--match-timeout", timeout.String()}
	own := s.ownership(idleTick)

	a := s.startOps("a", flags...)
	own.settle("start: a", []*instance{a}, 2*time.Minute)

	exp := newExpectation()
	var recs []input
	var orders []string
	menus := []string{"", "menu-a", "menu-b"}
	for i := range 30 {
		order := fmt.Sprintf("idle-%d", i)
		orders = append(orders, order)
		recs = append(recs, exp.add(genEvent{ID: order + "-customer", Type: customerConfirmed, Order: order, Menu: menus[i%3]})...)
	}
	firstEvents := time.Now() // no order's deadline is before firstEvents+timeout
	s.publish(recs)
	s.waitProcessed(time.Minute, a.service)
	t.Logf("30 orders pending on a")

	// The scaling phase: no record is published from here until it ends.
	// After each step, besides what each instance says it holds, every
	// order is answered alike by all, from memory by exactly one (a stale
	// holder answers from its memory too).
	pending := map[string]string{}
	for _, o := range orders {
		pending[o] = "pending"
	}
	step := func(name string, live ...*instance) {
		t.Helper()
		own.settle(name, live, 2*time.Minute)
		s.answersAlike(live, pending)
	}
	b := s.startOps("b", flags...)
	step("1 -> 2: b joins", a, b)
	c := s.startOps("c", flags...)
	step("2 -> 3: c joins", a, b, c)
	a.stop(t)
	step("3 -> 2: a leaves (SIGTERM)", b, c)
	b.kill()
	step("2 -> 1: b is killed (kill -9)", c)
	d := s.startOps("d", flags...)
	live := []*instance{c, d}
	step("1 -> 2: d joins", live...)
	scaled := time.Since(firstEvents)
	t.Logf("scaling phase done %v after the first events (match timeout %v)", scaled.Round(time.Millisecond), timeout)
	if scaled > timeout-25*time.Second {
		t.Fatalf("the scaling phase took %v: too close to the orders' deadline (%v after their first event) to confirm half of them before it; raise the test's timeout", scaled, timeout)
	}

	// Half the orders match; the other half will expire.
	recs = nil
	expired := map[string]bool{}
	want := map[string]string{}
	for i, order := range orders {
		if i%2 == 0 {
			recs = append(recs, exp.add(genEvent{ID: order + "-caterer", Type: catererConfirmed, Order: order, Menu: menus[i%3]})...)
			want[order] = "confirmed"
		} else {
			expired[order] = true
			want[order] = "expired"
		}
	}
	s.publish(recs)
	s.waitProcessed(time.Minute, c.service, d.service)
	require.Less(t, time.Since(firstEvents), timeout-time.Second,
		"the caterer confirmations were processed after the orders' deadline: the test's timing does not hold on this machine")
	t.Logf("15 caterer confirmations processed %v after the first events", time.Since(firstEvents).Round(time.Millisecond))

	// Past every deadline: the first events were applied after
	// firstEvents, and before waitProcessed returned.
	time.Sleep(time.Until(firstEvents.Add(timeout)))
	require.Eventually(t, func() bool {
		latest, _ := s.latest()
		for order := range expired {
			if foldProblem(order, exp.orders[order], latest[order], true) != "" {
				return false
			}
		}
		return true
	}, time.Minute, 500*time.Millisecond, "the unmatched orders did not all expire within 1m of their deadline")

	s.verify(exp)
	latest, _ := s.latest()
	s.verifyFold(exp, latest, expired)
	own.settle("after the deadlines", live, time.Minute)
	s.answersAlike(live, want)
	s.audit("--match-timeout", timeout.String())
	for _, in := range live {
		in.stop(t)
	}
}

// TestZombieTick: b holds pending orders; shortly before their deadline b
// is paused (SIGSTOP) past its session timeout, a takes over b's
// partitions and confirms those orders, and b is resumed (SIGCONT) after
// the deadline. b still has the orders, pending and overdue, in its
// memory: whatever it writes from there must be refused. The latest
// changelog record of each order ends in ConfirmOrderIssued, and there is
// exactly one ConfirmOrder per order.
func TestZombieTick(t *testing.T) {
	s := newSuite(t, 6)
	const timeout = 30 * time.Second
	flags := []string{"--match-timeout", timeout.String(), "--session-timeout", "6s"}
	own := s.ownership(idleTick)
	a, b := s.startOps("a", flags...), s.startOps("b", flags...)
	g := own.settle("start: a and b", []*instance{a, b}, 2*time.Minute)
	bParts := g.members["b"]
	require.NotEmpty(t, bParts, "b was assigned nothing: %v", g)

	// 12 orders on b's partitions (a confirms them after the takeover), 6
	// on a's (they expire on a, as controls).
	exp := newExpectation()
	var onB, onA []string
	var recs []input
	for i := 0; len(onB) < 12 || len(onA) < 6; i++ {
		order := fmt.Sprintf("zombie-%d", i)
		mine := slices.Contains(bParts, topics.PartitionFor(order, int32(s.parts)))
		switch {
		case mine && len(onB) < 12:
			onB = append(onB, order)
		case !mine && len(onA) < 6:
			onA = append(onA, order)
		default:
			continue
		}
		recs = append(recs, exp.add(genEvent{ID: order + "-customer", Type: customerConfirmed, Order: order, Menu: "menu-a"})...)
	}
	firstEvents := time.Now()
	s.publish(recs)
	s.waitProcessed(time.Minute, a.service, b.service)
	applied := time.Now() // every first event was applied by now
	for _, order := range onB {
		body, code := get(t, "http://"+b.addr+"/orders/"+order)
		require.Equal(t, http.StatusOK, code, body)
		require.Contains(t, body, `"source":"memory"`, "b does not hold order %s", order)
		require.Contains(t, body, `"status":"pending"`, "order %s", order)
	}
	t.Logf("b holds %d pending orders on partitions %v; a holds %d", len(onB), bParts, len(onA))

	// Shortly before the deadline (leaving a the session timeout, a
	// rebalance and a restore to take over before it), pause b.
	time.Sleep(time.Until(firstEvents.Add(timeout - 16*time.Second)))
	require.NoError(t, b.cmd.Process.Signal(syscall.SIGSTOP))
	paused := time.Now()
	t.Logf("SIGSTOP b, %v before the deadline", firstEvents.Add(timeout).Sub(paused).Round(time.Millisecond))
	resumed := false
	defer func() {
		if !resumed {
			_ = b.cmd.Process.Signal(syscall.SIGCONT)
		}
	}()
	own.settle("b paused past the session timeout: a holds everything", []*instance{a}, time.Until(firstEvents.Add(timeout-4*time.Second)))
	t.Logf("a took over %v after the SIGSTOP", time.Since(paused).Round(time.Millisecond))

	// a confirms b's orders before their deadline.
	recs = nil
	for _, order := range onB {
		recs = append(recs, exp.add(genEvent{ID: order + "-caterer", Type: catererConfirmed, Order: order, Menu: "menu-a"})...)
	}
	s.publish(recs)
	s.waitProcessed(time.Minute, a.service)
	require.Less(t, time.Since(firstEvents), timeout-time.Second,
		"a confirmed after the orders' deadline: the test's timing does not hold on this machine")
	latest, _ := s.latest()
	for _, order := range onB {
		require.Empty(t, foldProblem(order, exp.orders[order], latest[order], false), "before SIGCONT")
	}
	t.Logf("a confirmed b's %d orders, %v before the deadline", len(onB), firstEvents.Add(timeout).Sub(time.Now()).Round(time.Millisecond))

	// Resume b after the deadline its memory still has for those orders.
	time.Sleep(time.Until(applied.Add(timeout + 3*time.Second)))
	before := len(b.out.String())
	require.NoError(t, b.cmd.Process.Signal(syscall.SIGCONT))
	resumed = true
	t.Log("SIGCONT b, past the deadline: it is a zombie until it notices")
	time.Sleep(8 * time.Second) // b ticks first thing, then finds out

	expired := map[string]bool{}
	want := map[string]string{}
	for _, order := range onA {
		expired[order] = true
		want[order] = "expired"
	}
	for _, order := range onB {
		want[order] = "confirmed"
	}
	check := func(when string) {
		t.Helper()
		s.verify(exp)
		latest, _ := s.latest()
		if bad := s.verifyFold(exp, latest, expired); bad > 0 {
			t.Fatalf("%s: %d orders' latest changelog records are not the fold of their events (above)", when, bad)
		}
		t.Logf("%s: one ConfirmOrder per order of b, every latest record the fold of its events", when)
	}
	check("8s after SIGCONT")

	// What b did after waking. A committed expiry of b's orders would be
	// logged ("process expired without a match"): there must be none.
	// Its log must show that a transaction of its was refused or aborted,
	// or that it rebuilt its session; or else that it dropped b's
	// partitions (then it wrote nothing for them: no expiry was logged).
	woke := b.out.String()[before:]
	refused, dropped := "", ""
	var zombieExpired []string
	for _, line := range strings.Split(woke, "\n") {
		var l struct {
			Msg        string  `json:"msg"`
			Reason     string  `json:"reason"`
			Err        string  `json:"err"`
			OrderID    string  `json:"order_id"`
			Partitions []int32 `json:"partitions"`
		}
		if json.Unmarshal([]byte(line), &l) != nil {
			continue
		}
		switch {
		case l.Msg == "process expired without a match" && slices.Contains(onB, l.OrderID):
			zombieExpired = append(zombieExpired, l.OrderID)
		case strings.HasPrefix(l.Msg, "transaction aborted"), strings.HasPrefix(l.Msg, "session failed"):
			if refused == "" {
				refused = strings.TrimSpace(l.Msg + " " + l.Reason + " " + l.Err)
			}
		case l.Msg == "partitions revoked" || l.Msg == "partitions held" || strings.HasPrefix(l.Msg, "partitions no longer assigned"):
			if dropped == "" && (l.Msg == "partitions revoked" || !slices.ContainsFunc(bParts, func(p int32) bool { return slices.Contains(l.Partitions, p) })) {
				dropped = fmt.Sprintf("%s %v", l.Msg, l.Partitions)
			}
		default:
			continue
		}
		t.Logf("zombie b after SIGCONT: %s", line)
	}
	require.Empty(t, zombieExpired, "zombie b committed expiries of orders a had confirmed")
	switch {
	case refused != "":
		t.Logf("b's write was refused or aborted, or its session rebuilt: %s", refused)
	case dropped != "":
		t.Logf("b dropped its partitions before writing anything for them: %s", dropped)
	default:
		t.Fatalf("b's log after SIGCONT shows no refused or aborted transaction, no rebuilt session and no dropped partitions:\n%s", tail(woke, 40))
	}

	// b rejoins; ownership is exact again, and both answer alike.
	own.settle("b back", []*instance{a, b}, 2*time.Minute)
	time.Sleep(2 * time.Second)
	check("b back in the group")
	s.answersAlike([]*instance{a, b}, want)
	s.audit("--match-timeout", timeout.String())
	a.stop(t)
	b.stop(t)
}
