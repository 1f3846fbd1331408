package processor

import (
	"context"
	"log/slog"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kslog"
)

// kgoLogger routes franz-go's logs through the service's logger, tagged
// component=kgo. franz-go logs every transaction at info level, so its
// records pass only at warn and above unless the service logs at debug.
func kgoLogger(l *slog.Logger) kgo.Logger {
	h := l.Handler()
	minLevel := slog.LevelWarn
	if h.Enabled(context.Background(), slog.LevelDebug) {
		minLevel = slog.LevelDebug
	}
	return kslog.New(slog.New(levelFloor{Handler: h, min: minLevel}).With("component", "kgo"))
}

// levelFloor drops records below min.
type levelFloor struct {
	slog.Handler
	min slog.Level
}

func (f levelFloor) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= f.min && f.Handler.Enabled(ctx, l)
}

func (f levelFloor) WithAttrs(a []slog.Attr) slog.Handler {
	return levelFloor{Handler: f.Handler.WithAttrs(a), min: f.min}
}

func (f levelFloor) WithGroup(n string) slog.Handler {
	return levelFloor{Handler: f.Handler.WithGroup(n), min: f.min}
}
