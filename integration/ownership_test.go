package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Helpers of the quiet-fault tests (RELIABILITY.md item 7, issue 9):
// which partitions each instance holds, by its own account (/readyz, the
// partitions_held gauge, the "partitions held" log line), against the group
// coordinator's assignment; and every instance's answer for an order.

// instance is a service with its operations endpoints enabled.
type instance struct {
	*service
	addr string
}

// startOps starts an instance with its operations endpoints on a free
// loopback port below 32768.
func (s *suite) startOps(name string, extra ...string) *instance {
	s.t.Helper()
	addr := lowFreeAddr(s.t)
	return &instance{service: s.start(name, append([]string{"--http-addr", addr}, extra...)...), addr: addr}
}

// lowFreeAddr returns a loopback address whose port is free now and below
// the ephemeral range (ports in it were seen to collide with outgoing
// client ports).
func lowFreeAddr(t *testing.T) string {
	t.Helper()
	for range 200 {
		addr := fmt.Sprintf("127.0.0.1:%d", 20000+rand.IntN(12000))
		if ln, err := net.Listen("tcp", addr); err == nil {
			ln.Close()
			return addr
		}
	}
	t.Fatal("no free port in 20000-31999")
	return ""
}

// readiness is one answer of GET /readyz.
type readiness struct {
	code      int
	ready     bool
	heldKnown bool    // the second line is a well-formed "partitions held: ..."
	held      []int32 // sorted
	body      string
}

// readyz asks an instance which partitions it holds. The contract: first
// line "ready" (200) or "not ready: ..." (503); second line "partitions
// held: 0,2,4" or "partitions held: none".
func (in *instance) readyz() (readiness, error) {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + in.addr + "/readyz")
	if err != nil {
		return readiness{}, err
	}
	defer resp.Body.Close()
	var sb strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		sb.Write(buf[:n])
		if err != nil {
			break
		}
	}
	r := readiness{code: resp.StatusCode, body: sb.String()}
	lines := strings.Split(strings.TrimRight(r.body, "\n"), "\n")
	r.ready = resp.StatusCode == http.StatusOK && lines[0] == "ready"
	if len(lines) >= 2 {
		r.held, r.heldKnown = parseHeld(lines[1])
	}
	return r, nil
}

func parseHeld(line string) ([]int32, bool) {
	v, ok := strings.CutPrefix(line, "partitions held: ")
	if !ok {
		return nil, false
	}
	if v == "none" {
		return []int32{}, true
	}
	var out []int32
	for _, f := range strings.Split(v, ",") {
		n, err := strconv.ParseInt(f, 10, 32)
		if err != nil {
			return nil, false
		}
		out = append(out, int32(n))
	}
	if !slices.IsSorted(out) {
		return nil, false
	}
	return out, true
}

// heldGauge is the catering_match_partitions_held gauge of an instance;
// ok is false when the page has no such gauge.
func (in *instance) heldGauge() (float64, bool, error) {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + in.addr + "/metrics")
	if err != nil {
		return 0, false, err
	}
	defer resp.Body.Close()
	var sb strings.Builder
	buf := make([]byte, 64<<10)
	for {
		n, err := resp.Body.Read(buf)
		sb.Write(buf[:n])
		if err != nil {
			break
		}
	}
	for _, line := range strings.Split(sb.String(), "\n") {
		if v, ok := strings.CutPrefix(line, "catering_match_partitions_held "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return f, err == nil, err
		}
	}
	return 0, false, nil
}

// loggedHeld is the partitions of the instance's last "partitions held"
// log line; ok is false when it logged none.
func (in *instance) loggedHeld() (held []int32, ok bool) {
	for _, line := range strings.Split(in.out.String(), "\n") {
		if !strings.Contains(line, `"msg":"partitions held"`) {
			continue
		}
		var l struct {
			Partitions []int32 `json:"partitions"`
		}
		if json.Unmarshal([]byte(line), &l) == nil {
			held, ok = l.Partitions, true
			if held == nil {
				held = []int32{}
			}
		}
	}
	slices.Sort(held)
	return held, ok
}

// groupView is the coordinator's description of the suite's group.
type groupView struct {
	state    string
	members  map[string][]int32 // instance id -> assigned events partitions, sorted
	memberID map[string]string  // instance id -> member id
	unknown  []string           // members whose assignment is not known
}

func (g groupView) String() string {
	var ms []string
	for id, parts := range g.members {
		ms = append(ms, fmt.Sprintf("%s=%v", id, parts))
	}
	slices.Sort(ms)
	return fmt.Sprintf("state %s, members %s, unknown assignments %v", g.state, strings.Join(ms, " "), g.unknown)
}

func (g groupView) same(o groupView) bool {
	return g.state == o.state && reflect.DeepEqual(g.members, o.members) && reflect.DeepEqual(g.memberID, o.memberID)
}

func (s *suite) describeGroup() (groupView, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	gs, err := s.adm.DescribeGroups(ctx, s.group)
	if err != nil {
		return groupView{}, err
	}
	g, ok := gs[s.group]
	if !ok {
		return groupView{}, fmt.Errorf("group %s not described", s.group)
	}
	if g.Err != nil {
		return groupView{}, g.Err
	}
	v := groupView{state: g.State, members: map[string][]int32{}, memberID: map[string]string{}}
	for _, m := range g.Members {
		id := m.MemberID
		if m.InstanceID != nil {
			id = *m.InstanceID
		}
		v.memberID[id] = m.MemberID
		c, ok := m.Assigned.AsConsumer()
		if !ok {
			v.unknown = append(v.unknown, id)
			continue
		}
		parts := []int32{}
		for _, t := range c.Topics {
			if t.Topic == s.events {
				parts = append(parts, t.Partitions...)
			}
		}
		slices.Sort(parts)
		v.members[id] = parts
	}
	return v, nil
}

// groupProblem says why the group is not settled on exactly the live
// instances, with every partition assigned exactly once ("" when it is).
func (s *suite) groupProblem(g groupView, live []*instance) string {
	if g.state != "Stable" {
		return "group state " + g.state
	}
	if len(g.unknown) > 0 {
		return fmt.Sprintf("assignment of %v not known", g.unknown)
	}
	var want, got []string
	for _, in := range live {
		want = append(want, in.name)
	}
	for id := range g.memberID {
		got = append(got, id)
	}
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(want, got) {
		return fmt.Sprintf("members %v, want the live instances %v", got, want)
	}
	owner := map[int32]string{}
	for id, parts := range g.members {
		for _, p := range parts {
			if o, dup := owner[p]; dup {
				return fmt.Sprintf("partition %d assigned to %s and %s", p, o, id)
			}
			owner[p] = id
		}
	}
	if len(owner) != s.parts {
		return fmt.Sprintf("%d of %d partitions assigned", len(owner), s.parts)
	}
	return ""
}

// heldProblem compares what every live instance says it holds with its
// assignment in g: "" when each holds exactly its assignment, is ready,
// and each partition has exactly one holder. unknown reports instances
// whose /readyz has no "partitions held" line.
func (s *suite) heldProblem(g groupView, live []*instance) (problem string, unknown []string) {
	holders := map[int32][]string{}
	var problems []string
	for _, in := range live {
		r, err := in.readyz()
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: GET /readyz: %v", in.name, err))
			continue
		}
		if !r.heldKnown {
			unknown = append(unknown, fmt.Sprintf("%s answered %d %q", in.name, r.code, r.body))
			continue
		}
		for _, p := range r.held {
			holders[p] = append(holders[p], in.name)
		}
		if want := g.members[in.name]; !slices.Equal(r.held, want) {
			problems = append(problems, fmt.Sprintf("%s holds %v, its assignment is %v", in.name, r.held, want))
		} else if !r.ready {
			problems = append(problems, fmt.Sprintf("%s holds its assignment but is not ready: %q", in.name, r.body))
		}
	}
	if len(unknown) == 0 && len(problems) == 0 {
		for p := range int32(s.parts) {
			if len(holders[p]) != 1 {
				problems = append(problems, fmt.Sprintf("partition %d has holders %v", p, holders[p]))
			}
		}
	}
	return strings.Join(problems, "; "), unknown
}

// ownership is the state of one test's ownership checks.
type ownership struct {
	s         *suite
	heldKnown bool // false once an instance answered /readyz without the line
	hold      time.Duration
}

func (s *suite) ownership(tick time.Duration) *ownership {
	return &ownership{s: s, heldKnown: true, hold: 4 * tick}
}

// settle waits (up to within) until the group is stable on exactly the
// live instances and each of them holds exactly its assignment, then
// requires both to stay so for o.hold (a few tick intervals, so that a
// late drop or a stale partition shows). It returns the settled view. A
// failure of the held checks is reported with t.Errorf and the scenario
// goes on (its later checks still tell what happened); a group that does
// not settle stops the test.
func (o *ownership) settle(step string, live []*instance, within time.Duration) groupView {
	s := o.s
	s.t.Helper()
	start := time.Now()
	deadline := start.Add(within)
	var since time.Time
	var first groupView
	last := ""
	heldFailed := false
	for {
		for _, in := range live {
			if in.exited() {
				s.t.Fatalf("%s: %s exited: %v", step, in.name, in.err)
			}
		}
		g, err := s.describeGroup()
		problem := ""
		switch {
		case err != nil:
			problem = "describe group: " + err.Error()
		default:
			problem = s.groupProblem(g, live)
		}
		groupOK := problem == ""
		if groupOK && o.heldKnown && !heldFailed {
			var unknown []string
			problem, unknown = s.heldProblem(g, live)
			if len(unknown) > 0 {
				o.heldKnown = false
				s.t.Errorf("%s: /readyz does not tell the partitions held (no second line \"partitions held: ...\"): %s", step, strings.Join(unknown, "; "))
				problem = ""
			}
		}
		now := time.Now()
		switch {
		case problem == "" && since.IsZero():
			since, first = now, g
		case problem == "" && !g.same(first):
			s.t.Logf("%s: the group changed while settling (%v -> %v); waiting again", step, first, g)
			since, first = now, g
		case problem == "" && now.Sub(since) >= o.hold:
			if o.heldKnown && !heldFailed {
				o.crossCheck(step, live, g)
			}
			s.t.Logf("%s: settled after %v and held for %v: %v", step, since.Sub(start).Round(time.Millisecond), o.hold, g)
			return g
		case problem != "" && !since.IsZero() && groupOK && g.same(first):
			// It was exact and stopped being so while the group stayed
			// the same: a late or flapping holder.
			s.t.Errorf("%s: ownership was exact for %v, then: %s (group %v)", step, now.Sub(since).Round(time.Millisecond), problem, g)
			heldFailed = true
			since = time.Time{}
		case problem != "":
			since = time.Time{}
		}
		if problem != "" {
			last = problem
		}
		if now.After(deadline) {
			if groupOK {
				s.t.Errorf("%s: the group settled (%v) but no instance set held exactly its assignment within %v: %s", step, g, within, last)
				return g
			}
			s.t.Fatalf("%s: the group did not settle on %v within %v: %s", step, names(live), within, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// crossCheck compares the gauge and the last "partitions held" log line
// of each instance with its assignment.
func (o *ownership) crossCheck(step string, live []*instance, g groupView) {
	s := o.s
	s.t.Helper()
	for _, in := range live {
		want := g.members[in.name]
		if v, ok, err := in.heldGauge(); err != nil || !ok {
			s.t.Errorf("%s: %s has no catering_match_partitions_held gauge (err %v)", step, in.name, err)
		} else if int(v) != len(want) {
			s.t.Errorf("%s: %s: catering_match_partitions_held %v, its assignment has %d partitions %v", step, in.name, v, len(want), want)
		}
		if held, ok := in.loggedHeld(); !ok {
			s.t.Errorf("%s: %s logged no \"partitions held\" line", step, in.name)
		} else if !slices.Equal(held, want) {
			s.t.Errorf("%s: %s last logged \"partitions held\" %v, its assignment is %v", step, in.name, held, want)
		}
	}
}

// waitGroup waits until the group is stable on exactly the services
// given, every partition assigned once; it asks no instance what it holds.
func (s *suite) waitGroup(step string, within time.Duration, svcs ...*service) groupView {
	s.t.Helper()
	var live []*instance
	for _, svc := range svcs {
		live = append(live, &instance{service: svc})
	}
	o := &ownership{s: s, heldKnown: false, hold: time.Second}
	return o.settle(step, live, within)
}

func names(live []*instance) []string {
	var out []string
	for _, in := range live {
		out = append(out, in.name)
	}
	return out
}

// orderView is the part of GET /orders/{id} the instances must agree on.
type orderView struct {
	Status  string            `json:"status"`
	Source  string            `json:"source"`
	History []json.RawMessage `json:"history"`
}

// answersAlike requires every live instance to answer GET /orders/{id}
// for each order with the wanted status and the same history, exactly one
// of them from memory (the owner) and the others from the changelog.
func (s *suite) answersAlike(live []*instance, want map[string]string) {
	s.t.Helper()
	bad := 0
	for order, status := range want {
		var views []orderView
		var srcs []string
		for _, in := range live {
			body, code := get(s.t, "http://"+in.addr+"/orders/"+order)
			var v orderView
			if code != http.StatusOK || json.Unmarshal([]byte(body), &v) != nil {
				s.t.Errorf("order %s: %s answered %d %s", order, in.name, code, body)
				bad++
				continue
			}
			views = append(views, v)
			srcs = append(srcs, in.name+":"+v.Source+":"+v.Status)
		}
		memory := 0
		for i, v := range views {
			if v.Source == "memory" {
				memory++
			}
			if v.Status != status || !reflect.DeepEqual(v.History, views[0].History) {
				s.t.Errorf("order %s: answers differ, want status %s: %v; histories: %s vs %s", order, status, srcs, raw(views[i].History), raw(views[0].History))
				bad++
				break
			}
		}
		if len(views) == len(live) && memory != 1 {
			s.t.Errorf("order %s: %d instances answer from memory, want exactly one (the owner): %v", order, memory, srcs)
			bad++
		}
		if bad > 10 {
			s.t.FailNow()
		}
	}
}

func raw(h []json.RawMessage) string {
	var parts []string
	for _, m := range h {
		parts = append(parts, string(m))
	}
	return "[" + strings.Join(parts, ",") + "]"
}

// verifyFold checks that every order's latest process record is the fold
// of its events: its domain entries are exactly the applied events, in
// order, and its decisions are one ConfirmOrderIssued (a matched order),
// one MatchExpired (an order in expired), or none (still pending).
// It returns the number of orders that are not.
func (s *suite) verifyFold(exp *expectation, latest map[string][]byte, expired map[string]bool) (bad int) {
	s.t.Helper()
	for order, p := range exp.orders {
		if len(p.applied) == 0 {
			continue
		}
		v := latest[order]
		if problem := foldProblem(order, p, v, expired[order]); problem != "" {
			s.t.Errorf("%s", problem)
			bad++
		}
		if bad > 10 {
			s.t.FailNow()
		}
	}
	return bad
}

// foldProblem says how record v differs from the fold of order's events
// ("" when it is that fold); wantExpired says the order must have expired.
func foldProblem(order string, p *oracleProcess, v []byte, wantExpired bool) string {
	var pr processRecord
	if v == nil || json.Unmarshal(v, &pr) != nil || pr.Schema != 1 || pr.OrderID != order || len(pr.History) == 0 {
		return fmt.Sprintf("order %s: latest changelog record %q is not its process record", order, v)
	}
	var ids, decisions []string
	for _, h := range pr.History {
		switch h.Type {
		case "ConfirmOrderIssued", "MatchExpired":
			decisions = append(decisions, h.Type)
		default:
			ids = append(ids, h.ID)
		}
	}
	last := pr.History[len(pr.History)-1]
	var want []string
	switch {
	case p.confirmed:
		want = []string{"ConfirmOrderIssued"}
	case wantExpired:
		want = []string{"MatchExpired"}
	}
	ok := slices.Equal(ids, p.applied) && slices.Equal(decisions, want) &&
		(len(want) == 0 || last.Type == want[0]) &&
		(!p.confirmed || (last.ID == expectedCommandID(order) && last.MenuID == p.menu))
	if ok {
		return ""
	}
	return fmt.Sprintf("order %s: latest changelog history %s, want the applied events %v then decisions %v (menu %q)",
		order, historyString(pr), p.applied, want, p.menu)
}

func historyString(pr processRecord) string {
	var parts []string
	for _, h := range pr.History {
		parts = append(parts, fmt.Sprintf("%s(%s,%q,%s)", h.Type, h.ID, h.MenuID, h.At))
	}
	return strings.Join(parts, " ")
}

// newExpectation is an empty oracle expectation for scripted events.
func newExpectation() *expectation {
	return &expectation{commands: map[string]expectedCommand{}, malformed: map[string]int{}, orders: map[string]*oracleProcess{}}
}

// add runs events through the oracle and returns them as records.
func (exp *expectation) add(evs ...genEvent) []input {
	var recs []input
	for _, e := range evs {
		p := exp.orders[e.Order]
		if p == nil {
			p = &oracleProcess{seen: map[string]bool{}, customer: map[string]bool{}, caterer: map[string]string{}}
			exp.orders[e.Order] = p
		}
		if p.apply(e) {
			exp.commands[e.Order] = expectedCommand{menu: e.Menu, causation: e.ID}
		}
		recs = append(recs, e.record())
		exp.records++
	}
	return recs
}

var verifyFlags = struct {
	once      sync.Once
	changelog bool
}{}

// audit runs `catering verify` on the suite's topics with extra flags
// (the service's limits), and with --changelog-topic when this build of
// verify has it, and requires it to pass.
func (s *suite) audit(extra ...string) {
	s.t.Helper()
	verifyFlags.once.Do(func() {
		out, _ := exec.Command(filepath.Join(bins, "catering"), "verify", "--help").CombinedOutput()
		verifyFlags.changelog = strings.Contains(string(out), "--changelog-topic")
	})
	args := []string{"verify", "--events-topic", s.events, "--commands-topic", s.cmds,
		"--dlq-topic", s.dlq, "--group", s.group}
	if verifyFlags.changelog {
		args = append(args, "--changelog-topic", s.log)
	} else {
		s.t.Log("catering verify has no --changelog-topic flag in this build: the changelog is not audited by it")
	}
	out, err := runClient(s.t, append(args, extra...)...)
	require.NoError(s.t, err, "catering verify:\n%s", out)
	require.Contains(s.t, out, "OK")
	s.t.Logf("catering verify:\n%s", out)
}
