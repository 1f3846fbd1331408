package replay

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/catering-match/catering-match/processor"
	"github.com/catering-match/catering-match/state"
)

// checker compares stored processes with what a build's definition makes
// of them. It holds no Kafka: records are given to a partition's
// accumulator (add) and judged when the partition is read (finish).
type checker struct {
	m      *state.Manager[state.Order]
	codec  processor.Codec
	limits state.Limits
	show   int
	rep    *Report
}

func newChecker(def processor.Definition[state.Order], limits state.Limits, show int, rep *Report) (*checker, error) {
	m, err := state.NewManager(def.Process, limits)
	if err != nil {
		return nil, err
	}
	codec := def.Codec
	if codec == nil {
		codec = processor.ProcessRecord // the engine's default
	}
	if rep.Counts == nil {
		rep.Counts = map[Kind]int{}
	}
	return &checker{m: m, codec: codec, limits: limits, show: show, rep: rep}, nil
}

// partitionRecords is what one changelog partition holds: per key its
// latest record, as compaction and a restore keep it, and every record
// this build cannot decode, which stops a restore wherever it stands.
type partitionRecords struct {
	partition int32
	latest    map[string]*latest
	bad       []badRecord
}

type latest struct {
	offset  int64
	tomb    bool
	bad     bool
	history []state.Entry
}

type badRecord struct {
	key    string
	offset int64
	err    error
}

func newPartitionRecords(p int32) *partitionRecords {
	return &partitionRecords{partition: p, latest: map[string]*latest{}}
}

// add takes the next record of the partition, in offset order; a nil
// value is a tombstone. It keeps no slice of key or value (the decoder
// copies what it returns), so the fetch's buffers can go.
func (c *checker) add(pr *partitionRecords, key, value []byte, offset int64) {
	c.rep.Records++
	k := string(key)
	if value == nil {
		pr.latest[k] = &latest{offset: offset, tomb: true}
		return
	}
	_, h, err := c.codec.Decode(key, value)
	if err != nil {
		pr.bad = append(pr.bad, badRecord{key: k, offset: offset, err: err})
		pr.latest[k] = &latest{offset: offset, bad: true}
		return
	}
	pr.latest[k] = &latest{offset: offset, history: h}
}

// finish judges a partition's records and adds what differs to the report.
func (c *checker) finish(pr *partitionRecords) {
	orders := map[string]*Order{}
	order := func(key string) *Order {
		if o := orders[key]; o != nil {
			return o
		}
		l := pr.latest[key]
		o := &Order{Key: key, Partition: pr.partition, Offset: l.offset}
		switch {
		case l.tomb:
			o.Status = "forgotten"
		case l.bad:
			o.Status = "undecodable"
		default:
			o.Status, o.Entries = storedState(l.history).status.String(), len(l.history)
		}
		orders[key] = o
		return o
	}
	for _, b := range pr.bad {
		where := "its latest record"
		switch l := pr.latest[b.key]; {
		case l.offset == b.offset:
		case l.tomb:
			where = fmt.Sprintf("superseded by a tombstone at offset %d, but still read by a restore until compaction removes it", l.offset)
		default:
			where = fmt.Sprintf("superseded by offset %d, but still read by a restore until compaction removes it", l.offset)
		}
		o := order(b.key)
		o.Problems = append(o.Problems, Problem{Kind: KindUndecodable, Offset: b.offset,
			Detail: fmt.Sprintf("the record at offset %d (%s) cannot be decoded: %v; the service's restore stops at it", b.offset, where, b.err)})
	}
	for key, l := range pr.latest {
		if l.tomb || l.bad {
			continue
		}
		c.rep.Processes++
		if ps := c.check(key, l.history); len(ps) > 0 {
			o := order(key)
			o.Problems = append(o.Problems, ps...)
		}
	}
	found := make([]*Order, 0, len(orders))
	for _, o := range orders {
		found = append(found, o)
	}
	slices.SortFunc(found, func(a, b *Order) int { return cmp.Compare(a.Offset, b.Offset) })
	for _, o := range found {
		c.rep.Differing++
		for _, p := range o.Problems {
			c.rep.Counts[p.Kind]++
		}
		if c.show == 0 || len(c.rep.Orders) < c.show {
			c.rep.Orders = append(c.rep.Orders, *o)
		}
	}
}

// check compares one stored process (key, history h) with this build:
// the state it restores, the decisions it makes replaying the history,
// and, for a pending process, what it does with each possible next step.
func (c *checker) check(key string, h []state.Entry) []Problem {
	s := storedState(h)
	p := c.m.Restore(h)
	ps := c.restored(h, s, p)
	if pr := c.decisions(key, h); pr != nil {
		ps = append(ps, *pr)
	}
	if s.status == state.Pending && !c.m.Terminal(p) {
		if pr := c.next(key, h, s, p); pr != nil {
			ps = append(ps, *pr)
		}
	}
	return ps
}

// restored compares the state this build restores (its fold of the
// history) with the state the record implies: status, confirmed menu and
// command id, and each menu's answers.
func (c *checker) restored(h []state.Entry, s *stored, p *state.Process[state.Order]) []Problem {
	var ps []Problem
	got := p.State
	if got.Status != s.status || c.m.Terminal(p) != (s.status != state.Pending) {
		why := "no decision entry"
		if s.decidedAt >= 0 {
			why = fmt.Sprintf("%s at entry %d", h[s.decidedAt].Type, s.decidedAt+1)
		}
		ps = append(ps, Problem{Kind: KindStatus, Detail: fmt.Sprintf("the record is %s (%s); this build restores it as %s (terminal: %t)",
			s.status, why, got.Status, c.m.Terminal(p))})
	}
	if got.ConfirmedMenu() != s.confirmedMenu || got.CommandID() != s.commandID {
		want := "the record has no ConfirmOrderIssued (no confirmed menu, no command id)"
		if s.status == state.Confirmed || s.commandID != "" {
			want = fmt.Sprintf("the record's ConfirmOrderIssued names menu %q, command id %q", s.confirmedMenu, s.commandID)
		}
		ps = append(ps, Problem{Kind: KindConfirmedMenu, Detail: fmt.Sprintf("%s; this build restores menu %q, command id %q", want, got.ConfirmedMenu(), got.CommandID())})
	}
	ids := slices.Clone(s.menuOrder)
	for _, m := range got.Menus {
		if _, ok := s.menus[m.ID]; !ok {
			ids = append(ids, m.ID)
		}
	}
	var diffs []string
	for _, id := range ids {
		want := s.menu(id)
		m, _ := got.Menu(id)
		if m.Customer != want.customer || m.Caterer != want.caterer {
			diffs = append(diffs, fmt.Sprintf("menu %q: the record's rules give customer %s, caterer %s; this build folds customer %s, caterer %s",
				id, yesNo(want.customer), want.caterer, yesNo(m.Customer), m.Caterer))
		}
	}
	if len(diffs) > 0 {
		ps = append(ps, Problem{Kind: KindMenus, Detail: diffs[0] + more(len(diffs)-1, "menu", "menus")})
	}
	return ps
}

// decision is a decision entry and its place: after the first pos entries
// of the stored history.
type decision struct {
	pos   int
	entry state.Entry
}

// decisions replays the stored history through this build as the service
// would have processed it: each event applied at its recorded processing
// time, and at each stored decision entry a tick at its time (an expiry;
// a match is made by the event before it). The replay stops at the first
// decision of either side: what comes after a decision is not processed.
// It returns the first difference: a stored event this build would not
// apply, or a decision it would not make, would make differently, or would
// make where the history has none.
func (c *checker) decisions(key string, h []state.Entry) *Problem {
	firstStored := func(from int) *decision {
		for j := from; j < len(h); j++ {
			if isDecision(h[j].Type) {
				return &decision{j, h[j]}
			}
		}
		return nil
	}
	var p *state.Process[state.Order]
	for i, e := range h {
		if p != nil {
			if adv := c.m.Advance(key, p, e.At.Time()); adv != nil {
				return compareDecisions(h, firstStored(i), &decision{i, adv.Decisions[0]})
			}
		}
		if isDecision(e.Type) {
			return compareDecisions(h, &decision{i, e}, nil)
		}
		out := c.m.Apply(p, key, e, e.At.Time())
		if out.Result != state.Applied {
			return &Problem{Kind: KindEventRefused, Detail: fmt.Sprintf("entry %d (%s) is in the history, but this build would leave it out: %s",
				i+1, entryText(e), refusal(out.Result))}
		}
		p = out.Process
		if len(out.Decisions) > 0 {
			return compareDecisions(h, firstStored(i+1), &decision{i + 1, out.Decisions[0]})
		}
	}
	return nil
}

func compareDecisions(h []state.Entry, stored, built *decision) *Problem {
	switch {
	case stored == nil && built == nil:
		return nil
	case built == nil:
		return &Problem{Kind: KindDecisionUnexpected, Detail: fmt.Sprintf("the history records %s %s; this build would not record it (no decision by then)",
			decisionText(stored.entry), place(h, stored.pos))}
	case stored == nil:
		return &Problem{Kind: KindDecisionMissing, Detail: fmt.Sprintf("this build would record %s %s; the history has no decision",
			decisionText(built.entry), place(h, built.pos))}
	case stored.pos == built.pos && sameDecision(stored.entry, built.entry):
		return nil
	}
	return &Problem{Kind: KindDecisionDiffers, Detail: fmt.Sprintf("the history records %s %s; this build would record %s %s",
		decisionText(stored.entry), place(h, stored.pos), decisionText(built.entry), place(h, built.pos))}
}

// step is one possible next thing to happen to a pending process.
type step struct {
	typ, menu string // an event; typ "" for a tick
	at        time.Time
	what      string
}

// next asks what this build does with a pending process p, restored from
// the stored history h, on each step that could come next, and compares it
// with what the contract's rules do with the stored record s: each event
// type of each menu the history mentions and of one it does not, at the
// processing time of the history's last entry, and a tick an instant
// before and exactly at the deadline.
func (c *checker) next(key string, h []state.Entry, s *stored, p *state.Process[state.Order]) *Problem {
	menus := slices.Clone(s.menuOrder)
	for _, m := range p.State.Menus {
		if !slices.Contains(menus, m.ID) {
			menus = append(menus, m.ID)
		}
	}
	unmentioned := "replay-unmentioned-menu"
	for slices.Contains(menus, unmentioned) {
		unmentioned += "-"
	}
	menus = append(menus, unmentioned)
	probeID := "replay-next-event"
	for slices.ContainsFunc(h, func(e state.Entry) bool { return e.ID == probeID }) {
		probeID += "-"
	}
	last := h[len(h)-1].At.Time()
	var steps []step
	for _, m := range menus {
		for _, typ := range []string{state.CustomerConfirmedMenu, state.CatererConfirmedMenu, state.CatererDeclinedMenu} {
			steps = append(steps, step{typ: typ, menu: m, at: last, what: fmt.Sprintf("%s for menu %q next", typ, m)})
		}
	}
	dl := deadline(h, c.limits)
	steps = append(steps,
		step{at: dl.Add(-time.Nanosecond), what: "a tick an instant before the deadline " + stamp(dl)},
		step{at: dl, what: "a tick at the deadline " + stamp(dl)})

	var first string
	differ := 0
	for _, st := range steps {
		var want, got outcome
		if st.typ == "" {
			want = storedTick(key, h, c.limits, st.at)
			got = outcome{result: state.Applied}
			if adv := c.m.Advance(key, p, st.at); adv != nil {
				got.decisions = adv.Decisions
			}
		} else {
			want = storedNext(key, h, s, c.limits, st.typ, st.menu, st.at)
			out := c.m.Apply(p, key, state.Entry{ID: probeID, Type: st.typ, Ref: st.menu}, st.at)
			got = outcome{result: out.Result, decisions: out.Decisions}
		}
		if sameOutcome(want, got) {
			continue
		}
		differ++
		if first == "" {
			first = fmt.Sprintf("on %s, the record's rules give: %s; this build: %s", st.what, want.describe(st.typ == ""), got.describe(st.typ == ""))
		}
	}
	if differ == 0 {
		return nil
	}
	return &Problem{Kind: KindNextEvent, Detail: fmt.Sprintf("%s (%d of %d possible next steps differ)", first, differ, len(steps))}
}

func sameOutcome(a, b outcome) bool {
	return a.result == b.result && slices.EqualFunc(a.decisions, b.decisions, sameDecision)
}

func sameDecision(a, b state.Entry) bool { return a.Type == b.Type && a.ID == b.ID && a.Ref == b.Ref }

func (o outcome) describe(tick bool) string {
	var ds []string
	for _, d := range o.decisions {
		ds = append(ds, decisionText(d))
	}
	decided := strings.Join(ds, " and ")
	switch {
	case tick && decided == "":
		return "no decision"
	case tick:
		return decided
	case o.result == state.Applied && decided == "":
		return "the event applied, no decision"
	case o.result == state.Applied:
		return "the event applied, then " + decided
	case decided != "":
		return decided + " first, then the event " + refusal(o.result)
	}
	return "the event " + refusal(o.result)
}

func refusal(r state.Result) string {
	switch r {
	case state.SkippedOtherType:
		return "skipped (no handler for its type)"
	case state.SkippedDuplicate:
		return "skipped as a duplicate"
	case state.SkippedTerminal:
		return "skipped (the process is finished)"
	case state.RejectedHistoryFull:
		return "refused (history full)"
	case state.Applied:
		return "applied"
	}
	return r.String()
}

func decisionText(e state.Entry) string {
	switch e.Type {
	case state.ConfirmOrderIssued:
		return fmt.Sprintf("ConfirmOrderIssued for menu %q (id %s)", e.Ref, e.ID)
	case state.MatchExpired:
		return fmt.Sprintf("MatchExpired (id %s)", e.ID)
	}
	return fmt.Sprintf("%s (id %q, menu %q)", e.Type, e.ID, e.Ref)
}

func entryText(e state.Entry) string {
	return fmt.Sprintf("%s for menu %q, id %q, at %s", e.Type, e.Ref, e.ID, stamp(e.At.Time()))
}

// place says where a decision stands: after the first pos entries.
func place(h []state.Entry, pos int) string {
	if pos == 0 {
		return "before the first entry"
	}
	return fmt.Sprintf("after entry %d (%s)", pos, entryText(h[pos-1]))
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func more(n int, one, many string) string {
	switch n {
	case 0:
		return ""
	case 1:
		return fmt.Sprintf(" (and 1 more %s)", one)
	}
	return fmt.Sprintf(" (and %d more %s)", n, many)
}
