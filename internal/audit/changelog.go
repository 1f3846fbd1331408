package audit

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// The changelog check. The latest record of each key in each changelog
// partition (the one compaction keeps, and the one a restore ends with) is
// the whole truth about that order's process there (docs/contract.md, "Process
// record"). It must be what the rules make of the order's events in the
// events partition of the same number: the events the process applied,
// with their ids, in partition order, none missing, and its decision, if
// any, last; a tombstone only once retention ran out for a decided
// process; no record only where none is due or a tombstone was due.
//
// The auditor decodes records itself (DecodeProcessRecord) rather than
// through topics.DecodeProcess: the service's decoder, a hand-written fast
// path beside json.Unmarshal, is part of what is audited, and a fault its
// encoder and decoder share (a field written and read under the wrong
// name, an entry dropped by both) would be invisible to a check that read
// the changelog through it. The format is the contract's, written down afresh.

// The process's own decision entries (docs/contract.md, "Process record").
const (
	ConfirmOrderIssued = "ConfirmOrderIssued"
	MatchExpired       = "MatchExpired"
)

// ProcessSchema is the process record schema this auditor reads.
const ProcessSchema = 1

// Entry is one entry of a process record's history.
type Entry struct {
	ID, Type, MenuID string
	At               time.Time
}

// ProcessRecord is a decoded changelog value.
type ProcessRecord struct {
	OrderID string
	History []Entry
}

// DecodeProcessRecord decodes a changelog value, or returns why it is not a
// process record: the value is not a JSON object; schema is not 1;
// order_id is missing, not a string or differs from the key; history is
// not a non-empty array of objects each with a non-empty string id and
// type, a string or absent menu_id and an RFC 3339 at. Unknown fields are
// ignored.
func DecodeProcessRecord(key, value []byte) (ProcessRecord, string) {
	var rec ProcessRecord
	trimmed := bytes.Trim(value, jsonSpace)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return rec, "value is not a JSON object"
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(trimmed, &fields); err != nil {
		return rec, "value is not a JSON object: " + err.Error()
	}
	raw, ok := fields["schema"]
	var schema int64
	switch {
	case !ok || string(raw) == "null":
		return rec, "schema is missing"
	case json.Unmarshal(raw, &schema) != nil:
		return rec, fmt.Sprintf("schema %s is not an integer", clip(string(raw)))
	case schema != ProcessSchema:
		return rec, fmt.Sprintf("schema %d: this verify reads schema %d", schema, ProcessSchema)
	}
	var reason string
	if rec.OrderID, reason = field(fields, "order_id", true, 0); reason != "" {
		return rec, reason
	}
	if rec.OrderID != string(key) {
		return rec, fmt.Sprintf("order_id %s differs from key %s", quoteID(rec.OrderID), quoteID(string(key)))
	}
	var items []json.RawMessage
	if raw, ok := fields["history"]; !ok || string(raw) == "null" {
		return rec, "history is missing"
	} else if json.Unmarshal(raw, &items) != nil {
		return rec, "history is not an array"
	}
	if len(items) == 0 {
		return rec, "history is empty"
	}
	for i, item := range items {
		var ef map[string]json.RawMessage
		if len(item) == 0 || item[0] != '{' || json.Unmarshal(item, &ef) != nil {
			return rec, fmt.Sprintf("history[%d] is not a JSON object", i)
		}
		var e Entry
		var at string
		for _, f := range []struct {
			name     string
			dst      *string
			required bool
		}{{"id", &e.ID, true}, {"type", &e.Type, true}, {"menu_id", &e.MenuID, false}, {"at", &at, true}} {
			if *f.dst, reason = field(ef, f.name, f.required, 0); reason != "" {
				return rec, fmt.Sprintf("history[%d]: %s", i, reason)
			}
		}
		t, err := time.Parse(time.RFC3339Nano, at)
		if err != nil {
			return rec, fmt.Sprintf("history[%d]: at %s is not an RFC 3339 time", i, quoteID(at))
		}
		e.At = t
		rec.History = append(rec.History, e)
	}
	return rec, ""
}

// changeKey is where compaction keeps one record: a key in a partition.
type changeKey struct {
	partition int32
	key       string
}

// changeRec is the latest changelog record of a key in a partition.
type changeRec struct {
	coord
	key  string
	tomb bool // a tombstone: the process was forgotten
	rec  ProcessRecord
	bad  string // why the value is not a process record
}

// AddChangelog adds a record of the changelog (read_committed). Add each
// partition's records in offset order: a key's later record replaces its
// earlier one, as compaction and a restore do.
func (a *Auditor) AddChangelog(r *kgo.Record) {
	a.clRead++
	a.seen(r.Timestamp)
	k := changeKey{r.Partition, string(r.Key)}
	if old := a.changelog[k]; old != nil && old.offset > r.Offset {
		return
	}
	c := &changeRec{coord: coord{r.Partition, r.Offset}, key: string(r.Key), tomb: r.Value == nil}
	if !c.tomb {
		c.rec, c.bad = DecodeProcessRecord(r.Key, r.Value)
	}
	a.changelog[k] = c
}

// SetNow sets when the changelog was read: the service's ticks (expiry,
// retention) may have written records up to then. The latest timestamp
// of any record added counts if later.
func (a *Auditor) SetNow(t time.Time) { a.now = t }

// SkipChangelog says the changelog is not audited, and why; the report
// shows it.
func (a *Auditor) SkipChangelog(reason string) { a.clSkipped = reason }

func (a *Auditor) auditsChangelog() bool { return a.cfg.ChangelogTopic != "" }

func (a *Auditor) seen(t time.Time) {
	if t.After(a.latest) {
		a.latest = t
	}
}

// clock is the time up to which the service's ticks may have written.
func (a *Auditor) clock() time.Time {
	if a.latest.After(a.now) {
		return a.latest
	}
	return a.now
}

func (a *Auditor) clAt(c coord) string { return at(a.cfg.ChangelogTopic, c) }

// changelogRecords judges the latest changelog records that no group of
// events explains (misplaced, invalid, for an order without events), and
// counts them. Problems go to their orders.
func (a *Auditor) changelogRecords(rep *Report, problems map[string][]string) {
	keys := make([]changeKey, 0, len(a.changelog))
	for k := range a.changelog {
		keys = append(keys, k)
	}
	sortChangeKeys(keys)
	c := &rep.Counts
	for _, k := range keys {
		cr := a.changelog[k]
		if cr.tomb {
			c.ChangelogTombstones++
		} else {
			c.ChangelogLive++
		}
		where := a.clAt(cr.coord)
		if k.key == "" {
			if !cr.tomb {
				rep.Offending = append(rep.Offending, Offense{Record: where, sortKey: [3]int64{3, int64(cr.partition), cr.offset},
					Problems: []string{"changelog record " + where + " has an empty key: it belongs to no order"}})
			}
			continue
		}
		o := a.order(k.key)
		if cr.bad != "" {
			problems[k.key] = append(problems[k.key], fmt.Sprintf("changelog: latest record at %s is not a process record: %s", where, cr.bad))
			continue
		}
		if cr.tomb || groupAt(o, k.partition) != nil {
			continue // judged with the order's events (evaluate)
		}
		switch {
		case len(o.groups) > 0:
			var ps []string
			for _, g := range o.groups {
				ps = append(ps, fmt.Sprint(g.partition))
			}
			problems[k.key] = append(problems[k.key], fmt.Sprintf("changelog: record at %s is in partition %d, but the order's events are in %s partition %s: a record belongs to its events' partition number",
				where, k.partition, a.cfg.EventsTopic, strings.Join(ps, ", ")))
		case a.starts[k.partition] > 0:
			// Its events may be among those deleted: not judged.
		default:
			problems[k.key] = append(problems[k.key], fmt.Sprintf("changelog: record at %s holds a process, but the order has no well-formed events in %s", where, a.cfg.EventsTopic))
		}
	}
}

func sortChangeKeys(ks []changeKey) {
	slices.SortFunc(ks, func(x, y changeKey) int {
		if c := strings.Compare(x.key, y.key); c != 0 {
			return c
		}
		return cmp.Compare(x.partition, y.partition)
	})
}

func groupAt(o *orderRec, partition int32) *group {
	for _, g := range o.groups {
		if g.partition == partition {
			return g
		}
	}
	return nil
}

// changelogProblem judges the latest changelog record of one group of the
// order (none: not in the changelog) against one outcome. The record must
// be the process's state after some prefix of the group's steps that holds
// at least every processed one (the service may have gone on past the
// events snapshot), with what the ticks may have added since. It returns
// "" when it is, else one line saying what is wrong, judged against the
// prefix that explains the most.
func (a *Auditor) changelogProblem(o *orderRec, g *group, out *Outcome) string {
	if a.starts[g.partition] > 0 {
		return "" // its first events may be deleted: not judged (see the warning)
	}
	rec := a.changelog[changeKey{g.partition, o.id}]
	if rec != nil && rec.bad != "" {
		return "" // reported as it is (changelogRecords)
	}
	processed := 0
	for _, e := range g.recs {
		if e.processed {
			processed++
		}
	}
	var best []string
	for k := len(g.steps); k >= processed; k-- {
		p := a.judge(o, g, out, rec, k)
		if len(p) == 0 {
			return ""
		}
		if best == nil || len(p) < len(best) {
			best = p
		}
	}
	return "changelog: " + strings.Join(best, "; ")
}

// judge compares rec with the state of the group's last process after its
// first k steps. The first line says which record, then what is wrong.
func (a *Auditor) judge(o *orderRec, g *group, out *Outcome, rec *changeRec, k int) []string {
	var proc *Proc
	again := "" // for a process started again after retention
	for i := range out.Procs {
		if out.Procs[i].Start < k {
			proc = &out.Procs[i]
			if i > 0 {
				st := g.steps[proc.Start]
				again = fmt.Sprintf(" (the order's process %d, started after the previous one's retention by event %s at %s)", i+1, quoteID(st.ID), a.evAt(coord{st.Partition, st.Offset}))
			}
		}
	}
	var exp []int
	status := ""
	var deadline, forgetAt time.Time
	canExpire, canForget := false, false
	if proc != nil {
		exp, status = proc.At(k)
		now, tol := a.clock(), a.cfg.Tolerance
		reached := func(t time.Time) bool { return !now.Add(tol).Before(t) }
		deadline = proc.First.Add(a.cfg.MatchTimeout)
		if status == statusPending {
			canExpire = reached(deadline)
			forgetAt = deadline.Add(a.cfg.Retention)
		} else {
			forgetAt = proc.Ended.Add(a.cfg.Retention)
		}
		canForget = reached(forgetAt)
	}
	stamp := func(t time.Time) string { return t.UTC().Format(time.RFC3339) }

	if rec == nil || rec.tomb {
		if proc == nil || canForget {
			return nil
		}
		head := fmt.Sprintf("no record in %s partition %d for the order's %d applied events", a.cfg.ChangelogTopic, g.partition, len(exp))
		if rec != nil {
			head = "latest record at " + a.clAt(rec.coord) + " is a tombstone"
		}
		first := g.steps[proc.Applied[0]]
		switch {
		case status == statusPending && !canExpire:
			if rec != nil {
				head += " of a pending, non-expired process"
			} else {
				head += ", but the process is pending"
			}
			return []string{fmt.Sprintf("%s (first event %s at %s, deadline %s)", head, quoteID(first.ID), a.evAt(coord{first.Partition, first.Offset}), stamp(deadline))}
		case status == statusPending:
			return []string{fmt.Sprintf("%s, but the process expired at its deadline %s and is kept until %s (retention)", head, stamp(deadline), stamp(forgetAt))}
		case status == statusConfirmed:
			m := g.steps[proc.Decided]
			return []string{fmt.Sprintf("%s, but the process was confirmed by event %s at %s and is kept until %s (retention)", head, quoteID(m.ID), a.evAt(coord{m.Partition, m.Offset}), stamp(forgetAt))}
		default:
			return []string{fmt.Sprintf("%s, but the process expired at %s and is kept until %s (retention)", head, stamp(proc.Ended), stamp(forgetAt))}
		}
	}

	h := rec.rec.History
	var domain, decisions []int
	recStatus := statusPending
	for i, e := range h {
		switch e.Type {
		case ConfirmOrderIssued:
			decisions = append(decisions, i)
			recStatus = statusConfirmed
		case MatchExpired:
			decisions = append(decisions, i)
			if recStatus == statusPending {
				recStatus = statusExpired
			}
		default:
			domain = append(domain, i)
		}
	}
	var details []string
	statusProblem := ""
	cmds := jsonCommands(o)
	switch {
	case proc == nil:
		statusProblem = fmt.Sprintf("holds a process, but the rules apply none of the order's events in %s partition %d", a.cfg.EventsTopic, g.partition)
	case recStatus == status:
		if status != statusConfirmed {
			break
		}
		d := h[decisions[0]]
		if want := CommandID(o.id); d.ID != want {
			details = append(details, fmt.Sprintf("its ConfirmOrderIssued has id %s, want the command id %s", quoteID(d.ID), want))
		}
		if d.MenuID != proc.MenuID {
			details = append(details, fmt.Sprintf("its ConfirmOrderIssued names menu %s, but the match is on menu %s", quoteID(d.MenuID), quoteID(proc.MenuID)))
		}
		if len(cmds) == 0 && g.recs[proc.Decided].processed {
			statusProblem = "is confirmed (ConfirmOrderIssued) but no ConfirmOrder exists"
		}
	case recStatus == statusExpired && status == statusPending && canExpire:
		// The tick expired it after the last step.
	default:
		statusProblem = a.statusMismatch(o, g, proc, recStatus, status, cmds, deadline) + again
	}
	details = append(a.entryProblems(o, g, out, proc, exp, h, domain, k), details...)
	switch {
	case len(decisions) > 1:
		types := make([]string, len(decisions))
		for i, d := range decisions {
			types[i] = h[d].Type
		}
		details = append(details, fmt.Sprintf("%d decision entries (%s): a process decides once", len(decisions), strings.Join(types, ", ")))
	case len(decisions) == 1 && decisions[0] != len(h)-1:
		details = append(details, fmt.Sprintf("entries after its %s: a decided process applies nothing more", h[decisions[0]].Type))
	}
	if statusProblem == "" && len(details) == 0 {
		return nil
	}
	head := "latest record at " + a.clAt(rec.coord)
	if statusProblem != "" {
		return append([]string{head + " " + statusProblem}, details...)
	}
	details[0] = head + ": " + details[0]
	return details
}

var statusWords = map[string]string{
	statusPending:   "pending (no decision entry)",
	statusConfirmed: "confirmed (ConfirmOrderIssued)",
	statusExpired:   "expired (MatchExpired)",
}

// statusMismatch says why the record's status is not the process's.
func (a *Auditor) statusMismatch(o *orderRec, g *group, proc *Proc, recStatus, status string, cmds []*commandRec, deadline time.Time) string {
	is := "is " + statusWords[recStatus]
	stamp := deadline.UTC().Format(time.RFC3339)
	switch status {
	case statusConfirmed:
		if len(cmds) > 0 {
			return fmt.Sprintf("%s but ConfirmOrder exists at %s", is, a.cmdList(cmds))
		}
		m := g.steps[proc.Decided]
		return fmt.Sprintf("%s but the events form a match (completed by event %s at %s)", is, quoteID(m.ID), a.evAt(coord{m.Partition, m.Offset}))
	case statusExpired:
		late := g.steps[proc.Decided]
		what := fmt.Sprintf("but the process expired at its deadline %s (event %s at %s came after it)", stamp, quoteID(late.ID), a.evAt(coord{late.Partition, late.Offset}))
		if recStatus == statusConfirmed && len(cmds) == 0 {
			what += ", and no ConfirmOrder exists"
		}
		return is + " " + what
	}
	// pending
	if recStatus == statusConfirmed {
		if len(cmds) == 0 {
			return is + " but no ConfirmOrder exists (and the events do not form a match)"
		}
		return is + " but the events do not form a match"
	}
	first := g.steps[proc.Applied[0]]
	return fmt.Sprintf("%s before its deadline %s (first event %s at %s)", is, stamp, quoteID(first.ID), a.evAt(coord{first.Partition, first.Offset}))
}

// maxMissingShown bounds the missing events one line lists.
const maxMissingShown = 5

// entryProblems compares the record's domain entries with the events the
// process applied in the first k steps (exp, step indices).
func (a *Auditor) entryProblems(o *orderRec, g *group, out *Outcome, proc *Proc, exp []int, h []Entry, domain []int, k int) []string {
	pos := make(map[string]int, len(exp)) // event id -> index in exp
	for j, si := range exp {
		pos[g.steps[si].ID] = j
	}
	var p, missing []string
	count := make([]int, len(exp))
	last, outOfOrder := -1, ""
	for _, di := range domain {
		e := h[di]
		j, ok := pos[e.ID]
		if !ok {
			p = append(p, a.foreignEntry(o, g, out, proc, e, k))
			continue
		}
		st := g.steps[exp[j]]
		if st.Type != e.Type || st.MenuID != e.MenuID {
			p = append(p, fmt.Sprintf("entry %s is %s of menu %s, but the event at %s is %s of menu %s",
				quoteID(e.ID), e.Type, quoteID(e.MenuID), a.evAt(coord{st.Partition, st.Offset}), st.Type, quoteID(st.MenuID)))
		}
		if count[j]++; count[j] == 2 {
			p = append(p, fmt.Sprintf("event %s is recorded more than once", quoteID(e.ID)))
		}
		if last >= 0 && j < last && outOfOrder == "" {
			prev := g.steps[exp[last]]
			outOfOrder = fmt.Sprintf("entries out of partition order: %s (%s) is recorded before %s (%s)",
				quoteID(prev.ID), a.evAt(coord{prev.Partition, prev.Offset}), quoteID(st.ID), a.evAt(coord{st.Partition, st.Offset}))
		}
		last = j
	}
	if outOfOrder != "" {
		p = append(p, outOfOrder)
	}
	n := 0
	for j, si := range exp {
		if count[j] > 0 {
			continue
		}
		if n++; n <= maxMissingShown {
			st := g.steps[si]
			missing = append(missing, fmt.Sprintf("missing event %s (%s) at %s", quoteID(st.ID), st.Type, a.evAt(coord{st.Partition, st.Offset})))
		}
	}
	if n > maxMissingShown {
		missing = append(missing, fmt.Sprintf("and %d more missing events", n-maxMissingShown))
	}
	return append(missing, p...)
}

// foreignEntry says why an entry is not one of the events the process
// applied.
func (a *Auditor) foreignEntry(o *orderRec, g *group, out *Outcome, proc *Proc, e Entry, k int) string {
	what := fmt.Sprintf("entry %s (%s)", quoteID(e.ID), e.Type)
	found := -1
	for i, st := range g.steps {
		if st.ID != e.ID {
			continue
		}
		if found < 0 {
			found = i
		}
		if i < k && out.Results[i] == Applied && (proc == nil || i < proc.Start) {
			return fmt.Sprintf("%s belongs to an earlier process of the order, forgotten after retention (event at %s)", what, a.evAt(coord{st.Partition, st.Offset}))
		}
	}
	if found >= 0 {
		st := g.steps[found]
		if found >= k {
			return fmt.Sprintf("%s: its event at %s is after the events processed", what, a.evAt(coord{st.Partition, st.Offset}))
		}
		return fmt.Sprintf("%s: the rules do not apply its event at %s (%s)", what, a.evAt(coord{st.Partition, st.Offset}), out.Results[found])
	}
	for _, ev := range a.byEventID[e.ID] {
		if ev.ev.OrderID != o.id {
			return fmt.Sprintf("%s is an event of order %s (at %s): an entry from another order", what, quoteID(ev.ev.OrderID), a.evAt(ev.coord))
		}
		if ev.partition != g.partition {
			return fmt.Sprintf("%s is an event of the order in partition %d (at %s), not %d", what, ev.partition, a.evAt(ev.coord), g.partition)
		}
	}
	return fmt.Sprintf("%s is no event of %s", what, a.cfg.EventsTopic)
}

func jsonCommands(o *orderRec) []*commandRec {
	var out []*commandRec
	for _, c := range o.commands {
		if c.json {
			out = append(out, c)
		}
	}
	return out
}

func (a *Auditor) cmdList(cs []*commandRec) string {
	s := make([]string, len(cs))
	for i, c := range cs {
		s[i] = a.cmdAt(c.coord)
	}
	return strings.Join(s, ", ")
}

// changelogViews shows an order's latest changelog records in its offense.
func (a *Auditor) changelogViews(id string) []ChangelogView {
	if !a.auditsChangelog() {
		return nil
	}
	var keys []changeKey
	for k := range a.changelog {
		if k.key == id {
			keys = append(keys, k)
		}
	}
	sortChangeKeys(keys)
	var out []ChangelogView
	for _, k := range keys {
		cr := a.changelog[k]
		v := ChangelogView{Record: a.clAt(cr.coord), Partition: cr.partition, Offset: cr.offset, Tombstone: cr.tomb, Invalid: cr.bad}
		for i, e := range cr.rec.History {
			if i == maxEventsShown {
				v.MoreEntries = len(cr.rec.History) - i
				break
			}
			v.History = append(v.History, EntryView{Type: e.Type, ID: e.ID, MenuID: e.MenuID})
		}
		out = append(out, v)
	}
	return out
}

// ChangelogView is an offending order's latest changelog record.
type ChangelogView struct {
	Record      string      `json:"record"`
	Partition   int32       `json:"partition"`
	Offset      int64       `json:"offset"`
	Tombstone   bool        `json:"tombstone,omitempty"`
	Invalid     string      `json:"invalid,omitempty"`
	History     []EntryView `json:"history,omitempty"`
	MoreEntries int         `json:"more_entries,omitempty"`
}

// EntryView is one entry of a process record.
type EntryView struct {
	Type   string `json:"type"`
	ID     string `json:"id"`
	MenuID string `json:"menu_id,omitempty"`
}
