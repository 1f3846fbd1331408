package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/peterbourgon/ff/v3/ffcli"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/catering-match/catering-match/internal/bench"
	"github.com/catering-match/catering-match/internal/cli"
)

type benchCmd struct {
	conn             cli.Conn
	logLevel         string
	orders           int
	partitions       int
	maxPollRecords   int
	runs             int
	minPhase         time.Duration
	members          int
	membersScan      string
	phases           string
	latencyRate      float64
	latencyDuration  time.Duration
	restoreProcesses int
	memoryProcesses  int
	seed             uint64
	cpuProfileDir    string
	json             bool
	strict           bool
	timeout          time.Duration

	stdout io.Writer
	stderr io.Writer
}

func newBench(stdout io.Writer, stderr *trackingWriter) *ffcli.Command {
	c := &benchCmd{stdout: stdout, stderr: stderr}
	d := bench.DefaultOptions()
	fs := flag.NewFlagSet("catering bench", flag.ContinueOnError)
	c.conn.Register(fs, "", "Kafka seed `brokers`, host:port[,host:port]; empty: an embedded broker (kfake) started for the run on a free port")
	fs.StringVar(&c.logLevel, "log-level", "error", "`level` of the processor's and Kafka clients' logs on stderr: debug, info, warn or error")
	fs.IntVar(&c.orders, "orders", d.Orders, "least `orders` published up front for the throughput phases (about 2.1 events each): the calibration pass runs on them, then more are added until a run lasts --min-phase")
	fs.IntVar(&c.partitions, "partitions", int(d.Partitions), "`partitions` of the topics the run creates")
	fs.IntVar(&c.maxPollRecords, "max-poll-records", d.MaxPollRecords, "max `records` per poll (and transaction), for the processor and the copy loop")
	fs.IntVar(&c.runs, "runs", d.Runs, "how many `times` each measurement is repeated; figures are the median and the min–max")
	fs.DurationVar(&c.minPhase, "min-phase", d.MinPhase, "least `duration` of every timed phase: inputs are sized for it and the changelog is read pass after pass until it; lower only for a smoke test")
	fs.IntVar(&c.members, "members", 0, "processor.Config.Members of the throughput and latency runs: group `members` in the process (their workers share the CPUs); 0: one per CPU")
	fs.StringVar(&c.membersScan, "members-scan", joinInts(d.MembersScan), "processor `members` (Config.Members, one worker each) of the scaling phase, comma-separated; empty skips it")
	fs.StringVar(&c.phases, "phases", strings.Join(bench.AllPhases, ","), "the `measurements` to take, comma-separated, of "+strings.Join(bench.AllPhases, ", ")+"; a target whose measurement is not taken is NOT CHECKED (latency alone needs --latency-rate)")
	fs.Float64Var(&c.latencyRate, "latency-rate", 0, "produce `rate` of the latency phase in events/s (0: half the lower of the EOS and copy-loop median throughputs)")
	fs.DurationVar(&c.latencyDuration, "latency-duration", d.LatencyDuration, "how long each latency run produces (at least --min-phase)")
	fs.IntVar(&c.restoreProcesses, "restore-processes", 0, "least `processes` in the changelog when it is restored, topped up with pending ones (0: 10 x --orders); 1000000 checks the 2 GiB heap target")
	fs.IntVar(&c.memoryProcesses, "memory-processes", 0, "pending `processes` built for the heap-per-process figure (0: 10 x --orders)")
	fs.Uint64Var(&c.seed, "seed", 0, "workload `seed` (0: random; the run prints it)")
	fs.StringVar(&c.cpuProfileDir, "cpuprofile-dir", "", "write one CPU profile per timed run into `dir` (go tool pprof DIR/eos-throughput-*.pprof merges the runs)")
	fs.BoolVar(&c.json, "json", false, "print the results as one JSON object")
	fs.BoolVar(&c.strict, "strict", false, "exit 1 when a checked target is not met")
	fs.DurationVar(&c.timeout, "timeout", 10*time.Minute, "give up after this `duration`")
	return leaf{
		name:       "bench",
		shortUsage: "catering bench [--runs N] [--phases LIST] [--members N] [--members-scan 1,2,4] [--brokers HOST:PORT] [--json] [flags]",
		shortHelp:  "measure throughput, latency, restore, memory and scaling against the broker's own limits",
		longHelp: `Runs the service's processing loop in-process (processor.New + Run) on an
embedded broker started for the run (or on --brokers, in topics of its own,
deleted afterwards) and measures, each beside a baseline taken in the same
run on the same broker and partitions:
  - throughput with exactly-once: orders' events (most match, some
    duplicates, declines and orders that never match) published up front,
    timed from Run until the processor's Stats account for every record;
    baseline: a transactional copy loop (GroupTransactSession, one output
    per input, offsets in the transaction, linger 0, same max poll records);
  - scaling: the same throughput at each --members-scan value of
    processor.Config.Members, one worker each;
  - latency from an event's produce to its ConfirmOrder being visible
    read_committed, p50/p99/max, at --latency-rate; baseline: the copy
    loop's produce-to-visible latency at the same rate;
  - restore: processor.LoadPartition on all changelog partitions at once;
    baseline: a plain read_committed read of the changelog to its end;
    beside it the bound no restore can beat on these cores: GOMAXPROCS over
    the raw read's CPU plus the decode and fold of every record (timed from
    memory), per record, over the raw read's rate;
  - heap per live pending process with two events (after GC).
Each measurement is repeated --runs times and reported as the median and
the min–max; every timed phase lasts at least --min-phase. The inputs are
sized from a calibration pass (more orders for the service, the same events
cycled for the copy loop); the changelog is read pass after pass.
Targets, each on the median: throughput >= 0.6 x copy loop; p99 at half the
peak rate <= 5 x the copy loop's p99 on the embedded broker, <= 1.5 x on a
real one; restore >= 0.7 x raw read (at Go's default GC); heap <= 400 B per
process, and < 2 GiB after restoring a million processes (checked only with
--restore-processes 1000000); 2 members > 1.2 x 1 member (one worker each).

Progress goes to stderr: a bar per phase on a terminal, otherwise one line
when a phase starts and one with its figures when it ends. The results go to
stdout. Exit status: 0 when the run completed (with --strict: and every
checked target was met), 1 otherwise, 2 on a usage error.`,
		fs:   fs,
		exec: c.exec,
	}.command(stderr)
}

func (c *benchCmd) exec(ctx context.Context, args []string) error {
	switch {
	case len(args) > 0:
		return usagef("unexpected arguments %q: bench takes only flags", args)
	case c.orders < 1:
		return usagef("--orders %d must be at least 1", c.orders)
	case c.partitions < 1 || c.partitions > 10000:
		return usagef("--partitions %d must be between 1 and 10000", c.partitions)
	case c.maxPollRecords < 1:
		return usagef("--max-poll-records %d must be at least 1", c.maxPollRecords)
	case c.runs < 1:
		return usagef("--runs %d must be at least 1", c.runs)
	case c.minPhase <= 0:
		return usagef("--min-phase %v must be positive, e.g. 2s", c.minPhase)
	case c.latencyRate < 0:
		return usagef("--latency-rate %v must not be negative (0: half the lower measured throughput)", c.latencyRate)
	case c.latencyDuration < c.minPhase:
		return usagef("--latency-duration %v must be at least --min-phase %v", c.latencyDuration, c.minPhase)
	case c.restoreProcesses < 0:
		return usagef("--restore-processes %d must not be negative (0: 10 x --orders)", c.restoreProcesses)
	case c.memoryProcesses < 0:
		return usagef("--memory-processes %d must not be negative (0: 10 x --orders)", c.memoryProcesses)
	case c.timeout <= 0:
		return usagef("--timeout %v must be positive, e.g. 10m", c.timeout)
	}
	scan, err := parseMembersScan(c.membersScan)
	if err != nil {
		return usagef("--members-scan %q: %v", c.membersScan, err)
	}
	if c.members < 0 || c.members > 64 {
		return usagef("--members %d: use 1-64, or 0 for one per CPU", c.members)
	}
	phases, err := parsePhases(c.phases)
	if err != nil {
		return usagef("--phases %q: %v", c.phases, err)
	}
	if slices.Contains(phases, "latency") && !slices.Contains(phases, "throughput") && c.latencyRate == 0 {
		return usagef("--phases %q: the latency phase without throughput needs --latency-rate (its default is half the measured throughput)", c.phases)
	}
	log, err := cli.NewLogger(c.stderr, c.logLevel, "text")
	if err != nil {
		return usagef("--log-level: %v", err)
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()

	o := bench.Options{
		Orders: c.orders, Partitions: int32(c.partitions), MaxPollRecords: c.maxPollRecords,
		Runs: c.runs, MinPhase: c.minPhase, Members: c.members, MembersScan: scan, Phases: phases,
		LatencyRate: c.latencyRate, LatencyDuration: c.latencyDuration,
		RestoreProcesses: c.restoreProcesses, MemoryProcesses: c.memoryProcesses,
		Seed: c.seed, CPUProfileDir: c.cpuProfileDir, Logger: log,
		ProgressBars: writerIsTerminal(c.stderr),
	}
	if strings.TrimSpace(c.conn.Brokers) != "" {
		seeds, err := c.conn.Seeds()
		if err != nil {
			return usagef("--brokers %q: %v", c.conn.Brokers, err)
		}
		sec, err := c.conn.SecurityOpts()
		if err != nil {
			return usagef("%v", err)
		}
		if err := c.conn.Check(ctx, append([]kgo.Opt{kgo.SeedBrokers(seeds...)}, sec...)); err != nil {
			return err
		}
		o.Brokers, o.ClientOpts = seeds, sec
	} else if err := c.conn.Validate(); err != nil {
		return usagef("%v", err)
	}

	res, err := bench.Run(ctx, o, c.stderr)
	if err != nil {
		return err
	}
	if c.json {
		err = res.WriteJSON(c.stdout)
	} else {
		err = res.WriteText(c.stdout)
	}
	if err != nil {
		return fmt.Errorf("write stdout: %w", err)
	}
	if c.strict && !res.AllMet() {
		var missed []string
		for _, t := range res.Targets {
			if t.Checked && !t.Met {
				missed = append(missed, t.Name)
			}
		}
		return fmt.Errorf("targets not met: %s", strings.Join(missed, ", "))
	}
	return nil
}

// parseMembersScan parses "1,2,4"; empty gives an empty (non-nil) list,
// which skips the scaling phase.
func parseMembersScan(s string) ([]int, error) {
	out := []int{}
	if strings.TrimSpace(s) == "" {
		return out, nil
	}
	seen := map[int]bool{}
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 64 {
			return nil, fmt.Errorf("%q is not a member count from 1 to 64", strings.TrimSpace(f))
		}
		if seen[n] {
			return nil, fmt.Errorf("%d appears twice", n)
		}
		seen[n] = true
		out = append(out, n)
	}
	return out, nil
}

// parsePhases parses "throughput,restore" into bench phases.
func parsePhases(s string) ([]string, error) {
	var out []string
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if !slices.Contains(bench.AllPhases, f) {
			return nil, fmt.Errorf("%q is not a phase; the phases are %s", f, strings.Join(bench.AllPhases, ", "))
		}
		if slices.Contains(out, f) {
			return nil, fmt.Errorf("%q appears twice", f)
		}
		out = append(out, f)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("name at least one of %s", strings.Join(bench.AllPhases, ", "))
	}
	return out, nil
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ",")
}

// writerIsTerminal reports whether w (through the command's
// trackingWriter) is a terminal.
func writerIsTerminal(w io.Writer) bool {
	if t, ok := w.(*trackingWriter); ok {
		w = t.w
	}
	f, ok := w.(*os.File)
	return ok && isTerminal(f)
}
