package processor

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics exposes the processor on Prometheus: counters read from Stats,
// and gauges computed at scrape time on the loop goroutine, so that they
// cost nothing between scrapes.
type metrics[S any] struct {
	p             *Processor[S]
	txnDuration   prometheus.Histogram
	eventToCommit prometheus.Histogram
	match         prometheus.Histogram

	mu      sync.Mutex
	restore map[int32]restoreStat // the last restore of each partition

	descs map[string]*prometheus.Desc
}

type restoreStat struct {
	took    time.Duration
	records int64
}

func newMetrics[S any](p *Processor[S]) *metrics[S] {
	namespace := p.cfg.Namespace
	m := &metrics[S]{
		p: p,
		txnDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: namespace, Name: "transaction_duration_seconds",
			Help:    "Time from Begin to the end of each transaction (commit or abort).",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}),
		eventToCommit: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: namespace, Name: "event_to_commit_seconds",
			Help:    "Time from an input record's timestamp to the commit of the transaction that processed it.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
		}),
		match: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: namespace, Name: "match_seconds",
			Help:    "Processing time from a process's first event to its decision (a match or its deadline), per committed decision.",
			Buckets: prometheus.ExponentialBuckets(0.01, 4, 16),
		}),
		restore: map[int32]restoreStat{},
		descs:   map[string]*prometheus.Desc{},
	}
	d := func(name, help string, labels ...string) {
		m.descs[name] = prometheus.NewDesc(namespace+"_"+name, help, labels, nil)
	}
	d("events_applied_total", "Events that entered a process's history.")
	d("events_skipped_total", "Events skipped, by reason: duplicate, terminal (process finished), other_type.", "reason")
	d("events_dead_lettered_total", "Records written to the DLQ, by reason kind.", "reason")
	d("commands_issued_total", "Records the process's decisions emitted (commands), committed.")
	d("processes_expired_total", "Processes decided by their deadline.")
	d("processes_forgotten_total", "Terminal processes tombstoned after their retention.")
	d("transactions_total", "Transactions by outcome: committed, aborted, unknown (End failed; session rebuilt).", "outcome")
	d("session_restarts_total", "Client sessions rebuilt after an error.")
	d("restore_duration_seconds", "Duration of the last restore of each partition.", "partition")
	d("restore_records", "Changelog records read by the last restore of each partition.", "partition")
	d("processes_restored_total", "Processes loaded from the changelog.")
	d("live_processes", "Live processes held by this instance, by status.", "status")
	d("oldest_pending_age_seconds", "Age of the oldest pending process held by this instance (0 if none).")
	d("consumer_lag", "Records of the events topic not processed yet, per assigned partition.", "partition")
	d("ready", "1 when joined and every assigned partition is restored.")
	d("partitions_held", "Input partitions this instance holds (state, timers or a restore): its current assignment.")
	return m
}

func (m *metrics[S]) register(reg prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{m.txnDuration, m.eventToCommit, m.match, m} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

func (m *metrics[S]) restored(part int32, took time.Duration, records int64) {
	m.mu.Lock()
	m.restore[part] = restoreStat{took: took, records: records}
	m.mu.Unlock()
}

// Describe implements prometheus.Collector.
func (m *metrics[S]) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range m.descs {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (m *metrics[S]) Collect(ch chan<- prometheus.Metric) {
	s := &m.p.stats
	counter := func(name string, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(m.descs[name], prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(name string, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(m.descs[name], prometheus.GaugeValue, v, labels...)
	}
	counter("events_applied_total", s.Applied.Load())
	counter("events_skipped_total", s.SkippedDuplicate.Load(), "duplicate")
	counter("events_skipped_total", s.SkippedTerminal.Load(), "terminal")
	counter("events_skipped_total", s.SkippedOtherType.Load(), "other_type")
	for kind, n := range s.DeadLetteredByKind() {
		counter("events_dead_lettered_total", n, kind)
	}
	counter("commands_issued_total", s.CommandsIssued.Load())
	counter("processes_expired_total", s.Expired.Load())
	counter("processes_forgotten_total", s.Forgotten.Load())
	counter("transactions_total", s.TxnCommitted.Load(), "committed")
	counter("transactions_total", s.TxnAborted.Load(), "aborted")
	counter("transactions_total", s.TxnUnknown.Load(), "unknown")
	counter("session_restarts_total", s.SessionRestarts.Load())
	counter("processes_restored_total", s.Restored.Load())
	ready := 0.0
	if m.p.Ready() {
		ready = 1
	}
	gauge("ready", ready)
	gauge("partitions_held", float64(len(m.p.Held())))
	m.mu.Lock()
	for part, r := range m.restore {
		p := strconv.Itoa(int(part))
		gauge("restore_duration_seconds", r.took.Seconds(), p)
		gauge("restore_records", float64(r.records), p)
	}
	m.mu.Unlock()

	// Live state is the loop's: ask it, briefly. The counts and the oldest
	// pending process are kept as processes change (see Processor.count and
	// dueQueue.oldestPending): a scrape visits no process but the oldest.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	byStatus := map[string]int{}
	lag := map[int32]int64{}
	var oldest time.Time
	err := m.p.eachMember(ctx, func(mb *member[S]) {
		for id, pt := range mb.parts {
			if pt.store == nil {
				continue
			}
			if pt.highWatermark > 0 {
				lag[id] = max(0, pt.highWatermark-pt.next)
			}
			for _, c := range pt.tally {
				byStatus[c.status] += c.n
			}
			if first, ok := m.p.oldestPending(pt); ok && (oldest.IsZero() || first.Before(oldest)) {
				oldest = first
			}
		}
	})
	if err != nil {
		return // not running: no live gauges rather than wrong ones
	}
	for _, st := range m.p.def.Statuses {
		if _, ok := byStatus[st]; !ok {
			byStatus[st] = 0 // a series per known status, zeros included
		}
	}
	for st, n := range byStatus {
		gauge("live_processes", float64(n), st)
	}
	age := 0.0
	if !oldest.IsZero() {
		age = m.p.clock().Sub(oldest).Seconds()
	}
	gauge("oldest_pending_age_seconds", age)
	for id, n := range lag {
		gauge("consumer_lag", float64(n), strconv.Itoa(int(id)))
	}
}
