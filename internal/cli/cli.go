// Package cli holds what the two binaries share on their command lines:
// the Kafka connection flags and the logger.
package cli

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
)

// EnvPrefix is the prefix of every flag's environment variable:
// --brokers is CATERING_BROKERS, --log-level CATERING_LOG_LEVEL.
const EnvPrefix = "CATERING"

// Conn are the flags that say how to reach Kafka.
type Conn struct {
	Brokers string
}

// Register adds the connection flags to fs. defaultBrokers is shown in
// --help and used when the flag and its variable are unset.
func (c *Conn) Register(fs *flag.FlagSet, defaultBrokers, usage string) {
	fs.StringVar(&c.Brokers, "brokers", defaultBrokers, usage)
}

// Seeds returns the brokers as a list, or an error naming a bad entry.
func (c *Conn) Seeds() ([]string, error) {
	var out []string
	for _, b := range strings.Split(c.Brokers, ",") {
		b = strings.TrimSpace(b)
		if b == "" {
			continue
		}
		if !strings.Contains(b, ":") {
			return nil, fmt.Errorf("broker %q has no port: use host:port, e.g. 127.0.0.1:9092", b)
		}
		out = append(out, b)
	}
	return out, nil
}

// Opts returns the franz-go options every client of these brokers needs.
func (c *Conn) Opts() ([]kgo.Opt, error) {
	seeds, err := c.Seeds()
	if err != nil {
		return nil, err
	}
	if len(seeds) == 0 {
		return nil, fmt.Errorf("no brokers: set --brokers or %s_BROKERS to host:port[,host:port]", EnvPrefix)
	}
	sec, err := c.SecurityOpts()
	if err != nil {
		return nil, err
	}
	return append([]kgo.Opt{kgo.SeedBrokers(seeds...)}, sec...), nil
}

// SecurityOpts returns the TLS and SASL options the flags ask for.
func (c *Conn) SecurityOpts() ([]kgo.Opt, error) {
	return nil, nil
}

// NewLogger returns a logger writing to w at level ("debug", "info",
// "warn", "error") in format ("text" or "json").
func NewLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level %q: use debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: l}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("log format %q: use text or json", format)
}
