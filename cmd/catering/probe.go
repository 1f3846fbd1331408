package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/peterbourgon/ff/v3/ffcli"
)

// probeCmd asks one of the service's operations endpoints and exits 0 when
// it answers 2xx. It exists for images with no shell or curl (a distroless
// or scratch container's HEALTHCHECK runs it).
type probeCmd struct {
	timeout time.Duration
	stdout  io.Writer
}

const defaultProbeURL = "http://127.0.0.1:8080/healthz"

func newProbe(stdout io.Writer, stderr *trackingWriter) *ffcli.Command {
	c := &probeCmd{stdout: stdout}
	fs := flag.NewFlagSet("catering probe", flag.ContinueOnError)
	fs.DurationVar(&c.timeout, "timeout", 3*time.Second, "how long to wait for the answer")
	return leaf{
		name:       "probe",
		shortUsage: "catering probe [URL] [--timeout 3s]",
		shortHelp:  "GET an operations endpoint; exit 0 on a 2xx answer, 1 otherwise",
		longHelp: `Asks the service's operations endpoint at URL (default ` + defaultProbeURL + `)
and prints the answer's first line. Exit code 0 when it answers 2xx, 1 when it
answers anything else or does not answer within --timeout. The container
image's HEALTHCHECK runs it; /readyz is the readiness check.`,
		fs:   fs,
		exec: c.exec,
	}.command(stderr)
}

func (c *probeCmd) exec(ctx context.Context, args []string) error {
	if len(args) > 1 {
		return usagef("unexpected arguments %q: probe takes at most one URL", args[1:])
	}
	raw := defaultProbeURL
	if len(args) == 1 {
		raw = args[0]
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return usagef("URL %q: give an http(s) URL with a host, e.g. %s", raw, defaultProbeURL)
	}
	if c.timeout <= 0 {
		return usagef("--timeout %v must be positive", c.timeout)
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w", u, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	first, _, _ := strings.Cut(strings.TrimSpace(string(body)), "\n")
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s: %s: %s", u, resp.Status, first)
	}
	fmt.Fprintf(c.stdout, "%s: %s\n", resp.Status, first)
	return nil
}
