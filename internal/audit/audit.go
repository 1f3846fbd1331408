// Package audit checks, from the outside, that catering-match kept
// the contract's guarantees: it reads the events, the commands, the dead
// letters and (optionally) the changelog, computes what the rules call for
// with its own model, and compares.
//
// It shares no code with the service (not state/, topics/ or processor/):
// a bug in the service's decoder or fold would otherwise hide from its
// auditor. The rules it implements are the contract's, written down afresh.
//
// Processing time, on which the deadline (rule 6) and retention (rule 7)
// depend, is not on the topics: the auditor takes an event's processing time
// to be its record timestamp (the latest seen so far in its partition, since
// a partition is processed in order), and an order whose outcome would
// change if one of its events fell on the other side of a boundary within
// Limits.Tolerance is uncertain: reported, not a violation, unless the
// topics agree with none of its possible outcomes.
package audit

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// ReasonHistoryFull is the dlq-reason docs/contract.md gives for rule 8.
const ReasonHistoryFull = "process history full"

// The headers the service adds to a dead letter.
const (
	HeaderReason    = "dlq-reason"
	HeaderTopic     = "dlq-topic"
	HeaderPartition = "dlq-partition"
	HeaderOffset    = "dlq-offset"
)

// Config says what the audited service was configured with.
type Config struct {
	// Topic names, for messages; the DLQ's dlq-topic must name EventsTopic.
	EventsTopic, CommandsTopic, DLQTopic string
	// ChangelogTopic, when set, turns on the changelog check: add its
	// records with AddChangelog. Empty: the changelog is not audited.
	ChangelogTopic string
	Limits
}

// Auditor collects the records of the topics and checks them. Add the
// events and the changelog records of each partition in offset order;
// commands and dead letters in any order. It is not safe for concurrent
// use.
type Auditor struct {
	cfg Config

	events     []*eventRec
	byCoord    map[coord]*eventRec
	lastAt     map[int32]time.Time // running max of record timestamps
	starts     map[int32]int64     // events partitions' first offsets
	orders     map[string]*orderRec
	commands   []*commandRec
	dead       []*deadRec
	unprocessd int

	changelog map[changeKey]*changeRec // latest record per partition and key
	clRead    int                      // changelog records read
	clSkipped string                   // why the changelog is not audited
	now       time.Time                // when the changelog was read (SetNow)
	latest    time.Time                // latest record timestamp seen
	byEventID map[string][]*eventRec   // well-formed events by id, for messages
}

// New returns an Auditor for a service configured as cfg.
func New(cfg Config) (*Auditor, error) {
	if err := cfg.Limits.Validate(); err != nil {
		return nil, err
	}
	return &Auditor{
		cfg: cfg, byCoord: map[coord]*eventRec{}, lastAt: map[int32]time.Time{},
		starts: map[int32]int64{}, orders: map[string]*orderRec{}, changelog: map[changeKey]*changeRec{},
	}, nil
}

type coord struct {
	partition int32
	offset    int64
}

type eventRec struct {
	coord
	key       []byte
	valueSum  [32]byte
	headerSum [32]byte
	at        time.Time
	ev        Event
	malformed string // reason; "" for a well-formed event
	processed bool   // before the end the service is known to have processed
	dead      []*deadRec
}

type orderRec struct {
	id       string
	groups   []*group    // one per events partition holding well-formed events of the order
	records  []*eventRec // every record keyed by the order, for the report
	commands []*commandRec
}

// group is one process line: an order's well-formed events in one partition.
type group struct {
	partition int32
	steps     []Step
	recs      []*eventRec
}

type commandRec struct {
	coord
	key      []byte
	cmd      Command
	json     bool     // the value is a JSON object
	problems []string // fields missing or not strings
	header   []string // values of its "type" headers
}

type deadRec struct {
	coord
	key         []byte
	valueSum    [32]byte
	headerSum   [32]byte // of the headers other than the service's dlq-* ones
	reason      string
	src         coord
	srcTopic    string
	headerError string
}

// SetEventsStart records where an events partition starts (its log start
// offset): dead letters of records before it cannot be checked.
func (a *Auditor) SetEventsStart(partition int32, offset int64) { a.starts[partition] = offset }

// AddEvent adds an input record. processed says the service is known to
// have processed it: a record it may not have reached yet need not have its
// command or dead letter, but any it has must be right.
func (a *Auditor) AddEvent(r *kgo.Record, processed bool) {
	at := r.Timestamp
	if last, ok := a.lastAt[r.Partition]; ok && last.After(at) {
		at = last // processed in order: not before any earlier record's time
	}
	a.lastAt[r.Partition] = at
	a.seen(at)
	e := &eventRec{
		coord: coord{r.Partition, r.Offset}, key: r.Key, valueSum: sha256.Sum256(r.Value),
		headerSum: headerSum(r.Headers), at: at, processed: processed,
	}
	e.ev, e.malformed = DecodeEvent(r.Key, r.Value)
	if !processed {
		a.unprocessd++
	}
	a.events = append(a.events, e)
	a.byCoord[e.coord] = e
	if len(r.Key) == 0 {
		return // belongs to no order
	}
	o := a.order(string(r.Key))
	o.records = append(o.records, e)
	if e.malformed != "" {
		return
	}
	var g *group
	for _, x := range o.groups {
		if x.partition == r.Partition {
			g = x
		}
	}
	if g == nil {
		g = &group{partition: r.Partition}
		o.groups = append(o.groups, g)
	}
	g.steps = append(g.steps, Step{Event: e.ev, At: at, Partition: r.Partition, Offset: r.Offset})
	g.recs = append(g.recs, e)
}

func (a *Auditor) order(id string) *orderRec {
	o := a.orders[id]
	if o == nil {
		o = &orderRec{id: id}
		a.orders[id] = o
	}
	return o
}

// AddCommand adds a record of the commands topic (read_committed).
func (a *Auditor) AddCommand(r *kgo.Record) {
	a.seen(r.Timestamp)
	c := &commandRec{coord: coord{r.Partition, r.Offset}, key: r.Key}
	c.cmd, c.problems, c.json = DecodeCommand(r.Value)
	for _, h := range r.Headers {
		if h.Key == "type" {
			c.header = append(c.header, string(h.Value))
		}
	}
	a.commands = append(a.commands, c)
}

// AddDeadLetter adds a record of the DLQ.
func (a *Auditor) AddDeadLetter(r *kgo.Record) {
	d := &deadRec{coord: coord{r.Partition, r.Offset}, key: r.Key, valueSum: sha256.Sum256(r.Value)}
	// The service appends its four headers after the original record's
	// own: the last of each name is the service's (a record re-driven from
	// a DLQ may carry older ones).
	last := map[string]int{}
	for i, h := range r.Headers {
		switch h.Key {
		case HeaderReason, HeaderTopic, HeaderPartition, HeaderOffset:
			last[h.Key] = i
		}
	}
	var own []kgo.RecordHeader
	for i, h := range r.Headers {
		if j, ok := last[h.Key]; !ok || j != i {
			own = append(own, h)
		}
	}
	d.headerSum = headerSum(own)
	value := func(k string) (string, bool) {
		i, ok := last[k]
		if !ok {
			return "", false
		}
		return string(r.Headers[i].Value), true
	}
	d.reason, _ = value(HeaderReason)
	var missing []string
	topic, ok := value(HeaderTopic)
	if !ok {
		missing = append(missing, HeaderTopic)
	}
	d.srcTopic = topic
	if s, ok := value(HeaderPartition); !ok {
		missing = append(missing, HeaderPartition)
	} else if p, err := strconv.ParseInt(s, 10, 32); err != nil || p < 0 {
		d.headerError = fmt.Sprintf("%s %q is not a partition number", HeaderPartition, s)
	} else {
		d.src.partition = int32(p)
	}
	if s, ok := value(HeaderOffset); !ok {
		missing = append(missing, HeaderOffset)
	} else if o, err := strconv.ParseInt(s, 10, 64); err != nil || o < 0 {
		d.headerError = fmt.Sprintf("%s %q is not an offset", HeaderOffset, s)
	} else {
		d.src.offset = o
	}
	if len(missing) > 0 {
		d.headerError = "no " + strings.Join(missing, ", ") + " header"
	}
	a.dead = append(a.dead, d)
}

func headerSum(hs []kgo.RecordHeader) [32]byte {
	h := sha256.New()
	var n [8]byte
	for _, x := range hs {
		binary.BigEndian.PutUint64(n[:], uint64(len(x.Key)))
		h.Write(n[:])
		h.Write([]byte(x.Key))
		binary.BigEndian.PutUint64(n[:], uint64(len(x.Value)))
		h.Write(n[:])
		h.Write(x.Value)
	}
	var sum [32]byte
	h.Sum(sum[:0])
	return sum
}

// Counts are the report's numbers.
type Counts struct {
	Events        int `json:"events"`         // input records read
	Unprocessed   int `json:"unprocessed"`    // read but past the end the service is known to have processed
	Orders        int `json:"orders"`         // order ids with well-formed events
	Applied       int `json:"applied"`        // events applied
	Duplicates    int `json:"duplicates"`     // skipped: id already applied (rule 1)
	OtherTypes    int `json:"other_types"`    // skipped: not the process's type
	TerminalSkips int `json:"terminal_skips"` // skipped: process confirmed or expired (rule 5)
	Malformed     int `json:"malformed"`      // malformed records
	HistoryFull   int `json:"history_full"`   // refused by rule 8
	Matched       int `json:"matched"`        // orders that call for a ConfirmOrder
	Expired       int `json:"expired"`        // processes expired (rule 6), as the auditor times them
	Restarted     int `json:"restarted"`      // processes started again after retention (rule 7)
	Commands      int `json:"commands"`       // commands read
	DeadLetters   int `json:"dead_letters"`   // dead letters read
	Uncertain     int `json:"uncertain"`      // orders near a time boundary

	// The changelog, when audited: records read, and the latest record of
	// each key that holds a process or is a tombstone.
	ChangelogRecords    int `json:"changelog_records"`
	ChangelogLive       int `json:"changelog_live"`
	ChangelogTombstones int `json:"changelog_tombstones"`
}

// Offense is one offending (or uncertain) order, or a record that belongs
// to no order.
type Offense struct {
	OrderID    string      `json:"order_id,omitempty"`
	Record     string      `json:"record,omitempty"` // for a record that belongs to no order
	Problems   []string    `json:"problems"`
	Events     []EventView `json:"events,omitempty"`
	MoreEvents int         `json:"more_events,omitempty"`
	// Changelog holds the order's latest changelog records (when audited).
	Changelog []ChangelogView `json:"changelog,omitempty"`

	sortKey [3]int64
}

// Description is the offense in one line.
func (o Offense) Description() string { return strings.Join(o.Problems, "; ") }

// EventView is one input record of an offending order.
type EventView struct {
	Type      string `json:"type,omitempty"`
	ID        string `json:"id,omitempty"`
	MenuID    string `json:"menu_id,omitempty"`
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
	Malformed string `json:"malformed,omitempty"`
	Result    string `json:"result,omitempty"` // what the model made of it
}

// Report is the audit's verdict.
type Report struct {
	OK         bool      `json:"ok"`
	Counts     Counts    `json:"counts"`
	Violations int       `json:"violations"` // offending orders and records
	Offending  []Offense `json:"offending"`
	Uncertain  []Offense `json:"uncertain"`
	Warnings   []string  `json:"warnings"`
	// ChangelogTopic is the changelog audited; empty when it was not, and
	// ChangelogNotAudited says why.
	ChangelogTopic      string `json:"changelog_topic,omitempty"`
	ChangelogNotAudited string `json:"changelog_not_audited,omitempty"`
}

// maxEventsShown bounds the events listed for one offense.
const maxEventsShown = 50

// Check compares the topics with the model and returns the report.
func (a *Auditor) Check() *Report {
	for _, o := range a.orders { // Check may run again
		o.commands = nil
	}
	for _, e := range a.events {
		e.dead = nil
	}
	rep := &Report{Offending: []Offense{}, Uncertain: []Offense{}, Warnings: []string{}, ChangelogTopic: a.cfg.ChangelogTopic}
	if !a.auditsChangelog() {
		rep.ChangelogNotAudited = a.clSkipped
		if rep.ChangelogNotAudited == "" {
			rep.ChangelogNotAudited = "no changelog topic given"
		}
	}
	c := &rep.Counts
	c.Events, c.Unprocessed, c.Commands, c.DeadLetters = len(a.events), a.unprocessd, len(a.commands), len(a.dead)
	c.ChangelogRecords = a.clRead
	problems := map[string][]string{} // order id -> problems
	addRecordOffense := func(record string, key [3]int64, p ...string) {
		rep.Offending = append(rep.Offending, Offense{Record: record, Problems: p, sortKey: key})
	}

	// Dead letters: attach each to the input record it names.
	tooOld := 0
	for _, d := range a.dead {
		at := a.dlqAt(d.coord)
		key := [3]int64{2, int64(d.partition), d.offset}
		switch src, ok := a.byCoord[d.src]; {
		case d.headerError != "":
			addRecordOffense(at, key, "dead letter "+at+": "+d.headerError)
		case d.srcTopic != a.cfg.EventsTopic:
			addRecordOffense(at, key, fmt.Sprintf("dead letter %s comes from topic %q, not the events topic %q", at, d.srcTopic, a.cfg.EventsTopic))
		case ok:
			src.dead = append(src.dead, d)
		case d.src.offset < a.starts[d.src.partition]:
			tooOld++
		default:
			addRecordOffense(at, key, fmt.Sprintf("dead letter %s names %s, which is not among the events read", at, a.evAt(d.src)))
		}
	}
	if tooOld > 0 {
		rep.Warnings = append(rep.Warnings, fmt.Sprintf("%d dead letters name events deleted from %s (retention): not checked", tooOld, a.cfg.EventsTopic))
	}
	parts := make([]int32, 0, len(a.starts))
	for p := range a.starts {
		parts = append(parts, p)
	}
	slices.Sort(parts)
	for _, p := range parts {
		if s := a.starts[p]; s > 0 {
			rep.Warnings = append(rep.Warnings, fmt.Sprintf("%s partition %d starts at offset %d (older records deleted): orders with deleted events cannot be judged exactly", a.cfg.EventsTopic, p, s))
			if a.auditsChangelog() {
				rep.Warnings = append(rep.Warnings, fmt.Sprintf("%s partition %d is not checked: its orders' first events may be among those deleted", a.cfg.ChangelogTopic, p))
			}
		}
	}

	// Malformed records: each in the DLQ exactly once, as it was.
	for _, e := range a.events {
		if e.malformed == "" {
			continue
		}
		c.Malformed++
		var p []string
		what := fmt.Sprintf("malformed record %s (%s)", a.evAt(e.coord), e.malformed)
		switch {
		case len(e.dead) == 0 && e.processed:
			p = append(p, what+" is not in the DLQ")
		case len(e.dead) > 1:
			p = append(p, fmt.Sprintf("%s is in the DLQ %d times: %s", what, len(e.dead), a.dlqList(e.dead)))
		}
		for _, d := range e.dead {
			p = append(p, a.compareDead(e, d, "")...)
		}
		if len(p) == 0 {
			continue
		}
		if len(e.key) == 0 {
			addRecordOffense(a.evAt(e.coord), [3]int64{0, int64(e.partition), e.offset}, p...)
		} else {
			problems[string(e.key)] = append(problems[string(e.key)], p...)
		}
	}

	// Commands: each to its order.
	for _, cm := range a.commands {
		at := a.cmdAt(cm.coord)
		id := cm.cmd.OrderID
		if !cm.json || id == "" {
			id = string(cm.key)
		}
		if id == "" {
			what := "is not valid JSON"
			if cm.json {
				what = "has no order_id and no key"
			}
			addRecordOffense(at, [3]int64{1, int64(cm.partition), cm.offset}, "command "+at+" "+what)
			continue
		}
		o := a.order(id)
		o.commands = append(o.commands, cm)
		if p := a.commandProblems(cm, id); len(p) > 0 {
			problems[id] = append(problems[id], p...)
		}
	}

	// The changelog: records no group of events explains.
	if a.auditsChangelog() {
		a.byEventID = map[string][]*eventRec{}
		for _, e := range a.events {
			if e.malformed == "" {
				a.byEventID[e.ev.ID] = append(a.byEventID[e.ev.ID], e)
			}
		}
		a.changelogRecords(rep, problems)
	}

	// Orders: the topics must agree with one possible outcome.
	ids := make([]string, 0, len(a.orders))
	for id := range a.orders {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	split := 0
	for _, id := range ids {
		o := a.orders[id]
		if len(o.groups) > 1 {
			split++
		}
		combos, capped := possible(o, a.cfg.Limits, a.auditsChangelog())
		nominal := combos[0]
		if len(o.groups) > 0 {
			c.Orders++
		}
		matched := false
		for gi := range o.groups {
			out := nominal[gi]
			for _, r := range out.Results {
				switch r {
				case Applied:
					c.Applied++
				case SkippedDuplicate:
					c.Duplicates++
				case SkippedOtherType:
					c.OtherTypes++
				case SkippedTerminal:
					c.TerminalSkips++
				case HistoryFull:
					c.HistoryFull++
				}
			}
			matched = matched || len(out.Commands) > 0
			c.Expired += out.Expired
			c.Restarted += max(0, out.Incarnations-1)
		}
		if matched {
			c.Matched++
		}
		fixed := problems[id]
		var found []string
		agrees := false
		for i, combo := range combos {
			p := a.evaluate(o, combo)
			if i == 0 || len(p) < len(found) {
				found = p // the closest outcome explains best what is wrong
			}
			if len(p) == 0 {
				agrees = true
				break
			}
		}
		uncertain := len(combos) > 1 || capped
		if uncertain && (agrees || capped) {
			c.Uncertain++
			note := fmt.Sprintf("within %v of a match-timeout or retention boundary: %d possible outcomes", a.cfg.Tolerance, len(combos))
			if capped {
				note += " (more not explored)"
			}
			if !agrees {
				note += "; the topics agree with none explored: " + strings.Join(found, "; ")
			}
			rep.Uncertain = append(rep.Uncertain, a.offense(o, []string{note}, nominal))
		}
		if !agrees && !capped {
			if uncertain {
				found = append([]string{fmt.Sprintf("(none of %d outcomes possible near a time boundary fits)", len(combos))}, found...)
			}
			fixed = append(fixed, found...)
		}
		if len(fixed) > 0 {
			rep.Offending = append(rep.Offending, a.offense(o, fixed, nominal))
		}
	}
	if split > 0 {
		rep.Warnings = append(rep.Warnings, fmt.Sprintf("%d orders have events in more than one partition of %s (keys not partitioned by order id): each partition is a separate process", split, a.cfg.EventsTopic))
	}
	sortOffenses(rep.Offending)
	sortOffenses(rep.Uncertain)
	rep.Violations = len(rep.Offending)
	rep.OK = rep.Violations == 0
	return rep
}

func sortOffenses(os []Offense) {
	slices.SortStableFunc(os, func(x, y Offense) int {
		for i := range x.sortKey {
			if x.sortKey[i] != y.sortKey[i] {
				if x.sortKey[i] < y.sortKey[i] {
					return -1
				}
				return 1
			}
		}
		return strings.Compare(x.OrderID, y.OrderID)
	})
}

// possible returns the order's possible outcomes, one per group in each
// combination; the first combination is the nominal one.
func possible(o *orderRec, l Limits, detail bool) (combos [][]Outcome, capped bool) {
	combos = [][]Outcome{{}}
	for _, g := range o.groups {
		outs, c := possibleOutcomes(g.steps, l, detail)
		capped = capped || c
		var next [][]Outcome
		for _, combo := range combos {
			for _, out := range outs {
				if len(next) >= maxBranches {
					capped = true
					break
				}
				next = append(next, append(slices.Clone(combo), out))
			}
		}
		combos = next
	}
	return combos, capped
}

// expectation is one ConfirmOrder an outcome calls for.
type expectation struct {
	Expected
	required bool // its event was processed: the command must be there
}

// evaluate returns what disagrees between the topics and one outcome of
// the order: its commands, the dead letters of its well-formed events and,
// when audited, its latest changelog records.
func (a *Auditor) evaluate(o *orderRec, combo []Outcome) []string {
	var p []string
	var exp []expectation
	for gi, g := range o.groups {
		out := combo[gi]
		if a.auditsChangelog() {
			if cp := a.changelogProblem(o, g, &out); cp != "" {
				p = append(p, cp)
			}
		}
		for _, c := range out.Commands {
			exp = append(exp, expectation{c, a.byCoord[coord{c.Partition, c.Offset}].processed})
		}
		for i, e := range g.recs {
			refused := out.refused(i)
			what := fmt.Sprintf("event %s at %s", quoteID(e.ev.ID), a.evAt(e.coord))
			switch {
			case refused && len(e.dead) == 0 && e.processed:
				p = append(p, what+" exceeds max-history and is not in the DLQ")
			case refused && len(e.dead) > 1:
				p = append(p, fmt.Sprintf("%s is in the DLQ %d times: %s", what, len(e.dead), a.dlqList(e.dead)))
			case !refused && len(e.dead) > 0:
				p = append(p, fmt.Sprintf("%s is well-formed and not refused by max-history (%s), but is in the DLQ at %s", what, out.Results[i], a.dlqList(e.dead)))
			}
			if refused {
				for _, d := range e.dead {
					p = append(p, a.compareDead(e, d, ReasonHistoryFull)...)
				}
			}
		}
	}
	// Commands that fit an expectation exactly, then the others paired in
	// order, then what is left over.
	var cmds []*commandRec
	for _, cm := range o.commands {
		if cm.json {
			cmds = append(cmds, cm)
		}
	}
	used := make([]bool, len(cmds))
	var open []expectation
	for _, e := range exp {
		i := slices.IndexFunc(cmds, func(cm *commandRec) bool {
			return cm.cmd.MenuID == e.MenuID && cm.cmd.CausationID == e.CausationID
		})
		for i >= 0 && used[i] {
			j := slices.IndexFunc(cmds[i+1:], func(cm *commandRec) bool {
				return cm.cmd.MenuID == e.MenuID && cm.cmd.CausationID == e.CausationID
			})
			if j < 0 {
				i = -1
			} else {
				i += 1 + j
			}
		}
		if i < 0 {
			open = append(open, e)
			continue
		}
		used[i] = true
	}
	var rest []*commandRec
	for i, cm := range cmds {
		if !used[i] {
			rest = append(rest, cm)
		}
	}
	for _, e := range open {
		if len(rest) > 0 {
			cm := rest[0]
			rest = rest[1:]
			at := a.cmdAt(cm.coord)
			if cm.cmd.MenuID != e.MenuID {
				p = append(p, fmt.Sprintf("ConfirmOrder %s has menu_id %s, want %s", at, quoteID(cm.cmd.MenuID), quoteID(e.MenuID)))
			}
			if cm.cmd.CausationID != e.CausationID {
				p = append(p, fmt.Sprintf("ConfirmOrder %s has causation_id %s, want %s (the event at %s)", at, quoteID(cm.cmd.CausationID), quoteID(e.CausationID), a.evAt(coord{e.Partition, e.Offset})))
			}
			continue
		}
		if e.required {
			p = append(p, fmt.Sprintf("missing ConfirmOrder for menu %s (match completed by event %s at %s)", quoteID(e.MenuID), quoteID(e.CausationID), a.evAt(coord{e.Partition, e.Offset})))
		}
	}
	for _, cm := range rest {
		at := a.cmdAt(cm.coord)
		switch {
		case len(o.groups) == 0:
			p = append(p, fmt.Sprintf("ConfirmOrder %s for an order with no events", at))
		case len(exp) == 0:
			p = append(p, fmt.Sprintf("ConfirmOrder %s, but the order's events do not form a match", at))
		default:
			p = append(p, fmt.Sprintf("duplicate ConfirmOrder %s: %d commands for %d expected", at, len(cmds), len(exp)))
		}
	}
	return p
}

// commandProblems checks what a command must carry whatever the events.
func (a *Auditor) commandProblems(cm *commandRec, id string) []string {
	at := "ConfirmOrder " + a.cmdAt(cm.coord)
	if !cm.json {
		return []string{"command " + a.cmdAt(cm.coord) + " is not valid JSON"}
	}
	var p []string
	for _, x := range cm.problems {
		p = append(p, at+": "+x)
	}
	c := cm.cmd
	if c.Type != ConfirmOrderType {
		p = append(p, fmt.Sprintf("%s: type %s, want %s", at, quoteID(c.Type), ConfirmOrderType))
	}
	if !slices.Contains(cm.header, ConfirmOrderType) {
		p = append(p, fmt.Sprintf("%s: no header type: %s", at, ConfirmOrderType))
	}
	if string(cm.key) != id {
		p = append(p, fmt.Sprintf("%s: key %s differs from order_id %s", at, quoteID(string(cm.key)), quoteID(id)))
	}
	if c.CorrelationID != id {
		p = append(p, fmt.Sprintf("%s: correlation_id %s, want %s", at, quoteID(c.CorrelationID), quoteID(id)))
	}
	if want := CommandID(id); c.CommandID != want {
		p = append(p, fmt.Sprintf("%s: command_id %s, want %s", at, quoteID(c.CommandID), want))
	}
	return p
}

// compareDead checks that a dead letter carries its record as it was.
// reason, when not empty, is the dlq-reason it must have.
func (a *Auditor) compareDead(e *eventRec, d *deadRec, reason string) []string {
	at := "dead letter " + a.dlqAt(d.coord)
	var p []string
	if string(d.key) != string(e.key) {
		p = append(p, fmt.Sprintf("%s: key %s differs from the original's %s", at, quoteID(string(d.key)), quoteID(string(e.key))))
	}
	if d.valueSum != e.valueSum {
		p = append(p, fmt.Sprintf("%s: value differs from the original at %s", at, a.evAt(e.coord)))
	}
	if d.headerSum != e.headerSum {
		p = append(p, fmt.Sprintf("%s: headers other than dlq-* differ from the original's", at))
	}
	switch {
	case strings.TrimSpace(d.reason) == "":
		p = append(p, at+": empty or missing dlq-reason")
	case reason != "" && d.reason != reason:
		p = append(p, fmt.Sprintf("%s: dlq-reason %q, want %q", at, d.reason, reason))
	}
	return p
}

// offense builds the report entry of an order.
func (a *Auditor) offense(o *orderRec, problems []string, nominal []Outcome) Offense {
	off := Offense{OrderID: o.id, Problems: problems, sortKey: [3]int64{3, 0, 0}, Changelog: a.changelogViews(o.id)}
	switch {
	case len(o.records) > 0:
		off.sortKey = [3]int64{0, int64(o.records[0].partition), o.records[0].offset}
	case len(o.commands) > 0:
		off.sortKey = [3]int64{1, int64(o.commands[0].partition), o.commands[0].offset}
	}
	results := map[coord]Result{}
	for gi, g := range o.groups {
		for i, e := range g.recs {
			results[e.coord] = nominal[gi].Results[i]
		}
	}
	for i, e := range o.records {
		if i == maxEventsShown {
			off.MoreEvents = len(o.records) - i
			break
		}
		v := EventView{Partition: e.partition, Offset: e.offset}
		if e.malformed != "" {
			v.Malformed = e.malformed
		} else {
			v.Type, v.ID, v.MenuID, v.Result = e.ev.Type, e.ev.ID, e.ev.MenuID, results[e.coord].String()
		}
		off.Events = append(off.Events, v)
	}
	return off
}

func (a *Auditor) evAt(c coord) string  { return at(a.cfg.EventsTopic, c) }
func (a *Auditor) cmdAt(c coord) string { return at(a.cfg.CommandsTopic, c) }
func (a *Auditor) dlqAt(c coord) string { return at(a.cfg.DLQTopic, c) }

func (a *Auditor) dlqList(ds []*deadRec) string {
	s := make([]string, len(ds))
	for i, d := range ds {
		s[i] = a.dlqAt(d.coord)
	}
	return strings.Join(s, ", ")
}

// at names a record: topic[partition]@offset.
func at(topic string, c coord) string {
	return fmt.Sprintf("%s[%d]@%d", topic, c.partition, c.offset)
}

func quoteID(s string) string { return strconv.Quote(clip(s)) }
