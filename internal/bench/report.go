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

// WriteText writes the results for a person: each figure beside its
// baseline, the ratio, and the target.
func (r Results) WriteText(w io.Writer) error {
	t, l, s, m := r.Throughput, r.Latency, r.Restore, r.Memory
	fmt.Fprintf(w, "catering bench on %s: %d partitions, %d orders = %d events (match %d, duplicate %d, decline %d, never match %d), max poll %d records, seed %d, %.0fs\n\n",
		r.Broker, r.Partitions, r.Orders, r.Events, r.Mix.Match, r.Mix.Duplicate, r.Mix.Decline, r.Mix.NeverMatch, r.MaxPollRecords, r.Seed, r.Seconds)
	tw := tabwriter.NewWriter(w, 0, 2, 2, ' ', 0)
	fmt.Fprintln(tw, "MEASURE\tSERVICE\tBASELINE\tRATIO")
	fmt.Fprintf(tw, "throughput, exactly-once\t%s ev/s (%.2fs, startup %.2fs, %d txns)\tcopy loop %s rec/s (%.2fs, startup %.2fs, %d txns)\t%.2f\n",
		count(t.EventsPerSec), t.Seconds, t.StartupSeconds, t.Transactions,
		count(t.Baseline.RecordsPerSec), t.Baseline.Seconds, t.Baseline.StartupSeconds, t.Baseline.Transactions, t.Ratio)
	fmt.Fprintf(tw, "latency p50/p99/max at %s ev/s\t%.1f / %.1f / %.1f ms (%d commands)\tcopy loop %.1f / %.1f / %.1f ms (%d copies)\t%.2f / %.2f (p50 / p99)\n",
		count(l.RatePerSec), l.P50Ms, l.P99Ms, l.MaxMs, l.Samples,
		l.Baseline.P50Ms, l.Baseline.P99Ms, l.Baseline.MaxMs, l.Baseline.Samples, l.RatioP50, l.RatioP99)
	fmt.Fprintf(tw, "restore\t%d processes in %.2fs = %s proc/s, %s rec/s\traw read %s rec/s (%d records, %.2fs)\t%.2f\n",
		s.Processes, s.Seconds, count(s.ProcessesPerSec), count(s.RecordsPerSec),
		count(s.Baseline.RecordsPerSec), s.Baseline.Records, s.Baseline.Seconds, s.Ratio)
	fmt.Fprintf(tw, "heap per pending process (2 events)\t%.0f B (%d processes, %s)\t-\t%.2f of 2 KiB\n",
		m.BytesPerProcess, m.Processes, size(m.HeapBytes), m.BytesPerProcess/2048)
	fmt.Fprintf(tw, "heap after restore\t%s (%.0f B/process)\t-\t-\n", size(s.HeapBytes), s.HeapBytesPerProcess)
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\ncommit interval: %.1f ms = the processor's mean time between committed transactions while latency events were produced (%.0f records/txn; copy loop: %.1f ms between commits, %.1f ms per transaction)\n",
		l.CommitIntervalMs, l.RecordsPerTxn, l.Baseline.CommitIntervalMs, l.Baseline.MeanTxnMs)
	fmt.Fprintf(w, "restore: %s; %d of the processes are synthetic pending ones added to the changelog\n", s.Method, s.TopUp)
	fmt.Fprintf(w, "commands: %d issued, %d expected by the state model\n\n", t.CommandsIssued, t.CommandsExpected)

	tw = tabwriter.NewWriter(w, 0, 2, 2, ' ', 0)
	fmt.Fprintln(tw, "TARGET\tVALUE\tGOAL\tRESULT")
	for _, tg := range r.Targets {
		verdict := "met"
		switch {
		case !tg.Checked:
			verdict = "not checked: " + strings.TrimPrefix(tg.Note, "not checked: ")
		case !tg.Met:
			verdict = "NOT MET"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s %s\t%s\n", tg.Name, format(tg.Value, tg.Name), tg.Op, format(tg.Limit, tg.Name), verdict)
	}
	return tw.Flush()
}

func format(v float64, target string) string {
	switch target {
	case "latency":
		return fmt.Sprintf("%.1f ms", v)
	case "memory":
		return fmt.Sprintf("%.0f B", v)
	case "restore heap":
		return size(int64(v))
	}
	return fmt.Sprintf("%.2f", v)
}

// count formats a rate with thousands separators.
func count(v float64) string {
	s := fmt.Sprintf("%.0f", v)
	var b strings.Builder
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
