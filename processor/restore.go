package processor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/catering-match/catering-match/state"
)

// restorer rebuilds a partition's processes from the changelog.
//
// It reads with its own Fetch requests rather than a consumer so that it
// knows its exact position: a read_committed consumer never returns the
// transaction markers and aborted batches at the tail of a changelog, nor
// the offsets compaction removed, and a restore that waits for "the record
// at end-1" hangs on them. Here the position moves past them, and the
// restore ends the moment it reaches the target offset.
type restorer[S any] struct {
	cl      *kgo.Client
	adm     *kadm.Client
	topic   string
	codec   Codec
	manager *state.Manager[S]
	log     *slog.Logger
	decomp  kgo.Decompressor
	// summary, when set, makes a restore also build the due queue and the
	// status tally of what it restores (a session's restore; LoadPartition
	// does the same work, though it returns the store only): the
	// definition's Summary of each history, taken while the records are
	// read. The store keeps histories packed, and reading every process
	// back out of it would decode it a second time.
	summary func(history []state.Entry) (status string, terminal bool)
}

type restoreResult[S any] struct {
	store   *state.Store[S]
	due     *dueQueue // built by the session's restore, not for LoadPartition
	tally   tally     // processes by status, likewise
	records int64
	took    time.Duration
}

func newRestorer[S any](cl *kgo.Client, topic string, codec Codec, m *state.Manager[S], log *slog.Logger) *restorer[S] {
	return &restorer[S]{cl: cl, adm: kadm.NewClient(cl), topic: topic, codec: codec, manager: m, log: log, decomp: kgo.DefaultDecompressor()}
}

// restore reads changelog partition p from its start to its stable end.
//
// The end is taken once no transaction that was open when the restore began
// is still open: the only writer of changelog partition p is the owner of
// input partition p, so an open transaction there belongs to a previous
// owner (or to this instance before a session restart) and must resolve
// before its outcome can be read. Without this wait a commit that lands a
// moment later would hold offsets that skip events whose state the restore
// did not see.
func (r *restorer[S]) restore(ctx context.Context, p int32) (restoreResult[S], error) {
	start := time.Now()
	from, target, err := r.bounds(ctx, p)
	if err != nil {
		return restoreResult[S]{}, err
	}
	// A compacted changelog holds about one record per process: room for
	// them in the loader's notes and the due queue, capped so that a
	// changelog not compacted yet (or one of many tombstones) does not
	// reserve much more than its processes need.
	size := int(min(target-from, 1<<20))
	store := state.NewStore(r.manager.Projection())
	res := restoreResult[S]{store: store}
	if r.summary != nil {
		res.due = &dueQueue{deadlines: make(dueHeap, 0, size)}
	}
	// Each record is decoded into views of its fetched bytes where the
	// codec can (ViewCodec) and appended to the store's chunks; its status
	// and timer are noted from the definition's Summary. The loader then
	// keeps the newest record of every key and builds the index in order
	// (state.Loader): nothing is allocated per record that outlives the
	// restore, nothing is decoded twice, and a store of millions of
	// processes is not built by random inserts.
	view, _ := r.codec.(ViewCodec)
	ld := store.NewLoader(size)
	var history []state.Entry
	var statuses []string // by the index a LoadInfo carries
	var at leader
	offset := from
	for offset < target {
		fp, next, err := r.fetch(ctx, p, offset, &at)
		if err != nil {
			return res, err
		}
		for _, rec := range fp.Records {
			if rec.Offset >= target {
				break
			}
			res.records++
			if rec.Value == nil { // tombstone: the process was forgotten
				ld.Remove(rec.Key)
				continue
			}
			var key string
			if view != nil {
				key, history, err = view.DecodeView(rec.Key, rec.Value, history[:0])
			} else {
				key, history, err = r.codec.Decode(rec.Key, rec.Value)
			}
			if err != nil {
				return res, &corruptRecordError{fmt.Errorf("restore %s partition %d offset %d: %w (to skip this record, write a tombstone for key %q)", r.topic, p, rec.Offset, err, rec.Key)}
			}
			var info state.LoadInfo
			if r.summary != nil {
				info, statuses = r.note(history, statuses)
			}
			ld.Add(key, history, info)
		}
		offset = max(offset, next)
	}
	ld.Finish(func(hash uint64, info state.LoadInfo) {
		if r.summary == nil {
			return
		}
		res.tally.add(statuses[info.Meta>>2], 1)
		if info.Meta&metaDue != 0 {
			h := res.due.heapOf(info.Meta&metaEnded != 0)
			*h = append(*h, dueEntry{at: info.At, hash: hash}) // a heap once the restore ends
		}
	})
	if res.due != nil {
		res.due.deadlines.init()
		res.due.ends.init()
	}
	res.took = time.Since(start)
	return res, nil
}

// The bits of a restore's state.LoadInfo.Meta below the status index.
const (
	metaDue   = 1 << 0 // At is the process's next due time
	metaEnded = 1 << 1 // ... the end of its retention, not its deadline
)

// note is what a restore keeps of a record until the loader has found the
// newest of its key: its status (an index in statuses, which it may grow)
// and its next due time.
func (r *restorer[S]) note(history []state.Entry, statuses []string) (state.LoadInfo, []string) {
	status, terminal := r.summary(history)
	i := slices.Index(statuses, status)
	if i < 0 {
		i = len(statuses)
		statuses = append(statuses, status)
	}
	info := state.LoadInfo{Meta: uint32(i) << 2}
	if at, ended, ok := r.manager.DueTerminal(history, terminal); ok {
		info.At, info.Meta = int64(at), info.Meta|metaDue
		if ended {
			info.Meta |= metaEnded
		}
	}
	return info, statuses
}

// corruptRecordError is a changelog record this build cannot decode: every
// restore would stop at it again, so it stops the service for an operator.
// Other restore errors (a broker away, a timeout) only restart the session.
type corruptRecordError struct{ err error }

func (e *corruptRecordError) Error() string { return e.err.Error() }
func (e *corruptRecordError) Unwrap() error { return e.err }

// bounds returns the offsets to read between: the log start and the last
// stable offset, once every transaction open at the first look has ended.
func (r *restorer[S]) bounds(ctx context.Context, p int32) (from, target int64, err error) {
	high0 := int64(-1)
	waitingSince := time.Now()
	lastLog := waitingSince
	for {
		starts, err := r.adm.ListStartOffsets(ctx, r.topic)
		if err == nil {
			err = starts.Error()
		}
		if err != nil {
			return 0, 0, fmt.Errorf("list start offsets of %s: %w", r.topic, err)
		}
		ends, err := r.adm.ListEndOffsets(ctx, r.topic)
		if err == nil {
			err = ends.Error()
		}
		if err != nil {
			return 0, 0, fmt.Errorf("list end offsets of %s: %w", r.topic, err)
		}
		stable, err := r.adm.ListCommittedOffsets(ctx, r.topic)
		if err == nil {
			err = stable.Error()
		}
		if err != nil {
			return 0, 0, fmt.Errorf("list stable offsets of %s: %w", r.topic, err)
		}
		s, okS := starts.Lookup(r.topic, p)
		e, okE := ends.Lookup(r.topic, p)
		l, okL := stable.Lookup(r.topic, p)
		if !okS || !okE || !okL {
			return 0, 0, fmt.Errorf("changelog %s has no partition %d: is it co-partitioned with the events topic?", r.topic, p)
		}
		if high0 < 0 {
			high0 = e.Offset
		}
		if l.Offset >= high0 {
			return s.Offset, l.Offset, nil
		}
		if time.Since(lastLog) > 5*time.Second {
			lastLog = time.Now()
			r.log.Info("restore waits for an open transaction on the changelog to end",
				"partition", p, "stable_offset", l.Offset, "end_offset", high0, "waiting", time.Since(waitingSince).Round(time.Second).String())
		}
		select {
		case <-ctx.Done():
			return 0, 0, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// leader is where a restore fetches a changelog partition from: looked up
// once, and again after any failed fetch.
type leader struct {
	known   bool
	broker  int32
	topicID [16]byte
}

// fetch issues one read_committed Fetch for partition p at offset and returns
// the records with the offset to fetch next.
func (r *restorer[S]) fetch(ctx context.Context, p int32, offset int64, at *leader) (kgo.FetchPartition, int64, error) {
	for attempt := 0; ; attempt++ {
		fp, next, err := r.fetchOnce(ctx, p, offset, at)
		if err == nil {
			return fp, next, nil
		}
		at.known = false
		if ctx.Err() != nil {
			return fp, 0, ctx.Err()
		}
		// Leader moves, a restarting broker and dropped connections pass;
		// anything else (a corrupt batch, an authorization error) does not.
		var netErr net.Error
		retriable := kerr.IsRetriable(err) || errors.As(err, &netErr) || errors.Is(err, io.EOF) ||
			errors.Is(err, kerr.UnknownTopicID) || errors.Is(err, kerr.UnknownTopicOrPartition)
		if !retriable || attempt >= 20 {
			return fp, 0, fmt.Errorf("restore %s partition %d at offset %d: %w", r.topic, p, offset, err)
		}
		r.log.Debug("restore fetch retry", "partition", p, "offset", offset, "err", err)
		select {
		case <-ctx.Done():
			return fp, 0, ctx.Err()
		case <-time.After(time.Duration(100*(attempt+1)) * time.Millisecond):
		}
	}
}

func (r *restorer[S]) fetchOnce(ctx context.Context, p int32, offset int64, at *leader) (kgo.FetchPartition, int64, error) {
	if !at.known {
		meta, err := r.adm.ListTopics(ctx, r.topic)
		if err != nil {
			return kgo.FetchPartition{}, 0, err
		}
		td, ok := meta[r.topic]
		if !ok || td.Err != nil {
			return kgo.FetchPartition{}, 0, fmt.Errorf("describe %s: %w", r.topic, kerr.UnknownTopicOrPartition)
		}
		pd, ok := td.Partitions[p]
		if !ok || pd.Leader < 0 {
			return kgo.FetchPartition{}, 0, kerr.LeaderNotAvailable
		}
		*at = leader{known: true, broker: pd.Leader, topicID: td.ID}
	}

	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID = -1
	req.MaxWaitMillis = 250
	req.MinBytes = 1
	req.MaxBytes = 64 << 20
	req.IsolationLevel = 1 // read_committed
	req.SessionEpoch = -1  // no fetch session
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = r.topic
	rt.TopicID = at.topicID
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition = p
	rp.FetchOffset = offset
	rp.PartitionMaxBytes = restoreFetchBytes
	rp.CurrentLeaderEpoch = -1
	rp.LogStartOffset = -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)

	kresp, err := r.cl.Broker(int(at.broker)).RetriableRequest(ctx, req)
	if err != nil {
		return kgo.FetchPartition{}, 0, err
	}
	resp := kresp.(*kmsg.FetchResponse)
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return kgo.FetchPartition{}, 0, err
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		return kgo.FetchPartition{}, offset, nil // nothing for us this time
	}
	got := &resp.Topics[0].Partitions[0]
	fp, next := kgo.ProcessFetchPartition(kgo.ProcessFetchPartitionOpts{
		Offset:         offset,
		IsolationLevel: kgo.ReadCommitted(),
		Topic:          r.topic,
		Partition:      p,
	}, got, r.decomp, nil)
	if fp.Err != nil {
		if errors.Is(fp.Err, kerr.OffsetOutOfRange) && offset < fp.LogStartOffset {
			// Retention or DeleteRecords moved the start while we read:
			// what is gone is gone for every reader; go on from the start.
			return fp, fp.LogStartOffset, nil
		}
		return fp, 0, fp.Err
	}
	return fp, next, nil
}

// restoreFetchBytes is the most a restore fetches of a partition at once.
// Larger fetches cost more than they save: the broker builds the response
// in a buffer that grows by copying, and each is a fresh allocation for the
// garbage collector.
const restoreFetchBytes int32 = 1 << 20

// LoadPartition reads changelog partition p to its stable end and returns
// its processes, as a restore does: for tools and queries that need the
// state of partitions this instance does not own. cl needs only seed
// brokers (and security options); it is not a group member.
func LoadPartition[S any](ctx context.Context, cl *kgo.Client, def Definition[S], changelog string, p int32, limits state.Limits, log *slog.Logger) (*state.Store[S], error) {
	def, err := def.WithDefaults()
	if err != nil {
		return nil, err
	}
	m, err := state.NewManager(def.Process, limits)
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := newRestorer(cl, changelog, def.Codec, m, log)
	// The same work as a session's restore, due queue and tally included,
	// though only the store is returned: the bench times this function as
	// the restore, so it must not be the cheaper one.
	r.summary = def.Summary
	res, err := r.restore(ctx, p)
	if err != nil {
		return nil, err
	}
	return res.store, nil
}
