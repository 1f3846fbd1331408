package ops

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/catering-match/catering-match/processor"
)

// The activity chart: a sample every 10 s, 90 of them, 15 minutes.
const (
	sampleEvery   = 10 * time.Second
	samplesKept   = 90
	sampleTimeout = 2 * time.Second
)

// sample is the counters and the lag at one moment.
type sample struct {
	at                           time.Time
	applied, committed, aborted  int64
	lag                          int64
	lagKnown                     bool // the loop answered
	deadLettered, commandsIssued int64
}

// sampler keeps the last samplesKept samples in a ring. A sample reads the
// processor's counters (atomics) and asks the loop for the lag of each
// held partition, which visits no process.
type sampler struct {
	src   Operator
	every time.Duration
	log   *slog.Logger

	mu   sync.Mutex
	ring [samplesKept]sample
	n    int // samples taken, at most samplesKept kept
}

func newSampler(src Operator, every time.Duration, log *slog.Logger) *sampler {
	return &sampler{src: src, every: every, log: log}
}

// run samples now and then every s.every until ctx ends.
func (s *sampler) run(ctx context.Context) {
	s.take(ctx)
	t := time.NewTicker(s.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.take(ctx)
		}
	}
}

func (s *sampler) take(ctx context.Context) {
	st := s.src.Stats()
	x := sample{at: time.Now(), applied: st.Applied.Load(), committed: st.TxnCommitted.Load(),
		aborted: st.TxnAborted.Load(), deadLettered: st.DeadLettered.Load(), commandsIssued: st.CommandsIssued.Load()}
	lctx, cancel := context.WithTimeout(ctx, sampleTimeout)
	defer cancel()
	lag, err := s.src.Lag(lctx)
	switch {
	case err == nil:
		x.lagKnown = true
		for _, n := range lag {
			x.lag += n
		}
	case errors.Is(err, processor.ErrNotRunning), ctx.Err() != nil:
		// Starting or rebuilding its session: the point shows no lag.
	default:
		s.log.Debug("activity sample: lag unknown", "err", err)
	}
	s.mu.Lock()
	s.ring[s.n%samplesKept] = x
	s.n++
	s.mu.Unlock()
}

// samples returns the samples kept, oldest first.
func (s *sampler) samples() []sample {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := min(s.n, samplesKept)
	out := make([]sample, 0, k)
	for i := s.n - k; i < s.n; i++ {
		out = append(out, s.ring[i%samplesKept])
	}
	return out
}

// activityPoint is one sample as GET /activity gives it. The rates and
// counts are over the interval since the sample before; the first sample
// has none.
type activityPoint struct {
	At              time.Time `json:"at"`
	EventsPerSecond *float64  `json:"events_per_second"`
	Lag             *int64    `json:"lag"`
	Committed       *int64    `json:"committed"` // transactions in the interval
	Aborted         *int64    `json:"aborted"`
	DeadLettered    *int64    `json:"dead_lettered"`
	CommandsIssued  *int64    `json:"commands_issued"`
}

// activity is the body of GET /activity.
type activity struct {
	IntervalSeconds float64         `json:"interval_seconds"`
	WindowSeconds   float64         `json:"window_seconds"`
	Points          []activityPoint `json:"points"`
}

func (s *sampler) activity() activity {
	ss := s.samples()
	out := activity{IntervalSeconds: s.every.Seconds(), WindowSeconds: s.every.Seconds() * samplesKept,
		Points: make([]activityPoint, len(ss))}
	for i, x := range ss {
		pt := activityPoint{At: x.at.UTC()}
		if x.lagKnown {
			pt.Lag = ptr(x.lag)
		}
		if i > 0 {
			prev := ss[i-1]
			if secs := x.at.Sub(prev.at).Seconds(); secs > 0 && x.applied >= prev.applied {
				pt.EventsPerSecond = ptr(float64(x.applied-prev.applied) / secs)
			}
			pt.Committed = delta(prev.committed, x.committed)
			pt.Aborted = delta(prev.aborted, x.aborted)
			pt.DeadLettered = delta(prev.deadLettered, x.deadLettered)
			pt.CommandsIssued = delta(prev.commandsIssued, x.commandsIssued)
		}
		out.Points[i] = pt
	}
	return out
}

func ptr[T any](v T) *T { return &v }

// delta is b-a, or nil if the counter went back (it does not, but a point
// without a value is better than a negative one).
func delta(a, b int64) *int64 {
	if b < a {
		return nil
	}
	return ptr(b - a)
}

func (h *handler) activityJSON(w http.ResponseWriter, _ *http.Request) {
	if h.activity == nil {
		notAvailable(w)
		return
	}
	writeJSON(w, http.StatusOK, h.activity.activity())
}
