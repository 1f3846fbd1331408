// Package bench measures the service against the limits of the broker it
// runs on: processing throughput with exactly-once, end-to-end latency,
// restore from the changelog, heap per live process, and how throughput
// scales with processor.Config.Members. Each figure is taken beside a
// baseline measured in the same run on the same broker and partitions (a
// trivial transactional copy loop, a plain read of the changelog), printed
// as a ratio to it, and checked against its target.
//
// Every measurement is repeated Options.Runs times (default 3) and reported
// as the median with the min–max, and every timed phase lasts at least
// Options.MinPhase (default 2 s). A run of the service and the run of its
// baseline are measured back to back; a ratio is taken per such pair, and
// its median is what the target is checked against.
//
// The phases, in order:
//  1. memory (Runs times): M pending processes with two events each are
//     built in state.Stores through state.Manager.Apply, as the processor
//     does; heap after GC before and after, divided by M.
//  2. calibration: Orders orders' events (see workload.go for the mix) are
//     written to the throughput input and the copy loop's input; one pass
//     of each loop over them (not reported) gives the rates from which the
//     inputs are grown to last MinPhase × 1.25: more orders for the
//     processor, the same events cycled for the copy loop.
//  3. throughput (Runs pairs): processor.New + Run with a fresh group and
//     fresh output topics (empty state) over the whole input, timed from
//     Run until the processor's Stats account for every record; then a
//     GroupTransactSession that copies each input record to an output
//     topic, timed likewise. A run shorter than MinPhase is discarded and
//     redone on a larger input.
//  4. scaling (Runs rounds over MembersScan): as 3, with
//     processor.Config.Members set and one worker each; each point's ratio
//     to 1 member.
//  5. latency (Runs pairs): a processor and a copy loop run side by side;
//     new orders are produced at a fixed rate (half the median throughput)
//     for LatencyDuration to the processor, where a read_committed consumer
//     of the commands topic matches each ConfirmOrder to the produce time
//     of its causation event; then the same events at the same rate to the
//     copy loop, each copy matched to its input.
//  6. restore (Runs pairs): the latency processor's changelog (topped up
//     with pending processes to at least RestoreProcesses) is read plainly
//     by a read_committed consumer, pass after pass until MinPhase, then
//     rebuilt with processor.LoadPartition on all partitions at once, pass
//     after pass until MinPhase.
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
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
	// Orders is the least number of orders published up front for the
	// throughput phases (default 20000). The calibration pass runs on them;
	// more orders are then added until a run lasts MinPhase.
	Orders int
	// Partitions of the topics the run creates (default 6).
	Partitions int32
	// MaxPollRecords for the processor and the copy loop (default 1000,
	// the processor's default).
	MaxPollRecords int
	// Runs is how many times each measurement is repeated (default 3);
	// every figure is reported as the median and the min–max.
	Runs int
	// MinPhase is the least duration of every timed phase (default 2s):
	// the throughput inputs are sized for it, a shorter run is redone on a
	// larger input, and the changelog is read pass after pass until it is
	// reached. Only tests should set it lower.
	MinPhase time.Duration
	// Members is processor.Config.Members of the throughput and latency
	// runs; 0: one per CPU (runtime.GOMAXPROCS), with one worker each.
	Members int
	// MembersScan are the processor.Config.Members values of the scaling
	// phase, each member with one worker. nil: 1, 2, 4; an empty non-nil
	// slice skips the phase.
	MembersScan []int
	// LatencyRate is the produce rate of the latency phase in events/s;
	// 0: half the lower of the median EOS and copy-loop throughputs.
	LatencyRate float64
	// LatencyDuration is how long events are produced at LatencyRate in
	// each latency run (default 5s; at least MinPhase).
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
	// CPUProfileDir, when set, receives one CPU profile per timed run
	// (<phase>-<run>.pprof; go tool pprof merges several).
	CPUProfileDir string
	// Logger receives the processor's and clients' logs; nil discards them.
	Logger *slog.Logger
	// Phases are the measurements to take, of AllPhases; nil: all of
	// them. A target whose measurement was not taken is not checked.
	Phases []string
	// ProgressBars draws a bar per phase redrawn with carriage returns (for
	// a terminal); false prints one line when a phase starts and one, with
	// its figures, when it ends (for files, pipes and CI logs).
	ProgressBars bool
}

// AllPhases are the bench's measurements, in the order they run.
var AllPhases = []string{"memory", "throughput", "scaling", "latency", "restore"}

// DefaultMembersScan is the scaling phase's default.
var DefaultMembersScan = []int{1, 2, 4}

// DefaultOptions returns the defaults.
func DefaultOptions() Options {
	return Options{
		Orders:          20000,
		Partitions:      6,
		MaxPollRecords:  processor.DefaultConfig().MaxPollRecords,
		Runs:            3,
		MinPhase:        2 * time.Second,
		MembersScan:     slices.Clone(DefaultMembersScan),
		LatencyDuration: 5 * time.Second,
	}
}

// has reports whether phase is one of the phases to run.
func (o Options) has(phase string) bool { return slices.Contains(o.Phases, phase) }

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
	if o.Runs == 0 {
		o.Runs = d.Runs
	}
	if o.MinPhase == 0 {
		o.MinPhase = d.MinPhase
	}
	if o.MembersScan == nil {
		o.MembersScan = d.MembersScan
	}
	if o.Members == 0 {
		o.Members = runtime.GOMAXPROCS(0)
	}
	if o.LatencyDuration == 0 {
		o.LatencyDuration = max(d.LatencyDuration, o.MinPhase)
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
	if o.Phases == nil {
		o.Phases = slices.Clone(AllPhases)
	}
	var errs []error
	for _, ph := range o.Phases {
		if !slices.Contains(AllPhases, ph) {
			errs = append(errs, fmt.Errorf("phase %q is not one of %s", ph, strings.Join(AllPhases, ", ")))
		}
	}
	if len(o.Phases) == 0 {
		errs = append(errs, fmt.Errorf("no phase to run: name at least one of %s", strings.Join(AllPhases, ", ")))
	}
	if slices.Contains(o.Phases, "latency") && !slices.Contains(o.Phases, "throughput") && o.LatencyRate == 0 {
		errs = append(errs, errors.New("the latency phase without the throughput phase needs a latency rate: the default is half the measured throughput"))
	}
	if o.Orders < 1 {
		errs = append(errs, fmt.Errorf("orders %d must be at least 1", o.Orders))
	}
	if o.Partitions < 1 {
		errs = append(errs, fmt.Errorf("partitions %d must be at least 1", o.Partitions))
	}
	if o.MaxPollRecords < 1 {
		errs = append(errs, fmt.Errorf("max poll records %d must be at least 1", o.MaxPollRecords))
	}
	if o.Runs < 1 {
		errs = append(errs, fmt.Errorf("runs %d must be at least 1", o.Runs))
	}
	if o.MinPhase < 0 {
		errs = append(errs, fmt.Errorf("minimum phase %v must be positive", o.MinPhase))
	}
	seen := map[int]bool{}
	for _, w := range o.MembersScan {
		if w < 1 || w > 64 || seen[w] {
			errs = append(errs, fmt.Errorf("members scan %v: each value from 1 to 64, once", o.MembersScan))
			break
		}
		seen[w] = true
	}
	if o.Members < 0 || o.Members > 64 {
		errs = append(errs, fmt.Errorf("members %d: use 1-64 (0: one per CPU)", o.Members))
	}
	if o.LatencyRate < 0 {
		errs = append(errs, fmt.Errorf("latency rate %v must not be negative (0: half the measured throughput)", o.LatencyRate))
	}
	if o.LatencyDuration < o.MinPhase {
		errs = append(errs, fmt.Errorf("latency duration %v must be at least the minimum phase %v", o.LatencyDuration, o.MinPhase))
	}
	if o.RestoreProcesses < 0 || o.MemoryProcesses < 0 {
		errs = append(errs, errors.New("restore and memory processes must not be negative"))
	}
	return o, errors.Join(errs...)
}

// Results are a run's figures. Rates are per second, latencies in
// milliseconds, sizes in bytes. A Stat is over the repeated runs; a ratio
// is taken for each pair of runs measured back to back (the service's run
// i and its baseline's run i), and its Stat is over those pairs.
type Results struct {
	Broker          string     `json:"broker"`
	Embedded        bool       `json:"embedded"` // the in-process kfake broker
	Partitions      int32      `json:"partitions"`
	MaxPollRecords  int        `json:"max_poll_records"`
	Seed            uint64     `json:"seed"`
	Runs            int        `json:"runs"`
	MinPhaseSeconds float64    `json:"min_phase_seconds"`
	Members         int        `json:"members"` // processor.Config.Members of the throughput and latency runs
	Phases          []string   `json:"phases"`  // the measurements taken
	GOMAXPROCS      int        `json:"gomaxprocs"`
	GC              GCSettings `json:"gc"`
	// Orders and Events are the throughput input's, as the run left it
	// (grown from Options.Orders until a run lasted MinPhase).
	Orders     int        `json:"orders"`
	Events     int        `json:"events"`
	Mix        Mix        `json:"mix"`
	Throughput Throughput `json:"throughput"`
	Scaling    Scaling    `json:"scaling"`
	Latency    Latency    `json:"latency"`
	Restore    Restore    `json:"restore"`
	Memory     Memory     `json:"memory"`
	Targets    []Target   `json:"targets"`
	Seconds    float64    `json:"seconds"` // the whole run
}

// GCSettings are the Go GC settings the run had.
type GCSettings struct {
	GOGC        int   `json:"gogc"`         // percent; -1: off
	MemoryLimit int64 `json:"memory_limit"` // bytes; 0: none
	Default     bool  `json:"default"`      // GOGC=100 and no memory limit
}

func gcSettings() GCSettings {
	pct := debug.SetGCPercent(100)
	debug.SetGCPercent(pct)
	lim := debug.SetMemoryLimit(-1)
	g := GCSettings{GOGC: pct, Default: pct == 100 && lim == math.MaxInt64}
	if lim != math.MaxInt64 {
		g.MemoryLimit = lim
	}
	return g
}

// Throughput is the EOS processing throughput and its copy-loop baseline.
type Throughput struct {
	Calibration Calibration `json:"calibration"`
	// EventsPerSec, Seconds and StartupSeconds are over Runs. Seconds run
	// from processor.Run until Stats account for every record
	// (Applied+SkippedDuplicate+SkippedTerminal+SkippedOtherType+DeadLettered);
	// StartupSeconds from Run until Ready (joined, partitions restored).
	EventsPerSec   Stat           `json:"events_per_sec"`
	Seconds        Stat           `json:"seconds"`
	StartupSeconds Stat           `json:"startup_seconds"`
	Runs           []EOSRun       `json:"runs"`
	Baseline       CopyThroughput `json:"baseline_copy_loop"`
	Ratio          Stat           `json:"ratio"` // EventsPerSec / Baseline.RecordsPerSec, per pair
	// CPUMicrosPerEvent is this process's CPU time per event, and Cores
	// the CPU time per second of the run. CPURatio is, per pair, the
	// copy loop's CPU per record over the processor's per event: the
	// throughput ratio if both used the same cores. Ratio = CPURatio ×
	// Cores / Baseline.Cores. Empty when CPU time is not measured.
	CPUMicrosPerEvent Stat `json:"cpu_us_per_event"`
	Cores             Stat `json:"cores"`
	CPURatio          Stat `json:"cpu_ratio"`
	// DiscardedShortRuns counts runs (either loop) that lasted less than
	// MinPhase and were redone on a larger input.
	DiscardedShortRuns int `json:"discarded_short_runs"`
}

// Calibration is the first, unreported pass of each loop over the base
// input (Options.Orders orders), from which the inputs are sized to last
// TargetSeconds.
type Calibration struct {
	Events            int64   `json:"events"`
	EventsPerSec      float64 `json:"events_per_sec"`
	CopyRecords       int64   `json:"copy_records"`
	CopyRecordsPerSec float64 `json:"copy_records_per_sec"`
	TargetSeconds     float64 `json:"target_seconds"`
}

// EOSRun is one run of the processor over the whole throughput input.
type EOSRun struct {
	Members          int     `json:"members"` // processor.Config.Members
	Workers          int     `json:"workers"` // processor.Config.Workers; 0: GOMAXPROCS / Members
	Records          int64   `json:"records"`
	Seconds          float64 `json:"seconds"`
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
	// Aborted and SessionRestarts explain a slow run: transactions that
	// aborted (a rebalance as the members join, say) and sessions rebuilt.
	Aborted         int64 `json:"aborted"`
	SessionRestarts int64 `json:"session_restarts"`
	// CPUSeconds is this process's CPU time (user and system) over the run:
	// the embedded broker's included, a real broker's not. 0: not measured.
	CPUSeconds float64 `json:"cpu_seconds"`
}

// CopyThroughput is the copy loop's throughput over its input (the same
// events, cycled until a run lasts MinPhase).
type CopyThroughput struct {
	RecordsPerSec      Stat      `json:"records_per_sec"`
	CPUMicrosPerRecord Stat      `json:"cpu_us_per_record"`
	Cores              Stat      `json:"cores"`
	Seconds            Stat      `json:"seconds"` // session created -> all copies committed
	StartupSeconds     Stat      `json:"startup_seconds"`
	Runs               []CopyRun `json:"runs"`
}

// CopyRun is one run of the copy loop over its whole input.
type CopyRun struct {
	Records        int64   `json:"records"`
	Seconds        float64 `json:"seconds"`
	StartupSeconds float64 `json:"startup_seconds"`
	RecordsPerSec  float64 `json:"records_per_sec"`
	Transactions   int64   `json:"transactions"`
	CPUSeconds     float64 `json:"cpu_seconds"` // as EOSRun's
}

// Scaling is the EOS throughput at each processor.Config.Members value of
// the scan, one worker each, measured in rounds (each round visits every
// value once).
type Scaling struct {
	Points             []ScalingPoint `json:"points"`
	DiscardedShortRuns int            `json:"discarded_short_runs"`
}

// ScalingPoint is one Members value.
type ScalingPoint struct {
	Members      int      `json:"members"`
	EventsPerSec Stat     `json:"events_per_sec"`
	Ratio        Stat     `json:"ratio_to_1_member"` // per round; empty without a 1-member point
	Runs         []EOSRun `json:"runs"`
}

// Latency is produce -> visible read_committed at a fixed rate.
type Latency struct {
	RatePerSec float64 `json:"rate_per_sec"`
	Seconds    float64 `json:"seconds"` // producing, per run
	P50Ms      Stat    `json:"p50_ms"`
	P99Ms      Stat    `json:"p99_ms"`
	MaxMs      Stat    `json:"max_ms"`
	// CommitIntervalMs is the processor's mean time between committed
	// transactions while events were produced: the cadence at which
	// results become visible.
	CommitIntervalMs Stat         `json:"commit_interval_ms"`
	RecordsPerTxn    Stat         `json:"records_per_txn"`
	Runs             []LatencyRun `json:"runs"`
	Baseline         CopyLatency  `json:"baseline_copy_loop"`
	RatioP50         Stat         `json:"ratio_p50"`
	RatioP99         Stat         `json:"ratio_p99"`
}

// LatencyRun is one latency run of the processor: new orders produced at
// the rate, each ConfirmOrder matched to its causation event.
type LatencyRun struct {
	Orders  int     `json:"orders"`
	Events  int     `json:"events"`
	Seconds float64 `json:"seconds"`
	Percentiles
	CommitIntervalMs float64 `json:"commit_interval_ms"`
	RecordsPerTxn    float64 `json:"records_per_txn"`
}

// Percentiles of a latency sample, in ms. Samples counts the matched
// outputs (ConfirmOrder commands, or copies).
type Percentiles struct {
	Samples int     `json:"samples"`
	P50Ms   float64 `json:"p50_ms"`
	P99Ms   float64 `json:"p99_ms"`
	MaxMs   float64 `json:"max_ms"`
}

// CopyLatency is the copy loop's latency at the same rate, over the same
// events.
type CopyLatency struct {
	P50Ms            Stat             `json:"p50_ms"`
	P99Ms            Stat             `json:"p99_ms"`
	MaxMs            Stat             `json:"max_ms"`
	CommitIntervalMs Stat             `json:"commit_interval_ms"`
	MeanTxnMs        Stat             `json:"mean_txn_ms"` // Begin -> End
	Runs             []CopyLatencyRun `json:"runs"`
}

// CopyLatencyRun is one latency run of the copy loop.
type CopyLatencyRun struct {
	Events  int     `json:"events"`
	Seconds float64 `json:"seconds"`
	Percentiles
	CommitIntervalMs float64 `json:"commit_interval_ms"`
	MeanTxnMs        float64 `json:"mean_txn_ms"`
}

// Restore is the rebuild of the processes from the changelog. A run is
// as many full restores (passes) as it takes to last MinPhase.
type Restore struct {
	Method              string       `json:"method"`
	Processes           int          `json:"processes"` // per pass
	TopUp               int          `json:"top_up"`    // synthetic pending processes added to the changelog
	Records             int64        `json:"records"`   // changelog records per pass
	Seconds             Stat         `json:"seconds"`   // per run, every pass
	ProcessesPerSec     Stat         `json:"processes_per_sec"`
	RecordsPerSec       Stat         `json:"records_per_sec"`
	HeapBytes           Stat         `json:"heap_bytes"` // after the run's last pass, the restored stores live
	HeapBytesPerProcess Stat         `json:"heap_bytes_per_process"`
	Runs                []RestoreRun `json:"runs"`
	Baseline            RawRead      `json:"baseline_raw_read"`
	Ratio               Stat         `json:"ratio"` // RecordsPerSec / Baseline.RecordsPerSec, per pair
	// CPUMicrosPerRecord is this process's CPU time per changelog record,
	// and Cores the CPU time per second of the run (as Throughput's).
	CPUMicrosPerRecord Stat `json:"cpu_us_per_record"`
	Cores              Stat `json:"cores"`
	// Floor is the decode and fold of every record, from memory.
	Floor DecodeFold `json:"decode_fold"`
	// Bound is, per run, the highest Ratio a restore could reach that
	// fetches as the raw read does and decodes and folds every record as
	// Floor does, with all GOMAXPROCS cores busy and nothing else to do:
	// GOMAXPROCS ÷ (raw-read CPU + decode-and-fold CPU per record) ÷ the
	// raw read's records per second. Empty when CPU time is not measured.
	Bound Stat `json:"bound"`
}

// DecodeFold is the CPU cost of decoding and folding every changelog
// record with the processor's codec and manager, from records already in
// memory, the processes dropped: the part of a restore it cannot skip.
type DecodeFold struct {
	CPUMicrosPerRecord Stat            `json:"cpu_us_per_record"`
	Cores              Stat            `json:"cores"`
	Runs               []DecodeFoldRun `json:"runs"`
}

// DecodeFoldRun is one decode-and-fold run, pass after pass until MinPhase.
type DecodeFoldRun struct {
	Passes     int     `json:"passes"`
	Records    int64   `json:"records"` // every pass
	Seconds    float64 `json:"seconds"`
	CPUSeconds float64 `json:"cpu_seconds"`
}

// RestoreRun is one restore run.
type RestoreRun struct {
	Passes          int     `json:"passes"`
	Seconds         float64 `json:"seconds"`
	ProcessesPerSec float64 `json:"processes_per_sec"`
	RecordsPerSec   float64 `json:"records_per_sec"`
	HeapBytes       int64   `json:"heap_bytes"`
	CPUSeconds      float64 `json:"cpu_seconds"` // as EOSRun's, over the timed passes
}

// RawRead is a plain read_committed read of the whole changelog, pass
// after pass until a run lasts MinPhase.
type RawRead struct {
	Records            int64        `json:"records"` // per pass
	RecordsPerSec      Stat         `json:"records_per_sec"`
	CPUMicrosPerRecord Stat         `json:"cpu_us_per_record"`
	Cores              Stat         `json:"cores"`
	Seconds            Stat         `json:"seconds"`
	Runs               []RawReadRun `json:"runs"`
}

// RawReadRun is one raw-read run.
type RawReadRun struct {
	Passes        int     `json:"passes"`
	Records       int64   `json:"records"` // every pass
	Seconds       float64 `json:"seconds"`
	RecordsPerSec float64 `json:"records_per_sec"`
	CPUSeconds    float64 `json:"cpu_seconds"` // as EOSRun's, over the timed passes
}

// Memory is the heap held per live pending process, once per run.
type Memory struct {
	Processes        int  `json:"processes"`
	EventsPerProcess int  `json:"events_per_process"`
	HeapBytes        Stat `json:"heap_bytes"`
	BytesPerProcess  Stat `json:"bytes_per_process"`
}

// Target is one goal and whether the run met it: Value is the median over
// the runs (Min and Max their range), and the target is met when the
// median is. Checked is false when the run could not speak to the target
// (too small, other GC settings, a phase skipped); Note says why.
type Target struct {
	Name    string  `json:"name"`
	Metric  string  `json:"metric"`
	Value   float64 `json:"value"`
	Min     float64 `json:"min"`
	Max     float64 `json:"max"`
	Op      string  `json:"op"` // ">=", ">", "<=" or "<"
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
	o       Options
	seeds   []kgo.Opt // seed brokers + o.ClientOpts
	brokers []string
	admCl   *kgo.Client
	adm     *kadm.Client
	group   string
	// names are the latency processor's topics; its changelog is restored.
	names      topics.Names
	tpIn       eosInput  // the throughput input
	copyIn     copyInput // the copy loop's throughput input
	copyLatIn  string
	copyLatOut string
	seq        int  // numbers each run's group and topics
	released   bool // the throughput inputs are deleted
	latOrders  int  // orders the latency runs produced
	prog       *progress
	res        *Results
	proc       *runningProcessor
	copyLoop   *copyLoop
}

// eosInput is the throughput input topic and the workloads written to it.
type eosInput struct {
	topic    string
	wls      []*workload
	events   int64
	commands int64
	orders   int
	mix      Mix
}

// at is the i-th event of the input, cycling.
func (in *eosInput) at(i int64) genEvent {
	i %= in.events
	for _, wl := range in.wls {
		if i < int64(len(wl.events)) {
			return wl.events[i]
		}
		i -= int64(len(wl.events))
	}
	panic("unreachable")
}

// copyInput is the copy loop's throughput input topic.
type copyInput struct {
	topic   string
	records int64
}

// Run runs every phase and returns the results. progress (stderr; nil
// for none) receives the progress of each phase.
func Run(ctx context.Context, o Options, progressW io.Writer) (Results, error) {
	o, err := o.withDefaults()
	if err != nil {
		return Results{}, err
	}
	began := time.Now()
	res := Results{Partitions: o.Partitions, MaxPollRecords: o.MaxPollRecords, Seed: o.Seed,
		Runs: o.Runs, MinPhaseSeconds: o.MinPhase.Seconds(), Members: o.Members, Phases: o.Phases, GOMAXPROCS: runtime.GOMAXPROCS(0), GC: gcSettings()}
	r := &runner{o: o, prog: newProgress(progressW, o.ProgressBars), res: &res}
	if o.CPUProfileDir != "" {
		if err := os.MkdirAll(o.CPUProfileDir, 0o755); err != nil {
			return res, fmt.Errorf("cpu profile directory: %w", err)
		}
	}

	if o.has("memory") {
		if err := r.memoryPhase(); err != nil {
			return res, fmt.Errorf("memory: %w", err)
		}
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
		res.Embedded = true
	} else {
		res.Broker = strings.Join(r.brokers, ",")
	}
	r.seeds = append([]kgo.Opt{kgo.SeedBrokers(r.brokers...), kgo.WithLogger(kslog.New(o.Logger))}, o.ClientOpts...)
	admCl, err := kgo.NewClient(r.seeds...)
	if err != nil {
		return res, fmt.Errorf("kafka client: %w", err)
	}
	defer admCl.Close()
	r.admCl, r.adm = admCl, kadm.NewClient(admCl)

	id := fmt.Sprintf("%d-%04x", time.Now().Unix(), rand.IntN(1<<16))
	r.group = "catering-bench-" + id
	r.names = topics.Names{
		Events:    r.group + "-events",
		Commands:  r.group + "-commands",
		Changelog: r.group + "-changelog",
		DLQ:       r.group + "-dlq",
	}
	r.tpIn.topic = r.group + "-tp-events"
	r.copyIn.topic = r.group + "-copy-in"
	r.copyLatIn, r.copyLatOut = r.group+"-copylat-in", r.group+"-copylat-out"
	defer r.stopAll()
	if len(o.Brokers) > 0 {
		defer func() {
			r.stopAll()
			shared := []string{r.names.Events, r.names.Commands, r.names.Changelog, r.names.DLQ, r.copyLatIn, r.copyLatOut}
			if !r.released {
				shared = append(shared, r.tpIn.topic, r.copyIn.topic)
			}
			r.deleteTopics(shared...)
		}()
	}
	if _, err := topics.Ensure(ctx, admCl, r.names, r.spec()); err != nil {
		return res, fmt.Errorf("create the service's topics: %w", err)
	}
	if err := r.createTopics(ctx, r.tpIn.topic, r.copyIn.topic, r.copyLatIn, r.copyLatOut); err != nil {
		return res, err
	}

	steps := []struct {
		name string
		fn   func(context.Context) error
	}{
		{"throughput", r.throughput},
		{"scaling", r.scaling},
		{"release", r.releaseThroughputInputs},
		{"latency", r.latency},
		{"restore", r.restore},
	}
	for _, s := range steps {
		if s.name != "release" && !o.has(s.name) {
			continue
		}
		if err := s.fn(ctx); err != nil {
			if ctx.Err() != nil {
				return res, fmt.Errorf("%s: interrupted: %w", s.name, ctx.Err())
			}
			return res, fmt.Errorf("%s: %w", s.name, err)
		}
	}
	res.Orders, res.Events, res.Mix = r.tpIn.orders, int(r.tpIn.events), r.tpIn.mix
	res.Targets = targets(res)
	res.Seconds = time.Since(began).Seconds()
	return res, nil
}

func (r *runner) spec() topics.Spec {
	return topics.Spec{Partitions: r.o.Partitions, ReplicationFactor: -1}
}

// profiled runs fn, under a CPU profile DIR/<name>.pprof when
// CPUProfileDir is set.
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

// createTopics creates plain topics with the run's partitions and waits
// until the metadata shows them, so that producers find them.
func (r *runner) createTopics(ctx context.Context, names ...string) error {
	for _, t := range names {
		resp, err := r.adm.CreateTopic(ctx, r.o.Partitions, -1, nil, t)
		if err == nil {
			err = resp.Err
		}
		if err != nil {
			return fmt.Errorf("create topic %s: %w", t, err)
		}
	}
	for range 100 {
		td, err := r.adm.ListTopics(ctx, names...)
		if err != nil {
			return err
		}
		all := true
		for _, t := range names {
			if !td.Has(t) || len(td[t].Partitions) != int(r.o.Partitions) {
				all = false
			}
		}
		if all {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("topics %v did not show in the metadata within 10s", names)
}

// deleteTopics removes topics of the run: each run's own output topics
// once it is done (on any broker, to free the embedded broker's memory),
// and the shared ones at the end on a real cluster.
func (r *runner) deleteTopics(names ...string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := r.adm.DeleteTopics(ctx, names...)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		r.o.Logger.Warn("delete the bench topics", "topics", names, "err", err)
	}
}

// releaseThroughputInputs deletes the throughput phases' input topics and
// drops their workloads once those phases are done, so that the embedded
// broker's copy of them (in this process) does not weigh on the GC of the
// latency and restore phases.
func (r *runner) releaseThroughputInputs(context.Context) error {
	r.deleteTopics(r.tpIn.topic, r.copyIn.topic)
	r.released = true
	r.tpIn.wls = nil
	runtime.GC()
	return nil
}

// publish produces n records, the i-th from rec, and waits for them.
func (r *runner) publish(ctx context.Context, name string, n int64, rec func(i int64) *kgo.Record) error {
	cl, err := kgo.NewClient(append(r.seeds, kgo.ProducerLinger(0))...)
	if err != nil {
		return err
	}
	defer cl.Close()
	var sent atomic.Int64
	bar := r.prog.phase(name, n, "records", sent.Load)
	start := time.Now()
	var pe produceErrs
	for i := range n {
		cl.Produce(ctx, rec(i), func(_ *kgo.Record, err error) {
			pe.note(err)
			sent.Add(1)
		})
	}
	err = cl.Flush(ctx)
	if err == nil {
		err = pe.err()
	}
	took := time.Since(start)
	figures := ""
	if err == nil {
		figures = fmt.Sprintf("%s rec/s", count(float64(n)/took.Seconds()))
	}
	bar.end(figures)
	return err
}

// growEOSInput adds a workload of at least minOrders orders and minEvents
// events to the throughput input.
func (r *runner) growEOSInput(ctx context.Context, minOrders, minEvents int) error {
	k := len(r.tpIn.wls)
	prefix := "order"
	if k > 0 {
		prefix = fmt.Sprintf("order%d", k+1)
	}
	wl, err := newWorkload(prefix, minOrders, minEvents, r.o.Seed, uint64(1+100*k))
	if err != nil {
		return err
	}
	if err := r.publish(ctx, fmt.Sprintf("publish EOS input +%d", len(wl.events)), int64(len(wl.events)),
		func(i int64) *kgo.Record { return wl.events[i].record(r.tpIn.topic) }); err != nil {
		return err
	}
	in := &r.tpIn
	in.wls = append(in.wls, wl)
	in.events += int64(len(wl.events))
	in.commands += int64(wl.commands)
	in.orders += wl.orders
	in.mix.Match += wl.mix.Match
	in.mix.Duplicate += wl.mix.Duplicate
	in.mix.Decline += wl.mix.Decline
	in.mix.NeverMatch += wl.mix.NeverMatch
	return nil
}

// ensureEOSEvents grows the throughput input to at least n events.
func (r *runner) ensureEOSEvents(ctx context.Context, n int64) error {
	if n <= r.tpIn.events {
		return nil
	}
	return r.growEOSInput(ctx, 1, int(n-r.tpIn.events))
}

// ensureCopyRecords grows the copy loop's input to at least n records: the
// throughput input's events, cycled.
func (r *runner) ensureCopyRecords(ctx context.Context, n int64) error {
	have := r.copyIn.records
	if n <= have {
		return nil
	}
	if err := r.publish(ctx, fmt.Sprintf("publish copy input +%d", n-have), n-have,
		func(i int64) *kgo.Record { return r.tpIn.at(have + i).record(r.copyIn.topic) }); err != nil {
		return err
	}
	r.copyIn.records = n
	return nil
}

// targets checks the results against the goals. Each is a ratio to a
// baseline of the same run, except the two heap budgets.
func targets(r Results) []Target {
	const gib = 1 << 30
	stat := func(name, metric string, s Stat, op string, limit float64) Target {
		t := Target{Name: name, Metric: metric, Value: s.Median, Min: s.Min, Max: s.Max, Op: op, Limit: limit, Checked: len(s.Runs) > 0}
		if !t.Checked {
			t.Note = "not checked: not measured"
		}
		return t
	}

	thr := stat("throughput", "EOS events/s ÷ copy-loop records/s", r.Throughput.Ratio, ">=", 0.6)

	latLimit, where := 1.5, "a real broker"
	if r.Embedded {
		latLimit, where = 5, "the embedded broker"
	}
	lat := stat("latency p99", fmt.Sprintf("p99 ÷ copy loop's p99 at half the lower peak rate, on %s", where), r.Latency.RatioP99, "<=", latLimit)

	rst := stat("restore", "restore records/s ÷ raw changelog read records/s, at Go's default GC", r.Restore.Ratio, ">=", 0.7)
	if rst.Checked && !r.GC.Default {
		rst.Checked = false
		rst.Note = fmt.Sprintf("not checked: GOGC=%d, memory limit %s; the target is at Go's default GC (unset GOGC and GOMEMLIMIT)",
			r.GC.GOGC, memLimit(r.GC.MemoryLimit))
	}
	if rst.Checked && len(r.Restore.Bound.Runs) > 0 {
		rst.Note = fmt.Sprintf("bound %.2f on %d cores: fetch plus decode and fold of every record, from their CPU", r.Restore.Bound.Median, r.GOMAXPROCS)
	}

	mem := stat("memory", "heap bytes per live pending process with two events", r.Memory.BytesPerProcess, "<=", 400)

	heap := stat("restore heap", "heap bytes after restoring 1,000,000 processes", r.Restore.HeapBytes, "<", 2*gib)
	heap.Name = "restore heap (1M processes)"
	switch {
	case !heap.Checked:
	case r.Restore.Processes < 1_000_000:
		heap.Checked = false
		heap.Note = fmt.Sprintf("not checked: %s processes restored, not 1,000,000 (run with --restore-processes 1000000); %s per process would be %.2f GiB",
			count(float64(r.Restore.Processes)), fmt.Sprintf("%.0f B", r.Restore.HeapBytesPerProcess.Median), r.Restore.HeapBytesPerProcess.Median*1e6/gib)
	default:
		heap.Note = fmt.Sprintf("checked at %s processes", count(float64(r.Restore.Processes)))
	}

	scal := Target{Name: "scaling: >1 core used", Metric: "EOS events/s at 2 members ÷ at 1 member, one worker each", Op: ">", Limit: 1.2}
	var two *ScalingPoint
	for i := range r.Scaling.Points {
		if r.Scaling.Points[i].Members == 2 {
			two = &r.Scaling.Points[i]
		}
	}
	switch {
	case two == nil || len(two.Ratio.Runs) == 0:
		scal.Note = "not checked: the members scan did not include 1 and 2 (--members-scan 1,2,4)"
	default:
		scal.Value, scal.Min, scal.Max = two.Ratio.Median, two.Ratio.Min, two.Ratio.Max
		scal.Checked = true
		if r.GOMAXPROCS < 2 {
			scal.Checked = false
			scal.Note = fmt.Sprintf("not checked: GOMAXPROCS=%d, a second member has no core to run on", r.GOMAXPROCS)
		}
	}

	out := []Target{thr, lat, rst, mem, heap, scal}
	for i := range out {
		out[i].Met = out[i].Checked && meets(out[i].Value, out[i].Op, out[i].Limit)
	}
	return out
}

// meets reports whether v op limit holds.
func meets(v float64, op string, limit float64) bool {
	switch op {
	case ">=":
		return v >= limit
	case ">":
		return v > limit
	case "<=":
		return v <= limit
	case "<":
		return v < limit
	}
	return false
}

// verdict is a target's RESULT column.
func verdict(t Target) string {
	switch {
	case !t.Checked:
		note := strings.TrimPrefix(t.Note, "not checked: ")
		if note == "" {
			return "NOT CHECKED"
		}
		return "NOT CHECKED: " + note
	case !t.Met && t.Note != "":
		return "NOT MET (" + t.Note + ")"
	case !t.Met:
		return "NOT MET"
	case t.Note != "":
		return "met (" + t.Note + ")"
	}
	return "met"
}

func memLimit(b int64) string {
	if b == 0 {
		return "none"
	}
	return size(b)
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
