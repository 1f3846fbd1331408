package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/peterbourgon/ff/v3"
	"github.com/peterbourgon/ff/v3/ffcli"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kslog"

	"github.com/catering-match/catering-match/internal/cli"
	"github.com/catering-match/catering-match/topics"
)

// defaultBrokers is the address of the service's embedded broker.
const defaultBrokers = "127.0.0.1:9092"

const envHelp = `Every flag can also be set as ` + cli.EnvPrefix + `_<FLAG>, in upper case with dashes as
underscores: --brokers is ` + cli.EnvPrefix + `_BROKERS, --events-topic is ` + cli.EnvPrefix + `_EVENTS_TOPIC.
A flag given on the command line wins over its variable.`

func newRoot(stdin io.Reader, stdout io.Writer, stderr *trackingWriter) *ffcli.Command {
	fs := flag.NewFlagSet("catering", flag.ContinueOnError)
	fs.SetOutput(stderr)
	root := &ffcli.Command{
		Name:       "catering",
		ShortUsage: "catering <publish|tail|state|verify|redrive|replay|bench|probe> [flags] [args]",
		LongHelp: `catering is the client of the catering-match service: it publishes events
for it, tails the ConfirmOrder commands it issues (read_committed), and shows
an order's process as the service restores it from its changelog.

` + envHelp + `

EXAMPLES
  catering publish customer-confirmed --order 42 --menu menu-a
  catering publish caterer-confirmed --order 42 --menu menu-a
  catering publish --file events.jsonl        (JSON lines; - or a pipe: stdin)
  catering tail --from-beginning --follow=false
  catering state 42 --json
  catering redrive --reason history_full --dry-run   (dead letters back to the events topic)
  catering replay                             (before a release that changes state/)

Run 'catering <command> -h' for a command's flags.`,
		FlagSet:   fs,
		Options:   ffOptions(),
		UsageFunc: usage,
		Subcommands: []*ffcli.Command{
			newPublish(stdin, stdout, stderr),
			newTail(stdout, stderr),
			newState(stdout, stderr),
			newVerify(stdout, stderr),
			newBench(stdout, stderr),
			newProbe(stdout, stderr),
			newRedrive(stdout, stderr),
			newReplay(stdout, stderr),
		},
	}
	root.Exec = func(_ context.Context, args []string) error {
		if len(args) == 1 && args[0] == "help" {
			fmt.Fprint(stderr, usage(root))
			return nil
		}
		if len(args) == 0 {
			fmt.Fprint(stderr, usage(root))
			return &usageError{msg: "no command", shown: true}
		}
		return &usageError{cmd: "catering", msg: fmt.Sprintf("unknown command %q: use publish, tail, state, verify, bench, probe, redrive or replay", args[0])}
	}
	return root
}

func ffOptions() []ff.Option { return []ff.Option{ff.WithEnvVarPrefix(cli.EnvPrefix)} }

// leaf is one subcommand: its flags are parsed wherever they stand among the
// positional arguments, which exec receives.
type leaf struct {
	name       string
	shortUsage string
	shortHelp  string
	longHelp   string
	fs         *flag.FlagSet
	exec       func(ctx context.Context, positional []string) error
}

func (l leaf) command(stderr *trackingWriter) *ffcli.Command {
	l.fs.SetOutput(stderr)
	return &ffcli.Command{
		Name:       l.name,
		ShortUsage: l.shortUsage,
		ShortHelp:  l.shortHelp,
		LongHelp:   l.longHelp,
		FlagSet:    l.fs,
		Options:    ffOptions(),
		UsageFunc:  usage,
		Exec: func(ctx context.Context, args []string) error {
			positional, err := parseInterspersed(l.fs, args)
			if errors.Is(err, flag.ErrHelp) {
				return errHelpShown
			}
			if err != nil { // the flag package has printed it, with the usage
				return &usageError{cmd: "catering " + l.name, msg: err.Error(), shown: true}
			}
			err = l.exec(ctx, positional)
			var ue *usageError
			switch {
			case err == nil:
				return nil
			case errors.As(err, &ue):
				ue.cmd = "catering " + l.name
				return ue
			}
			return fmt.Errorf("catering %s: %w", l.name, err)
		},
	}
}

// parseInterspersed parses the flags that follow each positional argument
// (the first pass, by ffcli, stopped at the first one), so that
// "catering state 42 --json" works as "catering state --json 42" does.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for len(args) > 0 {
		positional = append(positional, args[0])
		rest := args[1:]
		if err := fs.Parse(rest); err != nil {
			return nil, err
		}
		args = fs.Args()
		if consumed := len(rest) - len(args); consumed > 0 && rest[consumed-1] == "--" {
			return append(positional, args...), nil
		}
	}
	return positional, nil
}

// errHelpShown: -h was asked for after a positional argument, and the
// usage is printed. (Not flag.ErrHelp: ffcli would print it a second time.)
var errHelpShown = errors.New("help shown")

// usageError is a command line that cannot work: exit code 2.
type usageError struct {
	cmd   string
	msg   string
	shown bool // already printed (by the flag package)
}

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// parseExitCode reports an error from parsing the command line.
func parseExitCode(err error, stderr *trackingWriter) int {
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if stderr.written() == 0 { // ff's environment errors are not printed by the flag package
		fmt.Fprintf(stderr, "catering: %v: fix or unset the variable\n", err)
	}
	return 2
}

// exitCode reports the error a command returned and gives its exit code.
func exitCode(err error, stderr io.Writer) int {
	var ue *usageError
	switch {
	case err == nil, errors.Is(err, errHelpShown), errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		if !ue.shown {
			fmt.Fprintf(stderr, "%s: %s\nRun '%s -h' for usage.\n", ue.cmd, ue.msg, ue.cmd)
		}
		return 2
	}
	fmt.Fprintln(stderr, err)
	return 1
}

// trackingWriter is stderr, remembering whether anything was written to it,
// safe for concurrent use (promises and progress report from goroutines).
type trackingWriter struct {
	mu sync.Mutex
	w  io.Writer
	n  int
}

func (t *trackingWriter) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n, err := t.w.Write(p)
	t.n += n
	return n, err
}

func (t *trackingWriter) written() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.n
}

// usage prints a command's help: ffcli's layout, with each flag's
// environment variable.
func usage(c *ffcli.Command) string {
	var b strings.Builder
	fmt.Fprintf(&b, "USAGE\n  %s\n\n", c.ShortUsage)
	if c.ShortHelp != "" {
		fmt.Fprintf(&b, "%s\n\n", c.ShortHelp)
	}
	if c.LongHelp != "" {
		fmt.Fprintf(&b, "%s\n\n", c.LongHelp)
	}
	if len(c.Subcommands) > 0 {
		b.WriteString("COMMANDS\n")
		tw := tabwriter.NewWriter(&b, 0, 2, 2, ' ', 0)
		for _, s := range c.Subcommands {
			fmt.Fprintf(tw, "  %s\t%s\n", s.Name, s.ShortHelp)
		}
		tw.Flush()
		b.WriteString("\n")
	}
	var flags []*flag.Flag
	c.FlagSet.VisitAll(func(f *flag.Flag) { flags = append(flags, f) })
	if len(flags) > 0 {
		b.WriteString("FLAGS (each also read from " + cli.EnvPrefix + "_<FLAG>, upper case, dashes as underscores)\n")
		tw := tabwriter.NewWriter(&b, 0, 2, 2, ' ', 0)
		for _, f := range flags {
			arg, text := flag.UnquoteUsage(f)
			name := "--" + f.Name
			if arg != "" {
				name += " " + strings.ToUpper(arg)
			}
			if f.DefValue != "" && f.DefValue != "0" && f.DefValue != "false" {
				text += fmt.Sprintf(" (default %s)", f.DefValue)
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\n", name, envVar(f.Name), text)
		}
		tw.Flush()
	}
	return strings.TrimRight(b.String(), "\n") + "\n"
}

// envVar is the environment variable ff reads for a flag.
func envVar(flagName string) string {
	return cli.EnvPrefix + "_" + strings.ToUpper(strings.NewReplacer("-", "_", ".", "_", "/", "_").Replace(flagName))
}

// checkTopic returns an error saying how to fix a topic that does not
// exist. (Producing to a missing topic could make a broker auto-create it
// with its default partition count, breaking co-partitioning.)
func checkTopic(ctx context.Context, cl *kgo.Client, topic, flagName string) error {
	_, err := partitions(ctx, cl, topic, flagName)
	return err
}

// partitions returns the partition count of topic, or an error saying how
// to fix a topic that does not exist.
func partitions(ctx context.Context, cl *kgo.Client, topic, flagName string) (int32, error) {
	n, err := topics.PartitionCount(ctx, cl, topic)
	if err != nil {
		return 0, fmt.Errorf("%w (is the broker up? check --brokers)", err)
	}
	if n == 0 {
		return 0, fmt.Errorf("topic %s does not exist: start catering-match once (it creates its topics), or name the right topic with --%s", topic, flagName)
	}
	return n, nil
}

// connFlags are the flags every command needs to reach Kafka.
type connFlags struct {
	conn     cli.Conn
	logLevel string
}

func (c *connFlags) register(fs *flag.FlagSet) {
	c.conn.Register(fs, defaultBrokers, "Kafka seed `brokers`, host:port[,host:port]")
	fs.StringVar(&c.logLevel, "log-level", "error", "`level` of the Kafka client's logs on stderr: debug, info, warn or error")
}

// client returns a Kafka client, or a usage error naming a bad flag.
func (c *connFlags) client(stderr io.Writer, opts ...kgo.Opt) (*kgo.Client, error) {
	base, err := c.conn.Opts()
	if err != nil {
		return nil, &usageError{msg: err.Error()}
	}
	log, err := cli.NewLogger(stderr, c.logLevel, "text")
	if err != nil {
		return nil, &usageError{msg: fmt.Sprintf("--log-level: %v", err)}
	}
	base = append(base, kgo.WithLogger(kslog.New(log.With("component", "kgo"))))
	// Fail fast, with the fix, on a wrong address, password or certificate.
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := c.conn.Check(ctx, base); err != nil {
		return nil, err
	}
	cl, err := kgo.NewClient(append(base, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	return cl, nil
}

// logger returns the logger for library code (restore), at --log-level.
func (c *connFlags) logger(stderr io.Writer) *slog.Logger {
	l, err := cli.NewLogger(stderr, c.logLevel, "text")
	if err != nil {
		return slog.New(slog.DiscardHandler)
	}
	return l
}
