// Package embedded runs the service's default broker: an in-process kfake
// cluster on 127.0.0.1, persisted to a data directory, so that the service
// and its client run on a fresh machine without Docker or Java.
package embedded

import (
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"syscall"

	"github.com/twmb/franz-go/pkg/kfake"
)

// Options configure the embedded broker.
type Options struct {
	// Port on 127.0.0.1; keep it below 32768 (the ephemeral range on Linux
	// collides with outgoing client ports).
	Port int
	// DataDir persists topics, offsets and transactions across restarts;
	// empty keeps everything in memory.
	DataDir string
	// Logger receives kfake's warnings; nil discards them.
	Logger *slog.Logger
}

// Broker is a running embedded broker.
type Broker struct {
	cluster *kfake.Cluster
	addr    string
}

// ErrPortInUse is returned (wrapped) when the port is taken.
var ErrPortInUse = errors.New("port in use")

// Start starts the broker and returns once it listens.
func Start(o Options) (*Broker, error) {
	if o.Port <= 0 || o.Port > 65535 {
		return nil, fmt.Errorf("embedded broker port %d: use 1-65535 (below 32768 recommended)", o.Port)
	}
	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.Ports(o.Port),
		kfake.BrokerConfigs(map[string]string{
			// kfake's compaction ignores the last stable offset and can drop
			// a committed value while a transaction is open (measured with the pinned kfake);
			// the changelog is only compacted on a real broker. ~285 years:
			// the largest interval kfake's timer accepts.
			"log.cleaner.backoff.ms": "9000000000000",
		}),
	}
	if o.DataDir != "" {
		if err := os.MkdirAll(o.DataDir, 0o755); err != nil {
			return nil, fmt.Errorf("embedded broker data directory: %w", err)
		}
		opts = append(opts, kfake.DataDir(o.DataDir))
	}
	if o.Logger != nil {
		opts = append(opts, kfake.WithLogger(logger{o.Logger}))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("%w: 127.0.0.1:%d is taken (another catering-match running? choose --embedded-port): %v", ErrPortInUse, o.Port, err)
		}
		return nil, fmt.Errorf("start embedded broker: %w", err)
	}
	return &Broker{cluster: c, addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(o.Port))}, nil
}

// Addr is the broker's host:port.
func (b *Broker) Addr() string { return b.addr }

// Close stops the broker, flushing its data directory.
func (b *Broker) Close() { b.cluster.Close() }

// Cluster is the kfake cluster behind the broker, for tests that inject
// broker answers (ControlKey).
func (b *Broker) Cluster() *kfake.Cluster { return b.cluster }

type logger struct{ l *slog.Logger }

func (l logger) Logf(level kfake.LogLevel, msg string, args ...any) {
	switch level {
	case kfake.LogLevelError:
		l.l.Error(fmt.Sprintf(msg, args...), "component", "kfake")
	case kfake.LogLevelWarn:
		l.l.Warn(fmt.Sprintf(msg, args...), "component", "kfake")
	}
}

// StartAnyPort starts a broker on a free port in [20000, 32000): for tests
// and tools that run several brokers side by side.
func StartAnyPort(o Options) (*Broker, error) {
	var err error
	for range 50 {
		o.Port = 20000 + rand.IntN(12000)
		var b *Broker
		if b, err = Start(o); err == nil {
			return b, nil
		}
		if !errors.Is(err, ErrPortInUse) {
			return nil, err
		}
	}
	return nil, err
}
