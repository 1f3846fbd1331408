package bench

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// progress draws one bar per phase on w (stderr), redrawn in place with a
// carriage return while the phase runs and ended with a newline.
type progress struct {
	w io.Writer
}

const barWidth = 30

// phase starts drawing the bar of a phase of total units, whose done count
// cur returns. The returned func ends the phase and prints its last state.
func (p progress) phase(name string, total int64, cur func() int64) (end func()) {
	if p.w == nil {
		return func() {}
	}
	start := time.Now()
	stop, done := make(chan struct{}), make(chan struct{})
	var once sync.Once
	go func() {
		defer close(done)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				p.draw(name, cur(), total, time.Since(start), "\n")
				return
			case <-t.C:
				p.draw(name, cur(), total, time.Since(start), "")
			}
		}
	}()
	return func() {
		once.Do(func() {
			close(stop)
			<-done
		})
	}
}

func (p progress) draw(name string, n, total int64, took time.Duration, end string) {
	frac := 1.0
	if total > 0 {
		frac = min(1, max(0, float64(n)/float64(total)))
	}
	filled := int(frac * barWidth)
	bar := strings.Repeat("=", filled)
	if filled < barWidth {
		bar += ">" + strings.Repeat(" ", barWidth-filled-1)
	}
	fmt.Fprintf(p.w, "\r%-24s [%s] %3.0f%% %d/%d %6.1fs%s", name, bar, 100*frac, n, total, took.Seconds(), end)
}
