// Package bench measures the service against the limits of the broker it
// runs on: processing throughput with exactly-once, end-to-end latency,
// restore from the changelog, and heap per live process. Each figure is
// taken beside a baseline measured in the same run on the same broker and
// partitions (a trivial transactional copy loop, a plain read of the
// changelog), printed as a ratio to it, and checked against its target.
//
// The phases, in order:
//  1. memory: M pending processes with two events each are built in
//     state.Stores through state.Manager.Apply, as the processor does; heap
//     after GC before and after, divided by M.
//  2. publish: N orders' events (see workload.go for the mix) are written
//     up front to the service's events topic and to the copy loop's input.
//  3. EOS throughput: processor.New + Run; time from Run until the
//     processor's Stats account for every record.
//  4. EOS latency: events are produced at a fixed rate; a read_committed
//     consumer of the commands topic matches each ConfirmOrder to the
//     produce time of its causation event.
//  5. copy-loop throughput and latency: the same two measures for a
//     GroupTransactSession that copies each input record to an output topic.
//  6. restore: the changelog (topped up with pending processes to at least
//     K processes) is read plainly by a read_committed consumer, then
//     rebuilt with processor.LoadPartition on all partitions at once.
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kslog"

	"github.com/catering-match/catering-match/internal/embedded"
	"github.com/catering-match/catering-match/processor"
	"github.com/catering-match/catering-match/topics"
)

// Options configure a run. Zero values take the defaults DefaultOptions
// documents.
type Options struct {
	// Brokers are seed brokers; empty starts an in-process embedded broker
	// (kfake) on a free port for the run.
	Brokers []string
	// ClientOpts are extra options for every client (TLS, SASL).
	ClientOpts []kgo.Opt
	// Orders is the number of orders published up front (default 20000).
	Orders int
	// Partitions of the topics the run creates (default 6).
	Partitions int32
	// MaxPollRecords for the processor and the copy loop (default 1000,
	// the processor's default).
	MaxPollRecords int
	// LatencyRate is the produce rate of the latency phase in events/s;
	// 0: half the measured EOS throughput.
	LatencyRate float64
	// LatencyDuration is how long events are produced at LatencyRate
	// (default 5s).
	LatencyDuration time.Duration
	// RestoreProcesses is the least number of processes the changelog holds
	// when it is restored; it is topped up with pending processes when the
	// run made fewer. 0: 10 × Orders.
	RestoreProcesses int
	// MemoryProcesses is the number of pending processes built for the
	// heap measurement. 0: 10 × Orders.
	MemoryProcesses int
	// Seed makes the workload reproducible; 0 picks one.
	Seed uint64
	// CPUProfileDir, when set, receives one CPU profile per phase
	// (<phase>.pprof).
	CPUProfileDir string
	// Logger receives the processor's and clients' logs; nil discards them.
	Logger *slog.Logger
}

// DefaultOptions returns the defaults.
func DefaultOptions() Options {
	return Options{
		Orders:          20000,
		Partitions:      6,
		MaxPollRecords:  processor.DefaultConfig().MaxPollRecords,
		LatencyDuration: 5 * time.Second,
	}
}

func (o Options) withDefaults() (Options, error) {
	d := DefaultOptions()
	if o.Orders == 0 {
		o.Orders = d.Orders
	}
	if o.Partitions == 0 {
		o.Partitions = d.Partitions
	}
	if o.MaxPollRecords == 0 {
		o.MaxPollRecords = d.MaxPollRecords
	}
	if o.LatencyDuration == 0 {
		o.LatencyDuration = d.LatencyDuration
	}
	if o.RestoreProcesses == 0 {
		o.RestoreProcesses = max(1000, 10*o.Orders)
	}
	if o.MemoryProcesses == 0 {
		o.MemoryProcesses = max(1000, 10*o.Orders)
	}
	if o.Seed == 0 {
		o.Seed = rand.Uint64() | 1
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	var errs []error
	if o.Orders < 1 {
		errs = append(errs, fmt.Errorf("orders %d must be at least 1", o.Orders))
	}
	if o.Partitions < 1 {
		errs = append(errs, fmt.Errorf("partitions %d must be at least 1", o.Partitions))
	}
	if o.MaxPollRecords < 1 {
		errs = append(errs, fmt.Errorf("max poll records %d must be at least 1", o.MaxPollRecords))
	}
	if o.LatencyRate < 0 {
		errs = append(errs, fmt.Errorf("latency rate %v must not be negative (0: half the measured throughput)", o.LatencyRate))
	}
	if o.LatencyDuration < 0 {
		errs = append(errs, fmt.Errorf("latency duration %v must be positive", o.LatencyDuration))
	}
	if o.RestoreProcesses < 0 || o.MemoryProcesses < 0 {
		errs = append(errs, errors.New("restore and memory processes must not be negative"))
	}
	return o, errors.Join(errs...)
}

// Results are a run's figures. Rates are per second, latencies in
// milliseconds, sizes in bytes.
type Results struct {
	Broker         string     `json:"broker"`
	Partitions     int32      `json:"partitions"`
	Orders         int        `json:"orders"`
	Events         int        `json:"events"`
	Mix            Mix        `json:"mix"`
	MaxPollRecords int        `json:"max_poll_records"`
	Seed           uint64     `json:"seed"`
	Throughput     Throughput `json:"throughput"`
	Latency        Latency    `json:"latency"`
	Restore        Restore    `json:"restore"`
	Memory         Memory     `json:"memory"`
	Targets        []Target   `json:"targets"`
	Seconds        float64    `json:"seconds"` // the whole run
}

// Throughput is the EOS processing throughput and its copy-loop baseline.
type Throughput struct {
	Records int64 `json:"records"`
	// Seconds from processor.Run until Stats account for every record
	// (Applied+SkippedDuplicate+SkippedTerminal+SkippedOtherType+DeadLettered).
	Seconds float64 `json:"seconds"`
	// StartupSeconds from Run until Ready (joined, partitions restored).
	StartupSeconds   float64 `json:"startup_seconds"`
	EventsPerSec     float64 `json:"events_per_sec"`
	Transactions     int64   `json:"transactions"`
	Applied          int64   `json:"applied"`
	SkippedDuplicate int64   `json:"skipped_duplicate"`
	SkippedTerminal  int64   `json:"skipped_terminal"`
	SkippedOtherType int64   `json:"skipped_other_type"`
	DeadLettered     int64   `json:"dead_lettered"`
	CommandsIssued   int64   `json:"commands_issued"`
	CommandsExpected int64   `json:"commands_expected"` // by the state model
	Baseline         Copy    `json:"baseline_copy_loop"`
	Ratio            float64 `json:"ratio"` // EventsPerSec / Baseline.RecordsPerSec
}

// Copy is the copy loop's throughput over the same records.
type Copy struct {
	Seconds        float64 `json:"seconds"` // session created -> all copies committed
	StartupSeconds float64 `json:"startup_seconds"`
	RecordsPerSec  float64 `json:"records_per_sec"`
	Transactions   int64   `json:"transactions"`
}

// Latency is produce -> visible read_committed at a fixed rate.
type Latency struct {
	RatePerSec float64 `json:"rate_per_sec"`
	Seconds    float64 `json:"seconds"` // producing
	Orders     int     `json:"orders"`
	Events     int     `json:"events"`
	Percentiles
	// CommitIntervalMs is the processor's mean time between committed
	// transactions while events were produced: the cadence at which
	// results become visible.
	CommitIntervalMs float64     `json:"commit_interval_ms"`
	RecordsPerTxn    float64     `json:"records_per_txn"`
	LimitMs          float64     `json:"limit_ms"` // CommitIntervalMs + 50
	Baseline         CopyLatency `json:"baseline_copy_loop"`
	RatioP50         float64     `json:"ratio_p50"`
	RatioP99         float64     `json:"ratio_p99"`
}

// Percentiles of a latency sample, in ms. Samples counts the matched
// outputs (ConfirmOrder commands, or copies).
type Percentiles struct {
	Samples int     `json:"samples"`
	P50Ms   float64 `json:"p50_ms"`
	P99Ms   float64 `json:"p99_ms"`
	MaxMs   float64 `json:"max_ms"`
}

// CopyLatency is the copy loop's latency at the same rate.
type CopyLatency struct {
	Percentiles
	CommitIntervalMs float64 `json:"commit_interval_ms"`
	MeanTxnMs        float64 `json:"mean_txn_ms"` // Begin -> End
}

// Restore is the rebuild of the processes from the changelog.
type Restore struct {
	Method              string  `json:"method"`
	Processes           int     `json:"processes"`
	TopUp               int     `json:"top_up"` // synthetic pending processes added to the changelog
	Records             int64   `json:"records"`
	Seconds             float64 `json:"seconds"`
	ProcessesPerSec     float64 `json:"processes_per_sec"`
	RecordsPerSec       float64 `json:"records_per_sec"`
	HeapBytes           int64   `json:"heap_bytes"`
	HeapBytesPerProcess float64 `json:"heap_bytes_per_process"`
	Baseline            RawRead `json:"baseline_raw_read"`
	Ratio               float64 `json:"ratio"` // RecordsPerSec / Baseline.RecordsPerSec
}

// RawRead is a plain read_committed read of the whole changelog.
type RawRead struct {
	Records       int64   `json:"records"`
	Seconds       float64 `json:"seconds"`
	RecordsPerSec float64 `json:"records_per_sec"`
}

// Memory is the heap held per live pending process.
type Memory struct {
	Processes        int     `json:"processes"`
	EventsPerProcess int     `json:"events_per_process"`
	HeapBytes        int64   `json:"heap_bytes"`
	BytesPerProcess  float64 `json:"bytes_per_process"`
}

// Target is one goal and whether the run met it. Checked is false when
// the run was not of the size the target speaks of.
type Target struct {
	Name    string  `json:"name"`
	Metric  string  `json:"metric"`
	Value   float64 `json:"value"`
	Op      string  `json:"op"` // ">=" or "<="
	Limit   float64 `json:"limit"`
	Checked bool    `json:"checked"`
	Met     bool    `json:"met"`
	Note    string  `json:"note,omitempty"`
}

// AllMet reports whether every checked target was met.
func (r Results) AllMet() bool {
	for _, t := range r.Targets {
		if t.Checked && !t.Met {
			return false
		}
	}
	return true
}

// runner holds what the phases share.
type runner struct {
	o         Options
	seeds     []kgo.Opt // seed brokers + o.ClientOpts
	brokers   []string
	names     topics.Names
	copyIn    string
	copyOut   string
	group     string
	prog      progress
	res       *Results
	adm       *kadm.Client
	phase1    *workload
	latencyWL *workload
	proc      *runningProcessor
	copyLoop  *copyLoop
}

// Run runs every phase and returns the results. progress (stderr; nil
// for none) receives a bar per phase.
func Run(ctx context.Context, o Options, progressW io.Writer) (Results, error) {
	o, err := o.withDefaults()
	if err != nil {
		return Results{}, err
	}
	began := time.Now()
	res := Results{Partitions: o.Partitions, Orders: o.Orders, MaxPollRecords: o.MaxPollRecords, Seed: o.Seed}
	r := &runner{o: o, prog: progress{w: progressW}, res: &res}
	if o.CPUProfileDir != "" {
		if err := os.MkdirAll(o.CPUProfileDir, 0o755); err != nil {
			return res, fmt.Errorf("cpu profile directory: %w", err)
		}
	}

	if err := r.profiled("memory", func() error { return r.memory() }); err != nil {
		return res, fmt.Errorf("memory: %w", err)
	}

	r.brokers = o.Brokers
	if len(r.brokers) == 0 {
		b, err := embedded.StartAnyPort(embedded.Options{})
		if err != nil {
			return res, err
		}
		defer b.Close()
		r.brokers = []string{b.Addr()}
		res.Broker = "embedded kfake " + b.Addr()
	} else {
		res.Broker = strings.Join(r.brokers, ",")
	}
	r.seeds = append([]kgo.Opt{kgo.SeedBrokers(r.brokers...), kgo.WithLogger(kslog.New(o.Logger))}, o.ClientOpts...)
	admCl, err := kgo.NewClient(r.seeds...)
	if err != nil {
		return res, fmt.Errorf("kafka client: %w", err)
	}
	defer admCl.Close()
	r.adm = kadm.NewClient(admCl)

	id := fmt.Sprintf("%d-%04x", time.Now().Unix(), rand.IntN(1<<16))
	r.group = "catering-bench-" + id
	r.names = topics.Names{
		Events:    r.group + "-events",
		Commands:  r.group + "-commands",
		Changelog: r.group + "-changelog",
		DLQ:       r.group + "-dlq",
	}
	r.copyIn, r.copyOut = r.group+"-copy-in", r.group+"-copy-out"
	if len(o.Brokers) > 0 {
		defer r.deleteTopics()
	}
	if err := r.createTopics(ctx, admCl); err != nil {
		return res, err
	}

	steps := []struct {
		name string
		fn   func(context.Context) error
	}{
		{"publish", r.publish},
		{"eos-throughput", r.eosThroughput},
		{"eos-latency", r.eosLatency},
		{"copy-throughput", r.copyThroughput},
		{"copy-latency", r.copyLatency},
		{"restore", r.restore},
	}
	defer r.stopAll()
	for _, s := range steps {
		if err := r.profiled(s.name, func() error { return s.fn(ctx) }); err != nil {
			if ctx.Err() != nil {
				return res, fmt.Errorf("%s: interrupted: %w", s.name, ctx.Err())
			}
			return res, fmt.Errorf("%s: %w", s.name, err)
		}
	}
	res.Targets = targets(res)
	res.Seconds = time.Since(began).Seconds()
	return res, nil
}

// profiled runs fn, under a CPU profile when CPUProfileDir is set.
func (r *runner) profiled(name string, fn func() error) error {
	if r.o.CPUProfileDir == "" {
		return fn()
	}
	f, err := os.Create(filepath.Join(r.o.CPUProfileDir, name+".pprof"))
	if err != nil {
		return err
	}
	defer f.Close()
	if err := pprof.StartCPUProfile(f); err != nil {
		return err
	}
	err = fn()
	pprof.StopCPUProfile()
	return err
}

func (r *runner) stopAll() {
	if r.proc != nil {
		_ = r.proc.stop()
		r.proc = nil
	}
	if r.copyLoop != nil {
		_ = r.copyLoop.stop()
		r.copyLoop = nil
	}
}

func (r *runner) createTopics(ctx context.Context, cl *kgo.Client) error {
	spec := topics.Spec{Partitions: r.o.Partitions, ReplicationFactor: -1}
	if _, err := topics.Ensure(ctx, cl, r.names, spec); err != nil {
		return fmt.Errorf("create the service's topics: %w", err)
	}
	for _, t := range []string{r.copyIn, r.copyOut} {
		resp, err := r.adm.CreateTopic(ctx, r.o.Partitions, -1, nil, t)
		if err == nil {
			err = resp.Err
		}
		if err != nil {
			return fmt.Errorf("create topic %s: %w", t, err)
		}
	}
	// Wait until the metadata shows them, so that producers find them.
	for range 100 {
		td, err := r.adm.ListTopics(ctx, r.copyIn, r.copyOut)
		if err != nil {
			return err
		}
		if td.Has(r.copyIn) && td.Has(r.copyOut) && len(td[r.copyIn].Partitions) == int(r.o.Partitions) && len(td[r.copyOut].Partitions) == int(r.o.Partitions) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return errors.New("the copy loop's topics did not show in the metadata within 10s")
}

// deleteTopics removes the run's topics from a real cluster.
func (r *runner) deleteTopics() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r.stopAll()
	_, err := r.adm.DeleteTopics(ctx, r.names.Events, r.names.Commands, r.names.Changelog, r.names.DLQ, r.copyIn, r.copyOut)
	if err != nil {
		r.o.Logger.Warn("delete the bench topics", "err", err)
	}
}

// publish writes phase 1's events to the events topic and the copy input.
func (r *runner) publish(ctx context.Context) error {
	wl, err := newWorkload("order", r.o.Orders, 0, r.o.Seed, 1)
	if err != nil {
		return err
	}
	r.phase1 = wl
	r.res.Events = len(wl.events)
	r.res.Mix = wl.mix
	cl, err := kgo.NewClient(append(r.seeds, kgo.ProducerLinger(0))...)
	if err != nil {
		return err
	}
	defer cl.Close()
	var sent atomic.Int64
	end := r.prog.phase("publish", int64(2*len(wl.events)), sent.Load)
	defer end()
	var pe produceErrs
	for _, topic := range []string{r.names.Events, r.copyIn} {
		for _, ev := range wl.events {
			cl.Produce(ctx, ev.record(topic), func(_ *kgo.Record, err error) {
				pe.note(err)
				sent.Add(1)
			})
		}
	}
	if err := cl.Flush(ctx); err != nil {
		return err
	}
	return pe.err()
}

// targets checks the results against the goals.
func targets(r Results) []Target {
	const gib = 1 << 30
	restoreHeap := Target{Name: "restore heap", Metric: "heap bytes after restoring 1,000,000 processes",
		Value: float64(r.Restore.HeapBytes), Op: "<=", Limit: 2 * gib,
		Checked: r.Restore.Processes >= 1_000_000, Met: r.Restore.HeapBytes <= 2*gib}
	if !restoreHeap.Checked {
		restoreHeap.Met = false
		restoreHeap.Note = fmt.Sprintf("not checked: %d processes restored; run with --restore-processes 1000000 (extrapolated: %.2f GiB)",
			r.Restore.Processes, r.Restore.HeapBytesPerProcess*1e6/gib)
	}
	return []Target{
		{Name: "throughput", Metric: "EOS events/s ÷ copy-loop records/s", Value: r.Throughput.Ratio, Op: ">=", Limit: 0.5,
			Checked: true, Met: r.Throughput.Ratio >= 0.5},
		{Name: "latency", Metric: "p99 ms at the latency rate ≤ commit interval + 50 ms", Value: r.Latency.P99Ms, Op: "<=", Limit: r.Latency.LimitMs,
			Checked: true, Met: r.Latency.P99Ms <= r.Latency.LimitMs},
		{Name: "restore", Metric: "restore records/s ÷ raw changelog read records/s", Value: r.Restore.Ratio, Op: ">=", Limit: 0.5,
			Checked: true, Met: r.Restore.Ratio >= 0.5},
		restoreHeap,
		{Name: "memory", Metric: "heap bytes per live pending process with two events", Value: r.Memory.BytesPerProcess, Op: "<=", Limit: 2048,
			Checked: true, Met: r.Memory.BytesPerProcess <= 2048},
	}
}

// produceErrs keeps the first error of produce promises.
type produceErrs struct {
	mu    sync.Mutex
	first error
	n     int
}

func (p *produceErrs) note(err error) {
	if err == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.first == nil {
		p.first = err
	}
	p.n++
}

func (p *produceErrs) err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.first == nil {
		return nil
	}
	return fmt.Errorf("%d records failed to produce, first: %w", p.n, p.first)
}
