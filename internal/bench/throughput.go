package bench

import (
	"context"
	"fmt"
	"math"
	"time"
)

// sizeMargin: the inputs are sized to last MinPhase × sizeMargin at the
// rate measured, so that a run slightly faster than that still lasts
// MinPhase.
const sizeMargin = 1.25

// maxResizes bounds how often a run shorter than MinPhase is redone.
const maxResizes = 4

// grown is the input size for a run of n records that took seconds to last
// MinPhase × sizeMargin.
func (r *runner) grown(n int64, seconds float64) int64 {
	if seconds <= 0 {
		return 2 * n
	}
	return int64(math.Ceil(float64(n) * r.o.MinPhase.Seconds() * sizeMargin / seconds))
}

// throughput publishes the base input, runs one calibration pass of each
// loop over it, sizes both inputs from their rates, then measures Runs
// pairs: a processor run, then a copy-loop run.
func (r *runner) throughput(ctx context.Context) error {
	if err := r.growEOSInput(ctx, r.o.Orders, 0); err != nil {
		return err
	}
	// The copy loop is about three times as fast: three times the events
	// give it a calibration pass as long as the processor's.
	if err := r.ensureCopyRecords(ctx, 3*r.tpIn.events); err != nil {
		return err
	}
	cal, err := r.eosRun(ctx, "EOS calibration", "calibration-eos", r.o.Members, 0)
	if err != nil {
		return fmt.Errorf("calibration: %w", err)
	}
	ccal, err := r.copyRun(ctx, "copy-loop calibration", "calibration-copy")
	if err != nil {
		return fmt.Errorf("calibration: %w", err)
	}
	t := &r.res.Throughput
	t.Calibration = Calibration{Events: cal.Records, EventsPerSec: cal.EventsPerSec,
		CopyRecords: ccal.Records, CopyRecordsPerSec: ccal.RecordsPerSec, TargetSeconds: r.o.MinPhase.Seconds() * sizeMargin}
	if err := r.ensureEOSEvents(ctx, r.grown(cal.Records, cal.Seconds)); err != nil {
		return err
	}
	if err := r.ensureCopyRecords(ctx, r.grown(ccal.Records, ccal.Seconds)); err != nil {
		return err
	}
	r.prog.note("inputs sized for %.1fs runs: EOS %s events (calibration %s ev/s), copy loop %s records (calibration %s rec/s)",
		t.Calibration.TargetSeconds, count(float64(r.tpIn.events)), count(cal.EventsPerSec),
		count(float64(r.copyIn.records)), count(ccal.RecordsPerSec))

	for i := range r.o.Runs {
		run := fmt.Sprintf("%d/%d", i+1, r.o.Runs)
		e, err := r.eosRunSized(ctx, "EOS throughput "+run, fmt.Sprintf("eos-throughput-%d", i+1), r.o.Members, 0, &t.DiscardedShortRuns)
		if err != nil {
			return err
		}
		t.Runs = append(t.Runs, e)
		c, err := r.copyRunSized(ctx, "copy-loop throughput "+run, fmt.Sprintf("copy-throughput-%d", i+1), &t.DiscardedShortRuns)
		if err != nil {
			return err
		}
		t.Baseline.Runs = append(t.Baseline.Runs, c)
	}
	t.EventsPerSec = summarize(collect(t.Runs, func(e EOSRun) float64 { return e.EventsPerSec }))
	t.Seconds = summarize(collect(t.Runs, func(e EOSRun) float64 { return e.Seconds }))
	t.StartupSeconds = summarize(collect(t.Runs, func(e EOSRun) float64 { return e.StartupSeconds }))
	b := &t.Baseline
	b.RecordsPerSec = summarize(collect(b.Runs, func(c CopyRun) float64 { return c.RecordsPerSec }))
	b.Seconds = summarize(collect(b.Runs, func(c CopyRun) float64 { return c.Seconds }))
	b.StartupSeconds = summarize(collect(b.Runs, func(c CopyRun) float64 { return c.StartupSeconds }))
	t.Ratio = summarize(ratios(t.EventsPerSec.Runs, b.RecordsPerSec.Runs))
	if cpuMeasured(t.Runs, b.Runs) {
		t.CPUMicrosPerEvent = summarize(collect(t.Runs, func(e EOSRun) float64 { return 1e6 * e.CPUSeconds / float64(e.Records) }))
		t.Cores = summarize(collect(t.Runs, func(e EOSRun) float64 { return e.CPUSeconds / e.Seconds }))
		b.CPUMicrosPerRecord = summarize(collect(b.Runs, func(c CopyRun) float64 { return 1e6 * c.CPUSeconds / float64(c.Records) }))
		b.Cores = summarize(collect(b.Runs, func(c CopyRun) float64 { return c.CPUSeconds / c.Seconds }))
		t.CPURatio = summarize(ratios(b.CPUMicrosPerRecord.Runs, t.CPUMicrosPerEvent.Runs))
	}
	return nil
}

// eosRunSized is eosRun, redone on a larger input while it lasts less than
// MinPhase; discarded counts the runs thrown away.
func (r *runner) eosRunSized(ctx context.Context, label, profile string, members, workers int, discarded *int) (EOSRun, error) {
	return sized(ctx, r, label, "EOS input grown to %s events", discarded,
		func() (EOSRun, error) { return r.eosRun(ctx, label, profile, members, workers) },
		func(e EOSRun) (int64, float64) { return e.Records, e.Seconds },
		r.ensureEOSEvents)
}

// copyRunSized is copyRun, redone on a larger input while it lasts less
// than MinPhase.
func (r *runner) copyRunSized(ctx context.Context, label, profile string, discarded *int) (CopyRun, error) {
	return sized(ctx, r, label, "copy input grown to %s records", discarded,
		func() (CopyRun, error) { return r.copyRun(ctx, label, profile) },
		func(c CopyRun) (int64, float64) { return c.Records, c.Seconds },
		r.ensureCopyRecords)
}

// sized runs run, and again on an input grown by grow while a run lasts
// less than MinPhase, at most maxResizes times; discarded counts the runs
// thrown away, and grownNote (a format with one %s, the new size) says
// what was grown.
func sized[R any](ctx context.Context, r *runner, label, grownNote string, discarded *int,
	run func() (R, error), measure func(R) (records int64, seconds float64), grow func(context.Context, int64) error) (R, error) {
	for attempt := 0; ; attempt++ {
		res, err := run()
		records, seconds := measure(res)
		if err != nil || seconds >= r.o.MinPhase.Seconds() {
			return res, err
		}
		if attempt == maxResizes {
			return res, fmt.Errorf("%s lasted %v, under the minimum %v, after %d larger inputs", label, secs(seconds), r.o.MinPhase, maxResizes)
		}
		*discarded++
		need := r.grown(records, seconds)
		r.prog.note("%s lasted %v < %v: discarded; "+grownNote, label, secs(seconds), r.o.MinPhase, count(float64(need)))
		if err := grow(ctx, need); err != nil {
			return res, err
		}
	}
}

// scaling measures the EOS throughput at each MembersScan value, with one
// worker per member, in Runs rounds that each visit every value once (so
// that a drift of the machine shows in every point alike), and each point's
// ratio to the 1-member run of the same round.
func (r *runner) scaling(ctx context.Context) error {
	scan := r.o.MembersScan
	if len(scan) == 0 {
		return nil
	}
	if r.tpIn.events == 0 { // the throughput phase did not run
		if err := r.growEOSInput(ctx, r.o.Orders, 0); err != nil {
			return err
		}
	}
	s := &r.res.Scaling
	s.Points = make([]ScalingPoint, len(scan))
	for j, w := range scan {
		s.Points[j].Members = w
	}
	for i := range r.o.Runs {
		for j, w := range scan {
			e, err := r.eosRunSized(ctx, fmt.Sprintf("EOS members=%d %d/%d", w, i+1, r.o.Runs),
				fmt.Sprintf("scaling-m%d-%d", w, i+1), w, 1, &s.DiscardedShortRuns)
			if err != nil {
				return err
			}
			s.Points[j].Runs = append(s.Points[j].Runs, e)
		}
	}
	var one []float64
	for j := range s.Points {
		p := &s.Points[j]
		rates := collect(p.Runs, func(e EOSRun) float64 { return e.EventsPerSec })
		p.EventsPerSec = summarize(rates)
		if p.Members == 1 {
			one = rates
		}
	}
	if one != nil {
		for j := range s.Points {
			p := &s.Points[j]
			p.Ratio = summarize(ratios(p.EventsPerSec.Runs, one))
		}
	}
	return nil
}

// secs is seconds as a duration rounded to the millisecond, for messages.
func secs(s float64) time.Duration {
	return time.Duration(s * float64(time.Second)).Round(time.Millisecond)
}

// cpuMeasured reports whether every run of both loops has its CPU time.
func cpuMeasured(eos []EOSRun, cp []CopyRun) bool {
	for _, e := range eos {
		if e.CPUSeconds <= 0 {
			return false
		}
	}
	for _, c := range cp {
		if c.CPUSeconds <= 0 {
			return false
		}
	}
	return len(eos) > 0 && len(cp) > 0
}
