package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/peterbourgon/ff/v3/ffcli"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/plugin/kslog"

	"github.com/catering-match/catering-match/processor"
	"github.com/catering-match/catering-match/topics"
)

// The headers the service adds to a dead letter, after the record's own
// (docs/contract.md, Dead letters), and the one redrive adds instead.
const (
	headerReason       = "dlq-reason"
	headerTopic        = "dlq-topic"
	headerPartition    = "dlq-partition"
	headerOffset       = "dlq-offset"
	headerRedrivenFrom = "redriven-from"
)

// The reason kinds --reason takes: the service's metric labels
// (catering_match_events_dead_lettered_total{reason}), read back from the
// dlq-reason text, and "other" for a text none of them matches. Each kind
// is a lane of the group's ledger: a kind, once given out, must keep its
// name and its dead letters, or a later release would redrive some twice.
const (
	kindHistoryFull = "history_full"
	kindOther       = "other"
)

var reasonKinds = []string{
	topics.MalformedEmptyKey, topics.MalformedNotObject, topics.MalformedMissing, topics.MalformedEmpty,
	topics.MalformedWrongType, topics.MalformedOverLimit, topics.MalformedKeyMismatch, kindHistoryFull, kindOther,
}

// reasonPatterns recognise the dlq-reason texts of topics.DecodeEvent and
// of the processor (TestReasonKindOfServiceReasons holds them together).
var reasonPatterns = []struct {
	kind string
	re   *regexp.Regexp
}{
	{topics.MalformedEmptyKey, regexp.MustCompile(`^record key is empty`)},
	{topics.MalformedNotObject, regexp.MustCompile(`^value is not a JSON object`)},
	{topics.MalformedMissing, regexp.MustCompile(`^required field \S+ is missing$`)},
	{topics.MalformedEmpty, regexp.MustCompile(`^required field \S+ is empty$`)},
	{topics.MalformedWrongType, regexp.MustCompile(`^field \S+ must be a string, got `)},
	{topics.MalformedOverLimit, regexp.MustCompile(`^field \S+ is \d+ bytes, over the limit of \d+$`)},
	{topics.MalformedKeyMismatch, regexp.MustCompile(`(?s)^(order_id ".*" differs from record key|process key ".*" differs from the record key) ".*"$`)},
}

// reasonKind returns the kind of a dlq-reason text.
func reasonKind(reason string) string {
	if reason == processor.ReasonHistoryFull {
		return kindHistoryFull
	}
	for _, p := range reasonPatterns {
		if p.re.MatchString(reason) {
			return p.kind
		}
	}
	return kindOther
}

// Limits of the group's ledger and of one run.
const (
	// maxLedgerBytes bounds one partition's ledger, committed as offset
	// metadata: Kafka refuses more than offset.metadata.max.bytes (4096 by
	// default).
	maxLedgerBytes = 4000
	// redriveTxnTimeout bounds how long the transaction of a killed run
	// holds back read_committed readers of the events (the service), unless
	// the next run fences it first.
	redriveTxnTimeout = 20 * time.Second
	// stableEndWait bounds the wait for a moment with no transaction open
	// on the DLQ, at start and when counting returns.
	stableEndWait = 30 * time.Second
	// readStall is how long the reading may go without a record before it
	// gives up.
	readStall = 30 * time.Second
)

type redriveCmd struct {
	conn         connFlags
	dlq          string
	events       string
	group        string
	serviceGroup string
	reasons      string
	order        string
	partition    int
	from, to     int64
	batch        int
	wait         time.Duration
	dryRun       bool

	stdout io.Writer
	stderr io.Writer

	// hook, when set (tests), is called after a transaction's records are
	// produced and flushed ("produced") and after it committed
	// ("committed"), with the transaction's number from 1.
	hook func(stage string, txn int)
}

func newRedrive(stdout io.Writer, stderr *trackingWriter) *ffcli.Command {
	_, cmd := newRedriveCmd(stdout, stderr)
	return cmd
}

func newRedriveCmd(stdout io.Writer, stderr *trackingWriter) (*redriveCmd, *ffcli.Command) {
	c := &redriveCmd{stdout: stdout, stderr: stderr}
	names := topics.DefaultNames()
	fs := flag.NewFlagSet("catering redrive", flag.ContinueOnError)
	c.conn.register(fs)
	fs.StringVar(&c.dlq, "dlq-topic", names.DLQ, "dead-letter `topic` to read")
	fs.StringVar(&c.events, "events-topic", names.Events, "`topic` to copy back to: only dead letters whose dlq-topic is this one go")
	fs.StringVar(&c.group, "redrive-group", "catering-redrive", "redrive's own consumer `group`, which remembers what was redriven; also its transactional id")
	fs.StringVar(&c.serviceGroup, "group", processor.DefaultConfig().Group, "the service's consumer `group` (as for verify), to wait for it to process the copies")
	fs.StringVar(&c.reasons, "reason", "", "only dead letters of these reason `kinds`, comma-separated: "+strings.Join(reasonKinds, ", "))
	fs.StringVar(&c.order, "order", "", "only dead letters of this order `id` (the record key)")
	fs.IntVar(&c.partition, "partition", -1, "only this DLQ `partition` (-1: all)")
	fs.Int64Var(&c.from, "from", 0, "only DLQ offsets from this `offset` on, inclusive, in each partition read")
	fs.Int64Var(&c.to, "to", -1, "only DLQ offsets before this `offset`, exclusive, in each partition read (-1: the end offsets seen at start)")
	fs.IntVar(&c.batch, "batch", 500, "dead letters read per transaction at most")
	fs.DurationVar(&c.wait, "wait", 30*time.Second, "how long to wait for the service to process the copies, to count those it dead-letters again (0: do not wait)")
	fs.BoolVar(&c.dryRun, "dry-run", false, "list what would be redriven, and write nothing")
	return c, leaf{
		name:       "redrive",
		shortUsage: "catering redrive [--reason KIND[,KIND]] [--order ID] [--partition N] [--from OFFSET] [--to OFFSET] [--dry-run] [flags]",
		shortHelp:  "copy dead letters back to the events topic, each once (transactional)",
		longHelp: `Copies dead letters from the DLQ back to the topic and partition they came
from (their dlq-topic and dlq-partition headers), with their key and value
as they are and their own headers byte for byte, in order. The service's
dlq-reason, dlq-topic, dlq-partition and dlq-offset headers (the last of
each name) are removed, and one header redriven-from: <dlq partition>/<offset>
is added (it replaces an older redriven-from). Only dead letters of
--events-topic go. The DLQ is read (read_committed) up to the end offsets
seen at start; redrive does not follow it.

EXACTLY ONCE. Each dead letter is redriven at most once per --redrive-group. The
copies and the group's record of what it redrove (its committed offsets on
the DLQ) commit together, in one transaction per --batch, with the group's
name as the transactional id. A run that is interrupted, fails or is killed
(kill -9) leaves nothing half done: run it again, and it goes on where the
last commit left off. Two runs with one group fence each other: the older
stops. To redrive everything again, delete that group.

FILTERS. Every filter given must hold:
  --reason KIND[,KIND]  the dead letter's kind, read from its dlq-reason:
                        empty_key, not_json_object, missing_field,
                        empty_field, wrong_type, over_limit, key_mismatch,
                        history_full, or other (any other reason)
  --order ID            its key, the order id
  --partition N         its DLQ partition
  --from OFFSET         its DLQ offset is OFFSET or more (inclusive)
  --to OFFSET           its DLQ offset is below OFFSET (exclusive)
--from and --to apply in each DLQ partition read; dry-run lines show the
offsets. A dead letter the filters leave out is not marked as done: a later
run with other filters (or none) redrives it then, once. The group's offset
does not move past it: per DLQ partition and per reason kind, the group
keeps the offset below which every dead letter is done, and the done ones
above it, in the metadata of its committed offset. Many scattered picks
(--order again and again) can fill that record (about 4 KB per partition):
then further picks are held back, with a message; a run without --order and
--from empties it.

RETURNS. A copy that is still malformed (or whose process history is still
full) goes back to the DLQ when the service processes it, as a new dead
letter that carries redriven-from. After the copy, redrive waits up to --wait
for the service's --group to process the copies, then prints the returned ones
and "N redriven, M returned to the DLQ (still malformed)". A returned dead
letter is a new one: a later run redrives it again unless --reason leaves
its kind out.

OUTPUT. One line per dead letter redriven (with --dry-run: that would be),
on stdout:
  dlq=0/17 reason=history_full key="42" original=catering-events/3/1250 redriven=catering-events/3/1302
then the summary. Progress goes to stderr every second.

Exit status: 0 when every dead letter selected was redriven (and, with
--wait, processed by the service); 1 on an error, an interruption, a
selected dead letter that cannot go (another topic, a missing partition,
missing dlq headers) or copies the service did not process within --wait;
2 on a usage error.`,
		fs:   fs,
		exec: c.exec,
	}.command(stderr)
}

var groupPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,200}$`)

func (c *redriveCmd) exec(ctx context.Context, args []string) error {
	kinds, err := parseKinds(c.reasons)
	switch {
	case len(args) > 0:
		return usagef("unexpected arguments %q: redrive takes only flags", args)
	case err != nil:
		return err
	case c.dlq == "" || c.events == "":
		return usagef("--dlq-topic and --events-topic must not be empty (defaults %s and %s)", topics.DefaultNames().DLQ, topics.DefaultNames().Events)
	case c.dlq == c.events:
		return usagef("--dlq-topic and --events-topic are both %q: name two different topics", c.dlq)
	case !groupPattern.MatchString(c.group):
		return usagef("--redrive-group %q: use 1-200 letters, digits, '.', '_' or '-'", c.group)
	case c.group == c.serviceGroup:
		return usagef("--redrive-group %q is also --group, the service's group: give redrive a group of its own, e.g. catering-redrive", c.group)
	case c.partition < -1:
		return usagef("--partition %d must be a partition number, or -1 for all", c.partition)
	case c.from < 0:
		return usagef("--from %d must not be negative", c.from)
	case c.to < -1:
		return usagef("--to %d must be an offset, or -1 for the end", c.to)
	case c.to >= 0 && c.to <= c.from:
		return usagef("--to %d must be above --from %d (--from is inclusive, --to exclusive)", c.to, c.from)
	case c.batch < 1:
		return usagef("--batch %d must be at least 1", c.batch)
	case c.wait < 0:
		return usagef("--wait %v must not be negative (0: do not wait)", c.wait)
	}

	adm, err := c.conn.client(c.stderr)
	if err != nil {
		return err
	}
	defer adm.Close()
	dlqParts, err := partitions(ctx, adm, c.dlq, "dlq-topic")
	if err != nil {
		return err
	}
	eventParts, err := partitions(ctx, adm, c.events, "events-topic")
	if err != nil {
		return err
	}
	if c.partition >= int(dlqParts) {
		return usagef("--partition %d: %s has partitions 0 to %d", c.partition, c.dlq, dlqParts-1)
	}
	s := &scan{kinds: kinds, order: c.order, dlq: c.dlq, events: c.events, eventParts: eventParts, parts: map[int32]*dlqPart{}}
	ka := kadm.NewClient(adm)
	if s.ends, err = stableEnds(ctx, ka, c.dlq); err != nil {
		return err
	}
	starts, err := ka.ListStartOffsets(ctx, c.dlq)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return fmt.Errorf("list start offsets of %s: %w", c.dlq, err)
	}
	for p := range dlqParts {
		if c.partition >= 0 && p != int32(c.partition) {
			continue
		}
		dp := &dlqPart{id: p, end: s.ends[p]}
		if o, ok := starts.Lookup(c.dlq, p); ok {
			dp.logStart = o.Offset
		}
		dp.start = max(dp.logStart, c.from)
		if c.to >= 0 {
			dp.end = min(dp.end, c.to)
		}
		s.parts[p] = dp
	}

	if c.dryRun {
		return c.runDry(ctx, adm, s)
	}
	err = c.runRedrive(ctx, adm, s)
	var ke *kerr.Error
	if errors.As(err, &ke) && (ke == kerr.ProducerFenced || ke == kerr.InvalidProducerEpoch || ke == kerr.FencedInstanceID) {
		return fmt.Errorf("another catering redrive with --redrive-group %s started and took over, so this one stopped; what it printed is committed (%w)", c.group, ke)
	}
	return err
}

func parseKinds(list string) (map[string]bool, error) {
	if strings.TrimSpace(list) == "" {
		return nil, nil
	}
	kinds := map[string]bool{}
	for _, k := range strings.Split(list, ",") {
		k = strings.TrimSpace(k)
		if !slices.Contains(reasonKinds, k) {
			hint := ""
			if strings.Contains(k, " ") {
				hint = " (--reason takes the kind, not the dlq-reason text: \"process history full\" is history_full)"
			}
			return nil, usagef("--reason %q: unknown kind %q%s: use %s", list, k, hint, strings.Join(reasonKinds, ", "))
		}
		kinds[k] = true
	}
	return kinds, nil
}

// runDry reads what a run would read, from the group's committed ledger,
// and lists what it would redrive. It neither joins the group nor uses the
// transactional id, so it does not disturb a run in progress.
func (c *redriveCmd) runDry(ctx context.Context, adm *kgo.Client, s *scan) error {
	committed, err := fetchLedgers(ctx, kadm.NewClient(adm), c.group, c.dlq, false)
	if err != nil {
		return err
	}
	if err := s.load(committed, c.group); err != nil {
		return err
	}
	from, to := map[int32]int64{}, map[int32]int64{}
	for id, p := range s.parts {
		if !p.done {
			from[id], to[id] = p.pos, p.end
		}
	}
	stop := s.progress(c.stderr, "redrive (dry run)")
	err = c.readRange(ctx, from, to, func(r *kgo.Record) {
		if out, dl := s.consider(r); out != nil {
			s.redriven.Add(1)
			fmt.Fprintln(c.stdout, dl.line(r, ""))
		}
	}, s.finished)
	stop()
	if err != nil {
		return err
	}
	s.reportHeld(c.stderr)
	fmt.Fprintf(c.stdout, "dry run: would redrive %s from %s to %s; nothing written\n", plural(int(s.redriven.Load()), "dead letter"), c.dlq, c.events)
	s.printSkipped(c.stdout, c.group)
	return s.heldError()
}

// runRedrive copies the selected dead letters in transactions that commit
// the group's ledger with them, then waits for the service and counts the
// returns.
func (c *redriveCmd) runRedrive(ctx context.Context, adm *kgo.Client, s *scan) error {
	base, err := c.conn.conn.Opts()
	if err != nil {
		return &usageError{msg: err.Error()}
	}
	log := c.conn.logger(c.stderr)
	var assignMu sync.Mutex
	assigned := map[int32]bool{}
	sess, err := kgo.NewGroupTransactSession(append(base,
		kgo.WithLogger(kslog.New(log.With("component", "kgo"))),
		kgo.ConsumerGroup(c.group),
		// Static membership: a run started after a killed one takes its
		// place in the group at once, instead of after the session timeout.
		kgo.InstanceID(c.group),
		kgo.TransactionalID(c.group),
		kgo.TransactionTimeout(redriveTxnTimeout),
		kgo.ConsumeTopics(c.dlq),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		// Markers tell how far the reading got: a partition whose last
		// record is a commit marker would otherwise never look finished.
		kgo.KeepControlRecords(),
		kgo.FetchMaxWait(250*time.Millisecond),
		kgo.ProducerLinger(0),
		// A copy goes to the partition its dlq-partition header names.
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			assignMu.Lock()
			defer assignMu.Unlock()
			for _, p := range m[c.dlq] {
				assigned[p] = true
			}
		}),
		kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			assignMu.Lock()
			defer assignMu.Unlock()
			for _, p := range m[c.dlq] {
				delete(assigned, p)
			}
		}),
	)...)
	if err != nil {
		return fmt.Errorf("kafka client: %w", err)
	}
	inTxn := false
	defer func() {
		if inTxn {
			actx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			sess.End(actx, kgo.TryAbort) //nolint:errcheck // the run already failed; the next one fences what is left
			cancel()
		}
		sess.Close()
	}()

	// Initialising the producer id fences an earlier run with this group
	// and ends its open transaction, before the ledger is read: what that
	// run committed is then final, and what it did not is gone.
	if _, _, err := sess.Client().ProducerID(ctx); err != nil {
		return fmt.Errorf("initialise transactional id %q: %w", c.group, err)
	}
	ka := kadm.NewClient(adm)
	committed, err := fetchLedgers(ctx, ka, c.group, c.dlq, true)
	if err != nil {
		return err
	}
	if err := s.load(committed, c.group); err != nil {
		return err
	}
	td, err := ka.ListTopics(ctx, c.dlq)
	if err == nil {
		err = td.Error()
	}
	if err != nil {
		return fmt.Errorf("describe %s: %w", c.dlq, err)
	}
	dlqID := td[c.dlq].ID
	var idle []int32
	for p := range int32(len(committed)) {
		if part := s.parts[p]; part == nil || part.done {
			idle = append(idle, p)
		}
	}
	sess.Client().PauseFetchPartitions(map[string][]int32{c.dlq: idle})

	stop := s.progress(c.stderr, "redrive")
	defer stop()
	var copies []redrivenCopy
	lastRead := time.Now()
	for txn := 1; !s.finished(); {
		if ctx.Err() != nil {
			return s.interrupted(c.stdout, c.group)
		}
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		fs := sess.PollRecords(pctx, c.batch)
		cancel()
		if ctx.Err() != nil {
			return s.interrupted(c.stdout, c.group)
		}
		if fs.IsClientClosed() {
			return errors.New("kafka client closed")
		}
		if err := fetchError(fs); err != nil {
			return err
		}
		if fs.NumRecords() == 0 {
			if time.Since(lastRead) > readStall {
				return c.stalled(s, assigned, &assignMu)
			}
			continue
		}
		lastRead = time.Now()

		var batch []redrivenCopy
		touched := map[int32]bool{}
		fs.EachRecord(func(r *kgo.Record) {
			touched[r.Partition] = true
			if out, dl := s.consider(r); out != nil {
				batch = append(batch, redrivenCopy{src: r, dl: dl, out: out})
			}
		})
		var done []int32
		for p := range touched {
			if part := s.parts[p]; part != nil {
				part.advance()
				if part.done {
					done = append(done, p)
				}
			}
		}
		sess.Client().PauseFetchPartitions(map[string][]int32{c.dlq: done})
		if len(batch) == 0 && !s.changed() {
			continue
		}

		// The transaction must not be cut in half by an interrupt: it has a
		// deadline of its own, and the interrupt is looked at between two.
		tctx, tcancel := context.WithTimeout(context.WithoutCancel(ctx), redriveTxnTimeout)
		err := c.transact(tctx, sess, s, batch, txn, dlqID, committed, &inTxn)
		tcancel()
		if err != nil {
			return err
		}
		for _, cp := range batch {
			fmt.Fprintln(c.stdout, cp.dl.line(cp.src, fmt.Sprintf("%s/%d/%d", cp.out.Topic, cp.out.Partition, cp.out.Offset)))
		}
		copies = append(copies, batch...)
		s.redriven.Add(int64(len(batch)))
		if c.hook != nil {
			c.hook("committed", txn)
		}
		txn++
	}
	stop()
	s.reportHeld(c.stderr)
	return c.report(ctx, adm, s, copies)
}

// redrivenCopy is a dead letter and its copy.
type redrivenCopy struct {
	src *kgo.Record
	dl  deadLetter
	out *kgo.Record
}

// transact writes one batch of copies and the ledgers in one transaction.
func (c *redriveCmd) transact(ctx context.Context, sess *kgo.GroupTransactSession, s *scan, batch []redrivenCopy, txn int, dlqID [16]byte, committed map[int32]kadm.Offset, inTxn *bool) error {
	if err := sess.Begin(); err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	*inTxn = true
	var mu sync.Mutex
	var prodErr error
	for _, cp := range batch {
		sess.Produce(ctx, cp.out, func(r *kgo.Record, err error) {
			if err != nil {
				mu.Lock()
				if prodErr == nil {
					prodErr = fmt.Errorf("copy %s partition %d offset %d to %s partition %d: %w", c.dlq, cp.src.Partition, cp.src.Offset, r.Topic, r.Partition, err)
				}
				mu.Unlock()
			}
		})
	}
	if err := sess.Client().Flush(ctx); err != nil {
		return fmt.Errorf("flush the copies: %w", err)
	}
	if c.hook != nil {
		c.hook("produced", txn)
	}
	mu.Lock()
	perr := prodErr
	mu.Unlock()
	if perr != nil {
		return perr // the deferred abort ends the transaction
	}
	ledgers := s.encodeAll()
	withLedger := kgo.PreTxnCommitFnContext(ctx, func(req *kmsg.TxnOffsetCommitRequest) error {
		setLedgers(req, c.dlq, dlqID, ledgers, committed)
		return nil
	})
	ok, err := sess.End(withLedger, kgo.TryCommit)
	*inTxn = false
	switch {
	case err != nil:
		// End can fail after the commit happened (franz-go issue 1052):
		// whether this batch went is unknown, and a rerun finds out.
		return fmt.Errorf("end transaction %d (outcome unknown: run again; it redrives nothing twice): %w", txn, err)
	case !ok:
		return fmt.Errorf("transaction %d was aborted: group %s rebalanced (is another consumer in it?); run again, it redrives nothing twice", txn, c.group)
	}
	s.committed(ledgers)
	return nil
}

// setLedgers makes a transaction's offset commit carry, for every DLQ
// partition, the ledger's offset and metadata instead of the read
// position: the group's offset stays below what a later run must still
// see. ledgers holds every partition the run reads; the others keep what
// was committed before the run.
func setLedgers(req *kmsg.TxnOffsetCommitRequest, topic string, id [16]byte, ledgers map[int32]ledgerCommit, committed map[int32]kadm.Offset) {
	var t *kmsg.TxnOffsetCommitRequestTopic
	for i := range req.Topics {
		if req.Topics[i].Topic == topic {
			t = &req.Topics[i]
		}
	}
	if t == nil {
		req.Topics = append(req.Topics, kmsg.NewTxnOffsetCommitRequestTopic())
		t = &req.Topics[len(req.Topics)-1]
		t.Topic, t.TopicID = topic, id
	}
	have := map[int32]bool{}
	kept := t.Partitions[:0]
	for _, rp := range t.Partitions {
		have[rp.Partition] = true
		if l, ok := ledgers[rp.Partition]; ok {
			rp.Offset, rp.LeaderEpoch, rp.Metadata = l.offset, -1, kmsg.StringPtr(l.metadata)
		} else if o, ok := committed[rp.Partition]; ok && o.At >= 0 {
			rp.Offset, rp.LeaderEpoch, rp.Metadata = o.At, o.LeaderEpoch, kmsg.StringPtr(o.Metadata)
		} else {
			continue // never committed, and not read: commit nothing
		}
		kept = append(kept, rp)
	}
	t.Partitions = kept
	for p, l := range ledgers {
		if have[p] {
			continue
		}
		rp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset, rp.LeaderEpoch, rp.Metadata = p, l.offset, -1, kmsg.StringPtr(l.metadata)
		t.Partitions = append(t.Partitions, rp)
	}
	req.Topics = slices.DeleteFunc(req.Topics, func(t kmsg.TxnOffsetCommitRequestTopic) bool { return len(t.Partitions) == 0 })
}

// stalled explains why the reading got no further.
func (c *redriveCmd) stalled(s *scan, assigned map[int32]bool, mu *sync.Mutex) error {
	mu.Lock()
	defer mu.Unlock()
	var missing, left []string
	for _, id := range s.partIDs() {
		p := s.parts[id]
		if p.done {
			continue
		}
		left = append(left, fmt.Sprintf("partition %d at %d of %d", id, p.pos, p.end))
		if !assigned[id] {
			missing = append(missing, strconv.Itoa(int(id)))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%s partitions %s are not assigned to this run after %v: group %s has other members; stop them, or use another --redrive-group",
			c.dlq, strings.Join(missing, ","), readStall, c.group)
	}
	return fmt.Errorf("read nothing from %s for %v (%s): is the broker up?", c.dlq, readStall, strings.Join(left, "; "))
}

// report waits for the service to process the copies, lists the ones it
// dead-lettered again, and prints the summary.
func (c *redriveCmd) report(ctx context.Context, adm *kgo.Client, s *scan, copies []redrivenCopy) error {
	n := len(copies)
	if n == 0 || c.wait == 0 {
		line := fmt.Sprintf("%d redriven", n)
		if n > 0 {
			line += " (not waited for the service: --wait 0)"
		}
		fmt.Fprintln(c.stdout, line)
		s.printSkipped(c.stdout, c.group)
		return s.heldError()
	}
	fmt.Fprintf(c.stderr, "redrive: waiting up to %v for group %s to process %s\n", c.wait, c.serviceGroup, nCopies(n))
	ka := kadm.NewClient(adm)
	behind, err := waitProcessed(ctx, ka, c.serviceGroup, c.events, copies, c.wait)
	if ctx.Err() != nil {
		fmt.Fprintf(c.stdout, "%d redriven; interrupted while waiting for the service\n", n)
		return errors.New("interrupted while waiting for the service: the redrive itself is committed; running it again redrives nothing twice")
	}
	if err != nil {
		return err
	}
	ends, err := stableEnds(ctx, ka, c.dlq)
	if err != nil {
		return err
	}
	sent := map[string]bool{}
	for _, cp := range copies {
		sent[fmt.Sprintf("%d/%d", cp.src.Partition, cp.src.Offset)] = true
	}
	var returned int
	err = c.readRange(ctx, s.ends, ends, func(r *kgo.Record) {
		if r.Attrs.IsControl() {
			return
		}
		dl := parseDeadLetter(r)
		from, ok := lastHeader(r, headerRedrivenFrom)
		if !ok || !sent[from] || dl.topic != c.events {
			return
		}
		returned++
		fmt.Fprintf(c.stdout, "returned dlq=%d/%d reason=%s key=%q redriven-from=%s\n", r.Partition, r.Offset, dl.kind, r.Key, from)
	}, nil)
	if err != nil {
		return err
	}
	summary := fmt.Sprintf("%d redriven, %d returned to the DLQ (still malformed)", n, returned)
	if behind > 0 {
		summary += fmt.Sprintf(" so far; %d not yet processed by the service", behind)
	}
	fmt.Fprintln(c.stdout, summary)
	s.printSkipped(c.stdout, c.group)
	if behind > 0 {
		return fmt.Errorf("the service (group %s) did not process %s within --wait %v: is catering-match running, with --group %s? The redrive itself is committed: running it again redrives nothing twice",
			c.serviceGroup, nCopies(behind), c.wait, c.serviceGroup)
	}
	return s.heldError()
}

func nCopies(n int) string {
	if n == 1 {
		return "1 copy"
	}
	return fmt.Sprintf("%d copies", n)
}

// waitProcessed waits until group's committed offsets on topic are past
// every copy, and returns how many copies they are not past at the deadline.
func waitProcessed(ctx context.Context, adm *kadm.Client, group, topic string, copies []redrivenCopy, wait time.Duration) (int, error) {
	deadline := time.Now().Add(wait)
	for {
		resp, err := adm.FetchOffsetsForTopics(ctx, group, topic)
		if err == nil {
			err = resp.Error()
		}
		if errors.Is(err, kerr.GroupIDNotFound) {
			resp, err = nil, nil
		}
		if err != nil {
			return 0, fmt.Errorf("fetch the committed offsets of group %s: %w", group, err)
		}
		behind := 0
		for _, cp := range copies {
			if o, ok := resp.Lookup(topic, cp.out.Partition); !ok || o.Err != nil || o.At <= cp.out.Offset {
				behind++
			}
		}
		if behind == 0 || time.Now().After(deadline) {
			return behind, nil
		}
		if err := sleepCtx(ctx, 200*time.Millisecond); err != nil {
			return 0, err
		}
	}
}

// readRange reads c.dlq from from to to (read_committed), calling fn for
// every record, markers included, until every partition is read or done
// says so.
func (c *redriveCmd) readRange(ctx context.Context, from, to map[int32]int64, fn func(*kgo.Record), done func() bool) error {
	consume := map[int32]kgo.Offset{}
	left := map[int32]int64{}
	for p, start := range from {
		if end := to[p]; end > start {
			consume[p] = kgo.NewOffset().At(start)
			left[p] = end
		}
	}
	if len(left) == 0 {
		return nil
	}
	cl, err := c.conn.client(c.stderr,
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{c.dlq: consume}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(),
		kgo.FetchMaxWait(250*time.Millisecond),
	)
	if err != nil {
		return err
	}
	defer cl.Close()
	lastRead := time.Now()
	for len(left) > 0 && (done == nil || !done()) {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		fs := cl.PollFetches(pctx)
		cancel()
		if ctx.Err() != nil {
			return fmt.Errorf("interrupted while reading %s", c.dlq)
		}
		if err := fetchError(fs); err != nil {
			return err
		}
		if fs.NumRecords() == 0 {
			if time.Since(lastRead) > readStall {
				return fmt.Errorf("read nothing from %s for %v (partitions %v not read to their end): is the broker up?", c.dlq, readStall, left)
			}
			continue
		}
		lastRead = time.Now()
		fs.EachRecord(func(r *kgo.Record) {
			end, ok := left[r.Partition]
			if !ok || r.Offset >= end {
				return
			}
			if r.Offset+1 >= end {
				delete(left, r.Partition)
			}
			fn(r)
		})
	}
	return nil
}

// stableEnds returns each partition's end at a moment when no transaction
// is open on it (high watermark = last stable offset): the record before
// it is then one a read_committed reader sees, so the reading knows when
// it is done.
func stableEnds(ctx context.Context, adm *kadm.Client, topic string) (map[int32]int64, error) {
	deadline := time.Now().Add(stableEndWait)
	ends := map[int32]int64{}
	for {
		high, err := adm.ListEndOffsets(ctx, topic)
		if err == nil {
			err = high.Error()
		}
		var stable kadm.ListedOffsets
		if err == nil {
			stable, err = adm.ListCommittedOffsets(ctx, topic)
			if err == nil {
				err = stable.Error()
			}
		}
		if err != nil {
			return nil, fmt.Errorf("list end offsets of %s: %w", topic, err)
		}
		var open []string
		high.Each(func(o kadm.ListedOffset) {
			if _, ok := ends[o.Partition]; ok {
				return
			}
			if s, _ := stable.Lookup(topic, o.Partition); s.Offset == o.Offset {
				ends[o.Partition] = o.Offset
				return
			}
			open = append(open, strconv.Itoa(int(o.Partition)))
		})
		if len(open) == 0 {
			return ends, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%s partitions %s have had a transaction open for %v: a producer may be stuck; try again later", topic, strings.Join(open, ","), stableEndWait)
		}
		if err := sleepCtx(ctx, 100*time.Millisecond); err != nil {
			return nil, err
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// fetchLedgers returns the group's committed offsets (with their metadata)
// on topic's partitions. stable waits out a pending transactional commit
// (there is none once the transactional id is fenced, but a commit still
// being completed is waited for, never read as "no commit").
func fetchLedgers(ctx context.Context, adm *kadm.Client, group, topic string, stable bool) (map[int32]kadm.Offset, error) {
	if stable {
		ctx = kadm.RequireStable(ctx)
	}
	n, err := adm.ListTopics(ctx, topic)
	if err == nil {
		err = n.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("describe %s: %w", topic, err)
	}
	deadline := time.Now().Add(stableEndWait)
	for {
		resp, err := adm.FetchOffsetsForTopics(ctx, group, topic)
		if err == nil {
			err = resp.Error()
		}
		if errors.Is(err, kerr.GroupIDNotFound) {
			resp, err = nil, nil
		}
		if errors.Is(err, kerr.UnstableOffsetCommit) && time.Now().Before(deadline) {
			if err := sleepCtx(ctx, 200*time.Millisecond); err != nil {
				return nil, err
			}
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("fetch the committed offsets of group %s: %w", group, err)
		}
		out := map[int32]kadm.Offset{}
		for _, p := range n[topic].Partitions.Numbers() {
			o := kadm.Offset{Topic: topic, Partition: p, At: -1, LeaderEpoch: -1}
			if r, ok := resp.Lookup(topic, p); ok && r.At >= 0 {
				o = r.Offset
			}
			out[p] = o
		}
		return out, nil
	}
}

// deadLetter is what a DLQ record says about the record it was made from.
type deadLetter struct {
	reason, kind string
	topic        string
	partition    int32
	offset       int64
	headers      []kgo.RecordHeader // the original's own, in order
	problem      string             // why its coordinates cannot be read
}

// parseDeadLetter reads a dead letter. The service appends its four
// headers after the record's own, so the last of each name is the
// service's; earlier ones came with the record. redriven-from headers
// are a redrive's, and are replaced.
func parseDeadLetter(r *kgo.Record) deadLetter {
	last := map[string]int{}
	for i, h := range r.Headers {
		switch h.Key {
		case headerReason, headerTopic, headerPartition, headerOffset:
			last[h.Key] = i
		}
	}
	var d deadLetter
	for i, h := range r.Headers {
		if j, ok := last[h.Key]; (ok && j == i) || h.Key == headerRedrivenFrom {
			continue
		}
		d.headers = append(d.headers, h)
	}
	value := func(k string) (string, bool) {
		i, ok := last[k]
		if !ok {
			return "", false
		}
		return string(r.Headers[i].Value), true
	}
	d.reason, _ = value(headerReason)
	d.kind = reasonKind(d.reason)
	var missing []string
	d.topic, _ = value(headerTopic)
	if d.topic == "" {
		missing = append(missing, headerTopic)
	}
	if s, ok := value(headerPartition); !ok {
		missing = append(missing, headerPartition)
	} else if p, err := strconv.ParseInt(s, 10, 32); err != nil || p < 0 {
		d.problem = fmt.Sprintf("its %s header %q is not a partition number", headerPartition, s)
	} else {
		d.partition = int32(p)
	}
	if s, ok := value(headerOffset); !ok {
		missing = append(missing, headerOffset)
	} else if o, err := strconv.ParseInt(s, 10, 64); err != nil || o < 0 {
		d.problem = fmt.Sprintf("its %s header %q is not an offset", headerOffset, s)
	} else {
		d.offset = o
	}
	if len(missing) > 0 {
		d.problem = "it has no " + strings.Join(missing, ", ") + " header (not a dead letter of catering-match?)"
	}
	return d
}

// copyOf is the record to write back for dead letter r.
func (d deadLetter) copyOf(r *kgo.Record) *kgo.Record {
	hs := make([]kgo.RecordHeader, 0, len(d.headers)+1)
	hs = append(hs, d.headers...)
	hs = append(hs, kgo.RecordHeader{Key: headerRedrivenFrom, Value: []byte(fmt.Sprintf("%d/%d", r.Partition, r.Offset))})
	return &kgo.Record{Topic: d.topic, Partition: d.partition, Key: r.Key, Value: r.Value, Headers: hs}
}

// line describes dead letter r on one line; to is where its copy went.
func (d deadLetter) line(r *kgo.Record, to string) string {
	s := fmt.Sprintf("dlq=%d/%d reason=%s key=%q original=%s/%d/%d", r.Partition, r.Offset, d.kind, r.Key, d.topic, d.partition, d.offset)
	if to != "" {
		s += " redriven=" + to
	}
	return s
}

func lastHeader(r *kgo.Record, key string) (string, bool) {
	for i := len(r.Headers) - 1; i >= 0; i-- {
		if r.Headers[i].Key == key {
			return string(r.Headers[i].Value), true
		}
	}
	return "", false
}

// scan decides, dead letter by dead letter, what a run does, and keeps the
// ledgers of the partitions it reads.
type scan struct {
	kinds      map[string]bool // nil: every kind
	order      string          // "": every order
	dlq        string
	events     string
	eventParts int32
	ends       map[int32]int64 // every DLQ partition's end at start
	parts      map[int32]*dlqPart

	read, redriven, already, unselected atomic.Int64
	total                               int64
	held                                []string // why selected dead letters did not go
	heldN                               int
}

// dlqPart is one DLQ partition a run reads, [start, end).
type dlqPart struct {
	id              int32
	logStart        int64
	start, end      int64
	pos             int64 // next offset to read
	done            bool
	ledger          *ledger
	committedLedger ledgerCommit
}

type ledgerCommit struct {
	offset   int64
	metadata string
}

// load reads the committed ledgers and sets where each partition's
// reading starts.
func (s *scan) load(committed map[int32]kadm.Offset, group string) error {
	for _, id := range s.partIDs() {
		p := s.parts[id]
		o := committed[id]
		base := o.At
		if base < 0 {
			base = p.logStart
		}
		l, err := parseLedger(base, o.Metadata)
		if err != nil {
			return fmt.Errorf("group %s: committed offset on %s partition %d: %w", group, s.dlq, id, err)
		}
		l.begin(p.logStart, p.start)
		p.ledger = l
		p.committedLedger = ledgerCommit{l.offset(), l.encode()}
		p.pos = max(p.start, l.offset())
		if p.pos >= p.end {
			p.done = true
		} else {
			s.total += p.end - p.pos
		}
	}
	return nil
}

func (s *scan) partIDs() []int32 {
	ids := make([]int32, 0, len(s.parts))
	for id := range s.parts {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

func (s *scan) finished() bool {
	for _, p := range s.parts {
		if !p.done {
			return false
		}
	}
	return true
}

// consider looks at one DLQ record, in partition order, and returns its
// copy if it is to be redriven now (and records that in the ledger).
func (s *scan) consider(r *kgo.Record) (*kgo.Record, deadLetter) {
	p := s.parts[r.Partition]
	if p == nil || p.done || r.Offset < p.pos || r.Offset < p.start {
		return nil, deadLetter{}
	}
	if r.Offset >= p.end {
		p.pos, p.done = p.end, true
		return nil, deadLetter{}
	}
	p.pos = r.Offset + 1
	if p.pos >= p.end {
		p.done = true
	}
	s.read.Add(1)
	if r.Attrs.IsControl() {
		return nil, deadLetter{}
	}
	dl := parseDeadLetter(r)
	ln := p.ledger.lane(dl.kind)
	switch {
	case ln.has(r.Offset):
		s.already.Add(1)
		return nil, dl
	case s.kinds != nil && !s.kinds[dl.kind], s.order != "" && string(r.Key) != s.order:
		ln.hold(r.Offset)
		s.unselected.Add(1)
		return nil, dl
	}
	why := dl.problem
	switch {
	case why != "":
	case dl.topic != s.events:
		why = fmt.Sprintf("it came from topic %s, not --events-topic %s (set --events-topic %s to redrive it)", dl.topic, s.events, dl.topic)
	case dl.partition >= s.eventParts:
		why = fmt.Sprintf("it came from partition %d, and %s has only %d partitions", dl.partition, s.events, s.eventParts)
	case !p.ledger.redrive(ln, r.Offset):
		why = fmt.Sprintf("the group's record of scattered redrives on this partition is full (%d bytes): run once without --order and --from to let it shrink", maxLedgerBytes)
	}
	if why != "" {
		ln.hold(r.Offset)
		s.heldN++
		if len(s.held) < maxReported {
			s.held = append(s.held, fmt.Sprintf("dead letter %d/%d (reason=%s key=%q) not redriven: %s", r.Partition, r.Offset, dl.kind, r.Key, why))
		}
		return nil, dl
	}
	return dl.copyOf(r), dl
}

// changed reports whether a ledger differs from its last commit.
func (s *scan) changed() bool {
	for _, p := range s.parts {
		if p.ledger != nil && (ledgerCommit{p.ledger.offset(), p.ledger.encode()}) != p.committedLedger {
			return true
		}
	}
	return false
}

// encodeAll returns the ledger of every partition the run reads, as it is
// now. A transaction commits all of them, changed or not: kgo puts into
// its offset commit every partition whose read position moved, and each
// must carry its latest ledger, never the one the run started from.
func (s *scan) encodeAll() map[int32]ledgerCommit {
	out := map[int32]ledgerCommit{}
	for id, p := range s.parts {
		out[id] = ledgerCommit{p.ledger.offset(), p.ledger.encode()}
	}
	return out
}

func (s *scan) committed(ledgers map[int32]ledgerCommit) {
	for id, lc := range ledgers {
		s.parts[id].committedLedger = lc
	}
}

// advance moves a partition's ledger over what was read.
func (p *dlqPart) advance() { p.ledger.advance(p.pos) }

func (s *scan) reportHeld(w io.Writer) {
	for _, h := range s.held {
		fmt.Fprintln(w, h)
	}
	if s.heldN > len(s.held) {
		fmt.Fprintf(w, "... and %d more not redriven\n", s.heldN-len(s.held))
	}
}

func (s *scan) heldError() error {
	if s.heldN == 0 {
		return nil
	}
	return fmt.Errorf("%s selected but not redriven (see above); they stay in the DLQ, not marked as done", plural(s.heldN, "dead letter"))
}

func (s *scan) printSkipped(w io.Writer, group string) {
	if s.read.Load() == 0 {
		fmt.Fprintf(w, "nothing to read: group %s has been through %s to its end (within the filters)\n", group, s.dlq)
		return
	}
	var parts []string
	if n := s.already.Load(); n > 0 {
		parts = append(parts, fmt.Sprintf("%d already redriven by group %s", n, group))
	}
	if n := s.unselected.Load(); n > 0 {
		parts = append(parts, fmt.Sprintf("%d left out by the filters", n))
	}
	if s.heldN > 0 {
		parts = append(parts, fmt.Sprintf("%d held back", s.heldN))
	}
	if len(parts) > 0 {
		fmt.Fprintf(w, "not redriven: %s\n", strings.Join(parts, ", "))
	}
}

func (s *scan) interrupted(w io.Writer, group string) error {
	fmt.Fprintf(w, "%d redriven before the interrupt\n", s.redriven.Load())
	return fmt.Errorf("interrupted: what is printed above is committed; run again to go on (group %s redrives nothing twice)", group)
}

// progress prints how far the reading got every second until stopped.
func (s *scan) progress(w io.Writer, name string) (stop func()) {
	quit, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-t.C:
				fmt.Fprintf(w, "%s: read %d of %d DLQ offsets; %d redriven, %d already redriven, %d left out\n",
					name, s.read.Load(), s.total, s.redriven.Load(), s.already.Load(), s.unselected.Load())
			}
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { close(quit); <-finished }) }
}

// ledger is what the group remembers about one DLQ partition: for each
// reason kind (a lane), the cursor below which every dead letter of that
// kind is done, and the spans of done ones above it. Done means redriven by
// this group. The group's committed offset is the lowest cursor: a later
// run reads from there. The lanes and spans go into the commit's metadata.
//
// Lanes make --reason safe and cheap: the kinds are disjoint, so a run for
// one kind moves only its lane, and the others still see their dead
// letters. Spans make --order and --from safe: a pick above a pending dead
// letter of its lane is remembered as a span.
type ledger struct {
	rest  lane             // the lane of every kind not in lanes
	lanes map[string]*lane // explicit lanes, by kind
	limit int              // most bytes encode may return
}

type lane struct {
	cursor int64
	spans  []span // sorted, disjoint, above cursor
	// During a run, not encoded: pending says a dead letter of the lane at
	// or above cursor is not done (so cursor stays); open says the last
	// span may grow over what was read since its end.
	pending, open bool
}

// span is the offsets from to to, inclusive.
type span struct{ from, to int64 }

const ledgerVersion = "catering-redrive/1"

// parseLedger reads a committed offset and its metadata.
func parseLedger(offset int64, meta string) (*ledger, error) {
	l := &ledger{rest: lane{cursor: offset}, lanes: map[string]*lane{}, limit: maxLedgerBytes}
	if meta == "" {
		return l, nil // never committed, or reset by a tool: everything below offset is done
	}
	fields := strings.Fields(meta)
	if len(fields) == 0 || fields[0] != ledgerVersion {
		return nil, fmt.Errorf("its metadata %q was not written by catering redrive (%s): the group belongs to another program; choose another --redrive-group", meta, ledgerVersion)
	}
	bad := func(f string) error {
		return fmt.Errorf("cannot read field %q of its metadata %q; choose another --redrive-group", f, meta)
	}
	for _, f := range fields[1:] {
		name, val, ok := strings.Cut(f, "=")
		if !ok || name == "" {
			return nil, bad(f)
		}
		cur, spans, _ := strings.Cut(val, ":")
		c, err := strconv.ParseInt(cur, 10, 64)
		if err != nil || c < 0 {
			return nil, bad(f)
		}
		ln := &lane{cursor: max(c, offset)}
		if spans != "" {
			for _, sp := range strings.Split(spans, ",") {
				a, b, isRange := strings.Cut(sp, "-")
				from, err1 := strconv.ParseInt(a, 10, 64)
				to := from
				var err2 error
				if isRange {
					to, err2 = strconv.ParseInt(b, 10, 64)
				}
				if err1 != nil || err2 != nil || to < from || from < c ||
					(len(ln.spans) > 0 && from <= ln.spans[len(ln.spans)-1].to) {
					return nil, bad(f)
				}
				ln.spans = append(ln.spans, span{from, to})
			}
		}
		ln.merge()
		if name == "*" {
			l.rest = *ln
			continue
		}
		l.lanes[name] = ln
	}
	return l, nil
}

// begin prepares a run that reads from start: a lane whose cursor is
// below it, where dead letters still exist (at or above logStart), may
// have pending ones the run does not see.
func (l *ledger) begin(logStart, start int64) {
	for _, ln := range l.all() {
		ln.pending = max(ln.cursor, logStart) < start
		ln.open = false
	}
}

func (l *ledger) all() []*lane {
	out := []*lane{&l.rest}
	for _, ln := range l.lanes {
		out = append(out, ln)
	}
	return out
}

// lane returns the lane of kind, made from rest if it has none yet.
func (l *ledger) lane(kind string) *lane {
	if ln, ok := l.lanes[kind]; ok {
		return ln
	}
	ln := &lane{cursor: l.rest.cursor, pending: l.rest.pending}
	l.lanes[kind] = ln
	return ln
}

// offset is the group's offset: the lowest cursor.
func (l *ledger) offset() int64 {
	o := l.rest.cursor
	for _, ln := range l.lanes {
		o = min(o, ln.cursor)
	}
	return o
}

// has reports whether the dead letter at off, of this lane, is done.
func (ln *lane) has(off int64) bool {
	if off < ln.cursor {
		return true
	}
	for _, s := range ln.spans {
		if off >= s.from && off <= s.to {
			return true
		}
	}
	return false
}

// hold notes a dead letter of the lane at off that is not done: the
// cursor stops there.
func (ln *lane) hold(off int64) {
	if !ln.pending {
		ln.cursor = max(ln.cursor, off)
		ln.pending = true
	}
	ln.open = false
}

// redrive marks the dead letter at off, of lane ln, as done. It returns
// false, changing nothing, when the ledger would outgrow its limit.
func (l *ledger) redrive(ln *lane, off int64) bool {
	if !ln.pending {
		ln.cursor = max(ln.cursor, off+1)
		ln.merge()
		return true
	}
	saved := slices.Clone(ln.spans)
	if n := len(ln.spans); ln.open && n > 0 && ln.spans[n-1].to < off {
		ln.spans[n-1].to = off // nothing of the lane was pending in between
	} else {
		ln.spans = append(ln.spans, span{off, off})
	}
	if len(l.encode()) > l.limit {
		ln.spans = saved
		return false
	}
	ln.open = true
	return true
}

// advance moves every lane without a pending dead letter to pos, the
// offset after the last one read.
func (l *ledger) advance(pos int64) {
	for _, ln := range l.all() {
		if !ln.pending {
			ln.cursor = max(ln.cursor, pos)
		}
		ln.merge()
	}
}

// merge drops the spans below the cursor and takes in those that reach it.
func (ln *lane) merge() {
	for len(ln.spans) > 0 && ln.spans[0].from <= ln.cursor {
		ln.cursor = max(ln.cursor, ln.spans[0].to+1)
		ln.spans = ln.spans[1:]
	}
	if len(ln.spans) == 0 {
		ln.spans = nil
	}
}

// encode is the metadata of the ledger's commit: the version, rest's
// cursor (*) when it is not the offset, and each lane that differs from
// rest, sorted.
func (l *ledger) encode() string {
	var b strings.Builder
	b.WriteString(ledgerVersion)
	off := l.offset()
	if l.rest.cursor != off {
		fmt.Fprintf(&b, " *=%d", l.rest.cursor)
	}
	names := make([]string, 0, len(l.lanes))
	for name, ln := range l.lanes {
		if ln.cursor != l.rest.cursor || len(ln.spans) > 0 {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	for _, name := range names {
		ln := l.lanes[name]
		fmt.Fprintf(&b, " %s=%d", name, ln.cursor)
		for i, s := range ln.spans {
			sep := ","
			if i == 0 {
				sep = ":"
			}
			if s.from == s.to {
				fmt.Fprintf(&b, "%s%d", sep, s.from)
			} else {
				fmt.Fprintf(&b, "%s%d-%d", sep, s.from, s.to)
			}
		}
	}
	return b.String()
}

// fetchError is the first error of a poll, other than the end of the
// poll's own deadline or cancellation.
func fetchError(fs kgo.Fetches) error {
	var fetchErr error
	fs.EachError(func(t string, p int32, err error) {
		if fetchErr == nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
			fetchErr = fmt.Errorf("read %s partition %d: %w", t, p, err)
		}
	})
	return fetchErr
}
