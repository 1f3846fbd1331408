package ops

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/catering-match/catering-match/state"
)

const chromiumPath = "/usr/bin/chromium"

// screenshotPath receives a picture of the page at the end of TestPageLive,
// for a person to look at.
const screenshotPath = "/tmp/ops-page.png"

// browser starts a headless Chromium for the test and returns a tab.
func browser(t *testing.T) context.Context {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Skipf("%s not found: install Chromium to run the browser test (Debian/Ubuntu: apt-get update && apt-get install -y chromium)", chromiumPath)
	}
	profile := t.TempDir() // removed after the browser exits: cleanups run last-in first-out
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1280, 900),
	)
	t.Cleanup(cancelAlloc)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(cancel)
	ctx, cancelTimeout := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(cancelTimeout)
	return ctx
}

// consoleErrors collects the page's uncaught exceptions and console errors
// (a Content-Security-Policy violation is one).
func consoleErrors(t *testing.T, ctx context.Context) func() []string {
	var mu sync.Mutex
	var errs []string
	msgs := chromedp.Console(ctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			if m.IsException() || m.Type == chromedp.ConsoleError {
				mu.Lock()
				errs = append(errs, m.String())
				mu.Unlock()
			}
		}
	}()
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), errs...)
	}
}

// TestPageLive opens the operations page of a real processor in a headless
// browser and watches an order move from pending to confirmed.
func TestPageLive(t *testing.T) {
	ctx := browser(t)
	b := startBroker(t)
	names := testNames()
	ev := names.Events
	cfg := testConfig(t, b.Addr(), names)
	cfg.Limits.Timeout = 2 * time.Hour
	reg := prometheus.NewRegistry()
	cfg.Registerer = reg
	p := start(t, cfg)
	eventually(t, time.Minute, "the processor to be ready", p.Ready)

	srv := httptest.NewServer(Handler(p, reg, cfg.Logger))
	t.Cleanup(srv.Close)

	// Order ids are upstream data: one that looks like markup must show as text.
	const markup = `<img src=x onerror="document.title='pwned'">`
	produce(t, b.Addr(),
		event(ev, "e1", state.CustomerConfirmedMenu, "42", "menu-a"),
		event(ev, "e2", state.CatererConfirmedMenu, "43", "menu-b"),
		event(ev, "e3", state.CustomerConfirmedMenu, "44", "menu-c"),
		event(ev, "e4", state.CatererDeclinedMenu, "44", "menu-c"),
		event(ev, "e5", state.CustomerConfirmedMenu, "45", "menu-d"),
		event(ev, "e6", state.CatererConfirmedMenu, "45", "menu-e"),
		event(ev, "e7", state.CustomerConfirmedMenu, markup, "menu-x"),
	)

	errs := consoleErrors(t, ctx)
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(srv.URL)))

	poll := func(what, expr string) {
		t.Helper()
		_, err := chromedp.Run(ctx, chromedp.Poll[bool](expr,
			chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(time.Minute)))
		require.NoError(t, err, "waiting for %s; console errors: %v", what, errs())
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector(`+strconv.Quote(sel)+`).textContent`))
		require.NoError(t, err, sel)
		return s
	}
	const pending42 = `table#pending tbody tr[data-order="42"]`
	const confirmed42 = `table#confirmed tbody tr[data-order="42"]`

	poll("order 42 pending, waiting for the caterer", `(() => {
		const r = document.querySelector('`+pending42+`');
		return !!r && r.querySelector('td.missing').textContent === 'caterer';
	})()`)
	require.Contains(t, text(pending42+" td.menus"), "menu-a")
	require.Regexp(t, `^in 1h 59m$`, text(pending42+" td.deadline"), "the match timeout is 2h")
	require.Regexp(t, `^\d+s$`, text(pending42+" td.age"))
	require.Equal(t, "ready", text("#ready"))
	require.Regexp(t, `^partitions held: (none|\d+(,\d+)*)$`, text("#held"))
	require.Regexp(t, `^updated `, text("#updated"))
	require.Empty(t, text("#error"))

	poll("order 43 waiting for the customer", `document.querySelector('table#pending tbody tr[data-order="43"] td.missing')?.textContent === 'customer'`)
	poll("order 44 waiting for the caterer (who declined)", `document.querySelector('table#pending tbody tr[data-order="44"] td.missing')?.textContent === 'caterer'`)
	poll("order 45 waiting for the same menu", `document.querySelector('table#pending tbody tr[data-order="45"] td.missing')?.textContent === 'same menu'`)

	// The markup order id is shown verbatim and never parsed.
	shown, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => {
		const r = [...document.querySelectorAll('table#pending tbody tr')].find(r => r.dataset.order === `+strconv.Quote(markup)+`);
		return !!r && r.querySelector('td.order').textContent === r.dataset.order &&
			document.querySelectorAll('main img').length === 0 && document.title !== 'pwned';
	})()`))
	require.NoError(t, err)
	require.True(t, shown, "the order id that looks like markup is shown as text")

	produce(t, b.Addr(), event(ev, "e8", state.CatererConfirmedMenu, "42", "menu-a"))
	poll("order 42 confirmed and gone from pending", `(() => {
		const r = document.querySelector('`+confirmed42+`');
		return !!r && r.querySelector('td.confirmed-menu').textContent === 'menu-a' &&
			!document.querySelector('`+pending42+`');
	})()`)
	require.Regexp(t, `^\d+s ago$`, text(confirmed42+" td.ended"))
	require.Equal(t, "(1)", text("#confirmed-count"))
	require.Equal(t, "(4)", text("#pending-count"))
	require.Equal(t, "none", text("table#expired tbody tr.empty td"))

	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(screenshotPath, png, 0o644))
	t.Logf("screenshot: %s", screenshotPath)

	require.Empty(t, errs(), "the page logs no errors")

	// The processor's own metrics reach /metrics through Config.Registerer.
	res, err := http.Get(srv.URL + "/metrics")
	require.NoError(t, err)
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Contains(t, string(body), "\ncatering_match_ready 1\n")
	require.Contains(t, string(body), "\ncatering_match_commands_issued_total 1\n")
}
