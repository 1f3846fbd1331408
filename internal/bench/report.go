package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// WriteJSON writes the results as one indented JSON object.
func (r Results) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteText writes the results for a person: each figure as the median
// (min–max) over the runs, beside its baseline, the ratio, and the targets.
func (r Results) WriteText(w io.Writer) error {
	t, l, s, m := r.Throughput, r.Latency, r.Restore, r.Memory
	gc := fmt.Sprintf("GOGC %d", r.GC.GOGC)
	if r.GC.MemoryLimit > 0 {
		gc += ", GOMEMLIMIT " + size(r.GC.MemoryLimit)
	}
	if r.GC.Default {
		gc += " (Go's default)"
	}
	fmt.Fprintf(w, "catering bench on %s: %d partitions, max poll %d records, seed %d, GOMAXPROCS %d, %s; processor with %d %s (--members); %d runs of each measure, every timed phase >= %.1fs; %.0fs\n",
		r.Broker, r.Partitions, r.MaxPollRecords, r.Seed, r.GOMAXPROCS, gc, r.Members, plural(r.Members, "member", "members"), r.Runs, r.MinPhaseSeconds, r.Seconds)
	if r.MinPhaseSeconds < 2 {
		fmt.Fprintf(w, "WARNING: phases as short as %.2fs (--min-phase under 2s): a smoke test, not figures to compare\n", r.MinPhaseSeconds)
	}
	if len(r.Phases) > 0 && len(r.Phases) < len(AllPhases) {
		fmt.Fprintf(w, "phases: %s only (--phases); the other measures are not taken and their targets not checked\n", strings.Join(r.Phases, ", "))
	}
	c := t.Calibration
	if r.Events > 0 {
		fmt.Fprintf(w, "throughput input: %s orders = %s events (match %d, duplicate %d, decline %d, never match %d), sized from a calibration pass over %s events (EOS %s ev/s, copy loop %s rec/s) to last %.1fs\n",
			count(float64(r.Orders)), count(float64(r.Events)), r.Mix.Match, r.Mix.Duplicate, r.Mix.Decline, r.Mix.NeverMatch,
			count(float64(c.Events)), count(c.EventsPerSec), count(c.CopyRecordsPerSec), c.TargetSeconds)
	}
	fmt.Fprintln(w)

	f0 := func(v float64) string { return fmt.Sprintf("%.0f", v) }
	f1 := func(v float64) string { return fmt.Sprintf("%.1f", v) }
	f2 := func(v float64) string { return fmt.Sprintf("%.2f", v) }
	rate := func(v float64) string { return count(v) }
	sz := func(v float64) string { return size(int64(v)) }
	last := func(runs []CopyRun) int64 {
		if len(runs) == 0 {
			return 0
		}
		return runs[len(runs)-1].Records
	}

	tw := tabwriter.NewWriter(w, 0, 2, 2, ' ', 0)
	fmt.Fprintf(tw, "MEASURE: median (min–max) of %d runs\tSERVICE\tBASELINE\tRATIO (per pair of runs)\n", r.Runs)
	if len(t.Runs) > 0 {
		fmt.Fprintf(tw, "throughput, exactly-once\t%s ev/s\tcopy loop %s rec/s\t%s\n",
			fmtStat(t.EventsPerSec, rate), fmtStat(t.Baseline.RecordsPerSec, rate), fmtStat(t.Ratio, f2))
		fmt.Fprintf(tw, "  run length\t%s s, startup %s s\t%s s, startup %s s, %s records\t-\n",
			fmtStat(t.Seconds, f2), fmtStat(t.StartupSeconds, f2), fmtStat(t.Baseline.Seconds, f2), fmtStat(t.Baseline.StartupSeconds, f2),
			count(float64(last(t.Baseline.Runs))))
	}
	if len(t.CPURatio.Runs) > 0 {
		who := "this process (the embedded broker's included)"
		if !r.Embedded {
			who = "this process (the broker's not)"
		}
		fmt.Fprintf(tw, "  CPU of %s\t%s µs/event on %s cores\t%s µs/record on %s cores\t%s (CPU only)\n",
			who, fmtStat(t.CPUMicrosPerEvent, f2), fmtStat(t.Cores, f2), fmtStat(t.Baseline.CPUMicrosPerRecord, f2), fmtStat(t.Baseline.Cores, f2), fmtStat(t.CPURatio, f2))
	}
	if len(l.Runs) > 0 {
		fmt.Fprintf(tw, "latency p50 at %s ev/s, %.1fs a run\t%s ms\tcopy loop %s ms\t%s\n",
			count(l.RatePerSec), l.Seconds, fmtStat(l.P50Ms, f1), fmtStat(l.Baseline.P50Ms, f1), fmtStat(l.RatioP50, f2))
		fmt.Fprintf(tw, "latency p99\t%s ms\tcopy loop %s ms\t%s\n", fmtStat(l.P99Ms, f1), fmtStat(l.Baseline.P99Ms, f1), fmtStat(l.RatioP99, f2))
		fmt.Fprintf(tw, "latency max\t%s ms\tcopy loop %s ms\t-\n", fmtStat(l.MaxMs, f1), fmtStat(l.Baseline.MaxMs, f1))
	}
	if len(s.Runs) > 0 {
		fmt.Fprintf(tw, "restore, %s processes\t%s rec/s, %s proc/s\traw read %s rec/s\t%s\n",
			count(float64(s.Processes)), fmtStat(s.RecordsPerSec, rate), fmtStat(s.ProcessesPerSec, rate), fmtStat(s.Baseline.RecordsPerSec, rate), fmtStat(s.Ratio, f2))
		fmt.Fprintf(tw, "  run length\t%s s\t%s s\t-\n", fmtStat(s.Seconds, f2), fmtStat(s.Baseline.Seconds, f2))
	}
	if len(s.Bound.Runs) > 0 {
		fmt.Fprintf(tw, "  CPU of this process\t%s µs/record on %s cores\t%s µs/record on %s cores\t-\n",
			fmtStat(s.CPUMicrosPerRecord, f2), fmtStat(s.Cores, f2), fmtStat(s.Baseline.CPUMicrosPerRecord, f2), fmtStat(s.Baseline.Cores, f2))
		fmt.Fprintf(tw, "  decode and fold only, from memory\t%s µs/record on %s cores\t-\tbound %s\n",
			fmtStat(s.Floor.CPUMicrosPerRecord, f2), fmtStat(s.Floor.Cores, f2), fmtStat(s.Bound, f2))
	}
	if len(m.BytesPerProcess.Runs) > 0 {
		fmt.Fprintf(tw, "heap per pending process (2 events)\t%s B (%s processes)\t-\t-\n", fmtStat(m.BytesPerProcess, f0), count(float64(m.Processes)))
	}
	if len(s.Runs) > 0 {
		fmt.Fprintf(tw, "heap after restore\t%s (%s B/process)\t-\t-\n", fmtStat(s.HeapBytes, sz), fmtStat(s.HeapBytesPerProcess, f0))
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	if len(r.Scaling.Points) > 0 {
		fmt.Fprintf(w, "\nscaling: EOS throughput by processor.Config.Members, one worker each, %d rounds, GOMAXPROCS %d\n", r.Runs, r.GOMAXPROCS)
		tw = tabwriter.NewWriter(w, 0, 2, 2, ' ', 0)
		fmt.Fprintln(tw, "MEMBERS\tEV/S: median (min–max)\tRATIO TO 1 MEMBER (per round)")
		for _, p := range r.Scaling.Points {
			ratio := "-"
			if len(p.Ratio.Runs) > 0 {
				ratio = fmtStat(p.Ratio, f2)
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\n", p.Members, fmtStat(p.EventsPerSec, rate), ratio)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}

	fmt.Fprintln(w)
	if len(l.Runs) > 0 {
		fmt.Fprintf(w, "commit interval: %s ms = the processor's mean time between committed transactions while latency events were produced (%s records/txn; copy loop: %s ms between commits, %s ms per transaction)\n",
			fmtStat(l.CommitIntervalMs, f1), fmtStat(l.RecordsPerTxn, f0), fmtStat(l.Baseline.CommitIntervalMs, f1), fmtStat(l.Baseline.MeanTxnMs, f1))
	}
	if len(s.Runs) > 0 {
		fmt.Fprintf(w, "restore: %s; %s records per pass, %s of the processes synthetic pending ones added to the changelog; passes per run: restore %s, raw read %s\n",
			s.Method, count(float64(s.Records)), count(float64(s.TopUp)), passes(collect(s.Runs, func(x RestoreRun) float64 { return float64(x.Passes) })),
			passes(collect(s.Baseline.Runs, func(x RawReadRun) float64 { return float64(x.Passes) })))
	}
	if len(eosRuns(r)) > 0 {
		fmt.Fprintf(w, "commands: %s\n", commandsLine(r))
	}
	if d := t.DiscardedShortRuns + r.Scaling.DiscardedShortRuns; d > 0 {
		fmt.Fprintf(w, "discarded: %d %s shorter than %.1fs, redone on a larger input\n", d, plural(d, "run", "runs"), r.MinPhaseSeconds)
	}

	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 2, 2, ' ', 0)
	fmt.Fprintln(tw, "TARGET\tVALUE: median (min–max)\tGOAL\tRESULT")
	for _, tg := range r.Targets {
		fmt.Fprintf(tw, "%s\t%s\t%s %s\t%s\n", tg.Name, targetValue(tg), tg.Op, format(tg.Limit, tg.Name), verdict(tg))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, tg := range r.Targets {
		fmt.Fprintf(w, "  %s: %s\n", tg.Name, tg.Metric)
	}
	fmt.Fprintln(w, "  a ratio is taken per pair of runs (the service's run, then its baseline's run right after it); a target is met when its median is")
	return nil
}

// targetValue is a target's VALUE column; "-" when nothing was measured.
func targetValue(t Target) string {
	if !t.Checked && t.Value == 0 && t.Min == 0 && t.Max == 0 {
		return "-"
	}
	if t.Min == t.Max {
		return format(t.Value, t.Name)
	}
	return fmt.Sprintf("%s (%s–%s)", format(t.Value, t.Name), format(t.Min, t.Name), format(t.Max, t.Name))
}

// commandsLine says whether every run issued the commands the state model
// expects.
func commandsLine(r Results) string {
	runs := eosRuns(r)
	var bad []string
	for i, e := range runs {
		if e.CommandsIssued != e.CommandsExpected || e.DeadLettered != 0 {
			bad = append(bad, fmt.Sprintf("run %d: %d issued of %d, %d dead-lettered", i+1, e.CommandsIssued, e.CommandsExpected, e.DeadLettered))
		}
	}
	if len(bad) > 0 {
		return "MISMATCH with the state model: " + strings.Join(bad, "; ")
	}
	if len(runs) == 0 {
		return "no runs"
	}
	who := fmt.Sprintf("every one of the %d throughput and scaling runs", len(runs))
	if len(runs) == 1 {
		who = "the one throughput run"
	}
	return fmt.Sprintf("%s issued the ConfirmOrder commands the state model expects (%s with the last input) and dead-lettered none",
		who, count(float64(runs[len(runs)-1].CommandsExpected)))
}

// eosRuns are the throughput runs, then the scaling runs.
func eosRuns(r Results) []EOSRun {
	out := append([]EOSRun(nil), r.Throughput.Runs...)
	for _, p := range r.Scaling.Points {
		out = append(out, p.Runs...)
	}
	return out
}

// passes lists the passes of each run, "2, 2, 3".
func passes(p []float64) string {
	s := make([]string, len(p))
	for i, v := range p {
		s[i] = fmt.Sprintf("%.0f", v)
	}
	return strings.Join(s, ", ")
}

func format(v float64, target string) string {
	switch {
	case target == "memory":
		return fmt.Sprintf("%.0f B", v)
	case strings.HasPrefix(target, "restore heap"):
		return size(int64(v))
	}
	return fmt.Sprintf("%.2f", v)
}

// count formats a number with thousands separators.
func count(v float64) string {
	s := fmt.Sprintf("%.0f", v)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func size(b int64) string {
	switch {
	case b >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(b)/(1<<30))
	case b >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
	}
	return fmt.Sprintf("%.1f KiB", float64(b)/(1<<10))
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
