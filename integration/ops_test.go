package integration

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestOperationsEndpoints: two instances with their operations endpoints;
// /metrics is scraped while a load runs, /readyz turns ready, and an order
// is answered the same by the instance that owns it and the one that does
// not.
func TestOperationsEndpoints(t *testing.T) {
	s := newSuite(t, 6)
	base := 20000 + rand.IntN(10000)
	addrA, addrB := fmt.Sprintf("127.0.0.1:%d", base), fmt.Sprintf("127.0.0.1:%d", base+1)
	a := s.start("a", "--http-addr", addrA)
	b := s.start("b", "--http-addr", addrB)
	recs, exp := workload(seed(t), scale(t), "h")
	published := s.publishPaced(recs, 50, 20*time.Millisecond)

	// Scrape while the load runs.
	var scrapes int
	for open := true; open; {
		select {
		case <-published:
			open = false
		case <-time.After(200 * time.Millisecond):
		}
		if body, code := get(t, "http://"+addrA+"/metrics"); code == http.StatusOK {
			require.Contains(t, body, "catering_match_events_applied_total")
			scrapes++
		}
	}
	require.Positive(t, scrapes)
	s.waitProcessed(5*time.Minute, a, b)
	s.verify(exp)

	for _, addr := range []string{addrA, addrB} {
		require.Eventually(t, func() bool { _, code := get(t, "http://"+addr+"/readyz"); return code == http.StatusOK },
			time.Minute, 100*time.Millisecond, "%s never ready", addr)
	}
	bodyA, _ := get(t, "http://"+addrA+"/metrics")
	bodyB, _ := get(t, "http://"+addrB+"/metrics")
	issued := metric(t, bodyA, "catering_match_commands_issued_total") + metric(t, bodyB, "catering_match_commands_issued_total")
	require.Equal(t, float64(len(exp.commands)), issued, "ConfirmOrder counted by the two instances")
	require.Contains(t, bodyA, `catering_match_live_processes{status="pending"}`)
	body := bodyA
	require.Contains(t, body, "catering_match_kafka_")

	// Every matched order reads the same on both instances: one from its
	// memory, the other from the changelog.
	checked := 0
	for order, want := range exp.commands {
		var views [2]map[string]any
		for i, addr := range []string{addrA, addrB} {
			body, code := get(t, "http://"+addr+"/orders/"+order)
			require.Equal(t, http.StatusOK, code, body)
			require.NoError(t, json.Unmarshal([]byte(body), &views[i]))
			require.Equal(t, "confirmed", views[i]["status"])
			menu, _ := views[i]["confirmed_menu"].(string) // absent for the default menu
			require.Equal(t, want.menu, menu)
		}
		sources := []any{views[0]["source"], views[1]["source"]}
		require.ElementsMatch(t, []any{"memory", "changelog"}, sources, "order %s", order)
		require.Equal(t, views[0]["history"], views[1]["history"])
		if checked++; checked == 20 {
			break
		}
	}
	body, code := get(t, "http://"+addrB+"/orders?status=pending&limit=5")
	require.Equal(t, http.StatusOK, code, body)
	a.stop(t)
	b.stop(t)
}

// metric returns the value of an unlabelled metric in a Prometheus text page.
func metric(t *testing.T, page, name string) float64 {
	t.Helper()
	for _, line := range strings.Split(page, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			var f float64
			_, err := fmt.Sscan(v, &f)
			require.NoError(t, err, line)
			return f
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

func get(t *testing.T, url string) (string, int) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		return err.Error(), 0
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return strings.TrimSpace(string(b)), resp.StatusCode
}
