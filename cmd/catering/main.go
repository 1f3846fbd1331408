// Command catering is the client of the catering-match service, for upstream
// producers and operators: it publishes events, tails the ConfirmOrder
// commands the service issues, and shows one order's process as the service
// would restore it from the changelog.
//
//	catering publish customer-confirmed --order 42 --menu menu-a
//	catering publish --file events.jsonl
//	catering tail --from-beginning --follow=false
//	catering state 42 --json
//
// Every flag can also be set as CATERING_<FLAG> (upper case, dashes as
// underscores): --brokers is CATERING_BROKERS.
package main

import (
	"context"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run runs the command line args (without the program name) and returns the
// exit code: 0 on success, 1 on a runtime error, 2 on a usage error.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	errOut := &trackingWriter{w: stderr}
	root := newRoot(stdin, stdout, errOut)
	if err := root.Parse(args); err != nil {
		return parseExitCode(err, errOut)
	}
	return exitCode(root.Run(ctx), errOut)
}
