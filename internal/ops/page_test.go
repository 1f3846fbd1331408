package ops

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

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
// browser and watches an order move from pending to confirmed; then reads
// the dead-letter panel, an order's history step by step, the activity
// chart and a second page of pending orders.
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

	// Samples every 250 ms instead of 10 s, so that the chart fills quickly.
	srv := httptest.NewServer(newHandler(t.Context(), p, reg, cfg.Logger, 250*time.Millisecond))
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
	eval := func(expr string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
		require.NoError(t, err, expr)
		return s
	}
	click := func(sel string) {
		t.Helper()
		_, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => { document.querySelector(`+strconv.Quote(sel)+`).click(); return true; })()`))
		require.NoError(t, err, sel)
	}
	const pending42 = `table#pending tbody tr[data-order="42"]`
	const confirmed42 = `table#confirmed tbody tr[data-order="42"]`
	missing := func(order string) string {
		return `document.querySelector('table#pending tbody tr[data-order="` + order + `"] td.missing .tags')?.textContent`
	}

	poll("order 42 pending, waiting for the caterer", missing("42")+` === 'caterer'`)
	require.Contains(t, text(pending42+" td.menus"), "menu-a")
	require.Equal(t, "waiting for the caterer on menu-a", text(pending42+" td.missing .why"))
	require.Regexp(t, `^in 1h 59m$`, text(pending42+" td.deadline"), "the match timeout is 2h")
	require.Regexp(t, `^\d+s$`, text(pending42+" td.age"))
	require.Equal(t, "ready", text("#ready"))
	require.Regexp(t, `^partitions held: (none|\d+(,\d+)*)$`, text("#held"))
	require.Regexp(t, `^updated `, text("#updated"))
	require.Empty(t, text("#error"))

	poll("order 43 waiting for the customer", missing("43")+` === 'customer'`)
	poll("order 44 waiting for the caterer (who declined)", missing("44")+` === 'caterer'`)
	poll("order 45 waiting for the same menu", missing("45")+` === 'same menu'`)

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

	// Dead letters: an order id that differs from the key, and a value
	// that is not JSON. The panel shows where each came from and the
	// command line that sends it back, its dry run first.
	produce(t, b.Addr(),
		&kgo.Record{Topic: ev, Key: []byte("46"), Value: []byte(`{"id":"e9","type":"CustomerConfirmedMenu","order_id":"47"}`)},
		&kgo.Record{Topic: ev, Key: []byte("48"), Value: []byte(`not json`)},
	)
	const letter46 = `[...document.querySelectorAll('table#dlq tbody tr.letter')].find(r => r.querySelector('td.key').textContent === '46')`
	poll("the dead letter of order 46 in the panel", `!!`+letter46)
	poll("the dead letter of order 48 in the panel", `[...document.querySelectorAll('table#dlq td.key')].some(td => td.textContent === '48')`)
	dlq := eval(letter46 + `.dataset.dlq`)
	from := eval(letter46 + `.querySelector('td.from').textContent`)
	require.Regexp(t, `^`+ev+` / \d+ / \d+$`, from, "the original topic, partition and offset")
	require.Contains(t, eval(letter46+`.querySelector('td.reason').textContent`), `key_mismatch`)
	require.Contains(t, eval(letter46+`.querySelector('td.reason').textContent`), `order_id "47" differs from record key "46"`)
	cmds := eval(`[...` + letter46 + `.nextElementSibling.querySelectorAll('code.cmd')].map(c => c.textContent).join('\n')`)
	dlqPart, dlqOff, ok := strings.Cut(dlq, "/")
	require.True(t, ok, dlq)
	off, err := strconv.Atoi(dlqOff)
	require.NoError(t, err)
	want := "catering redrive --brokers " + b.Addr() + " --dlq-topic " + names.DLQ + " --events-topic " + ev +
		" --group " + cfg.Group + " --reason key_mismatch --order 46 --partition " + dlqPart +
		" --from " + dlqOff + " --to " + strconv.Itoa(off+1)
	require.Equal(t, want+" --dry-run\n"+want, cmds, "the dry run first, then the run")
	require.Equal(t, "1", text(`table#dlq-reasons tr[data-kind="key_mismatch"] td.since`), "counted by this instance")
	require.Equal(t, "1", text(`table#dlq-reasons tr[data-kind="not_json_object"] td.latest`), "and read from the topic")
	require.Contains(t, text(`table#dlq-reasons tr[data-kind="not_json_object"] td.commands`), "--reason not_json_object --dry-run")

	// The history of the matched order, from the search form.
	require.NoError(t, chromedp.Do(ctx, chromedp.SetValue(chromedp.ID("order-id"), "42"), chromedp.Click(chromedp.CSS("#order-form button"))))
	poll("the three steps of order 42", `document.querySelectorAll('table#steps tbody tr').length === 3 && document.querySelector('#order-summary').textContent.includes('42')`)
	steps := func() []string {
		s := eval(`[...document.querySelectorAll('table#steps tbody tr')].map(r => r.querySelector('td.entry strong').textContent + ' | ' + r.querySelector('td.state').textContent).join('\n')`)
		return strings.Split(s, "\n")
	}
	require.Equal(t, []string{
		"CustomerConfirmedMenu | pendingwaiting for the caterer on menu-a",
		"CatererConfirmedMenu | pendingboth sides confirmed menu-a: the decision is recorded with this event",
		"ConfirmOrderIssued | confirmedConfirmOrderIssued for menu menu-a, command id " + state.CommandID("42"),
	}, steps())
	require.Equal(t, state.CommandID("42"), text("#order-summary code.command-id"))
	require.Regexp(t, `^in 1h 59m$`, text(`table#steps tbody tr[data-step="1"] td.deadline`))

	// A pending order's history, from its row in the list.
	click(`table#pending tbody tr[data-order="44"] td.order button`)
	poll("the two steps of order 44", `document.querySelectorAll('table#steps tbody tr').length === 2 && document.querySelector('#order-summary code').textContent === '44'`)
	require.Equal(t, []string{
		"CustomerConfirmedMenu | pendingwaiting for the caterer on menu-c",
		"CatererDeclinedMenu | pendingcaterer declined menu-c; waiting for a customer confirmation of another menu, or for the caterer to confirm menu-c after all",
	}, steps())

	// The chart: a line of points per series, from the service's counters.
	poll("the activity chart with points", `(() => {
		const pts = sel => (document.querySelector(sel)?.getAttribute('points') || '').trim().split(' ').filter(Boolean).length;
		return pts('#chart-events polyline.events') >= 2 && pts('#chart-lag polyline.lag') >= 2 && pts('#chart-txns polyline.committed') >= 2;
	})()`)
	require.Regexp(t, `^latest: \d`, text("#chart-events .now"))

	// Paging: 30 more pending orders, 10 a page.
	var bulk []*kgo.Record
	for i := range 30 {
		bulk = append(bulk, event(ev, fmt.Sprintf("b%d", i), state.CustomerConfirmedMenu, fmt.Sprintf("bulk-%02d", i), "menu-a"))
	}
	produce(t, b.Addr(), bulk...)
	require.NoError(t, chromedp.Do(ctx, chromedp.SetValue(chromedp.ID("per-page"), "10")))
	eval(`String(document.querySelector('#per-page').dispatchEvent(new Event('change')))`)
	poll("34 pending, 10 on the first page", `document.querySelector('#pending-count').textContent === '(34)' &&
		document.querySelectorAll('table#pending tbody tr').length === 10 &&
		document.querySelector('#pending-pager .pos').textContent === 'page 1 · 1–10 of 34'`)
	firstPage := eval(`[...document.querySelectorAll('table#pending tbody tr')].map(r => r.dataset.order).join(',')`)
	require.Contains(t, firstPage, "43", "the oldest first")
	click("#pending-pager button.next")
	poll("the second page", `document.querySelector('#pending-pager .pos').textContent === 'page 2 · 11–20 of 34'`)
	secondPage := eval(`[...document.querySelectorAll('table#pending tbody tr')].map(r => r.dataset.order).join(',')`)
	require.Len(t, strings.Split(secondPage, ","), 10)
	for _, id := range strings.Split(secondPage, ",") {
		require.NotContains(t, strings.Split(firstPage, ","), id, "no order on both pages")
		require.True(t, strings.HasPrefix(id, "bulk-"), id)
	}
	require.Equal(t, "false", eval(`String(document.querySelector('#pending-pager button.prev').disabled)`))

	// Back to order 44's history for the picture.
	click(`#pending-pager button.first`)
	poll("the first page again", `document.querySelector('#pending-pager .pos').textContent === 'page 1 · 1–10 of 34'`)
	eval(`(() => { window.scrollTo(0, 0); return ""; })()`)
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
