package bench

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// progress reports the phases on w (stderr). With bars (a terminal) each
// phase is a bar redrawn in place with a carriage return while it runs and
// ended with a newline. Without (a file, a pipe, CI logs) each phase is two
// lines: one when it starts, one when it ends, with its figures.
type progress struct {
	w     io.Writer
	bars  bool
	now   func() time.Time // time.Now unless a test sets it
	began time.Time        // of the run: lines carry the time since
}

func newProgress(w io.Writer, bars bool) *progress {
	p := &progress{w: w, bars: bars, now: time.Now}
	p.began = p.now()
	return p
}

const barWidth = 30

// phaseProgress is one running phase; end it with end.
type phaseProgress struct {
	p     *progress
	name  string
	unit  string
	total int64
	cur   func() int64
	start time.Time
	stop  chan struct{}
	done  chan struct{}
	once  sync.Once
}

// phase starts reporting a phase of total units (records, events,
// processes; total <= 0: open-ended), whose done count cur returns.
func (p *progress) phase(name string, total int64, unit string, cur func() int64) *phaseProgress {
	ph := &phaseProgress{p: p, name: name, unit: unit, total: total, cur: cur}
	if p == nil || p.w == nil {
		return ph
	}
	ph.start = p.now()
	if !p.bars {
		fmt.Fprintln(p.w, p.startLine(name, total, unit))
		return ph
	}
	ph.stop, ph.done = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(ph.done)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ph.stop:
				p.draw(name, cur(), total, unit, p.now().Sub(ph.start), "\n")
				return
			case <-t.C:
				p.draw(name, cur(), total, unit, p.now().Sub(ph.start), "")
			}
		}
	}()
	return ph
}

// end ends the phase. figures (may be empty) are what it measured, for the
// end line; a bar shows only its last state, as it always has.
func (ph *phaseProgress) end(figures string) {
	p := ph.p
	if p == nil || p.w == nil {
		return
	}
	ph.once.Do(func() {
		if p.bars {
			close(ph.stop)
			<-ph.done
			return
		}
		fmt.Fprintln(p.w, p.endLine(ph.name, ph.cur(), ph.total, ph.unit, p.now().Sub(ph.start), figures))
	})
}

// note prints a line of its own (without bars only: a terminal keeps its
// bars).
func (p *progress) note(format string, args ...any) {
	if p == nil || p.w == nil || p.bars {
		return
	}
	fmt.Fprintf(p.w, "bench %7.1fs %s\n", p.now().Sub(p.began).Seconds(), fmt.Sprintf(format, args...))
}

// startLine is "bench    12.3s NAME: start, 466,000 events".
func (p *progress) startLine(name string, total int64, unit string) string {
	s := fmt.Sprintf("bench %7.1fs %s: start", p.now().Sub(p.began).Seconds(), name)
	if total > 0 {
		s += fmt.Sprintf(", %s %s", count(float64(total)), unit)
	}
	return s
}

// endLine is "bench    14.9s NAME: end, 466,000/466,000 events in 2.61s; FIGURES"
// (open-ended phases: "466,000 events in 2.61s").
func (p *progress) endLine(name string, n, total int64, unit string, took time.Duration, figures string) string {
	s := fmt.Sprintf("bench %7.1fs %s: end, ", p.now().Sub(p.began).Seconds(), name)
	if total > 0 {
		s += fmt.Sprintf("%s/%s %s in %.2fs", count(float64(n)), count(float64(total)), unit, took.Seconds())
	} else {
		s += fmt.Sprintf("%s %s in %.2fs", count(float64(n)), unit, took.Seconds())
	}
	if figures != "" {
		s += "; " + figures
	}
	return s
}

func (p *progress) draw(name string, n, total int64, unit string, took time.Duration, end string) {
	if total <= 0 { // open-ended: a count, no bar
		fmt.Fprintf(p.w, "\r%-24s %d %s %6.1fs%s", name, n, unit, took.Seconds(), end)
		return
	}
	frac := min(1, max(0, float64(n)/float64(total)))
	filled := int(frac * barWidth)
	bar := strings.Repeat("=", filled)
	if filled < barWidth {
		bar += ">" + strings.Repeat(" ", barWidth-filled-1)
	}
	fmt.Fprintf(p.w, "\r%-24s [%s] %3.0f%% %d/%d %6.1fs%s", name, bar, 100*frac, n, total, took.Seconds(), end)
}
