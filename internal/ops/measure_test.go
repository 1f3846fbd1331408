package ops

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/catering-match/catering-match/state"
	"github.com/catering-match/catering-match/topics"
)

// plainSource hides a source's Operator methods: GET /orders then lists
// with Orders (processor.List), as it did before pages.
type plainSource struct{ Source }

// TestMeasureOrdersPage measures GET /orders?status=pending&limit=50, and
// then GET /metrics, with 100,000 live processes, restored from the changelog as a real start
// restores them: the time of one request and the longest the loop was
// held meanwhile, before (List) and after (Page). The hold is what a tiny
// loop query (Lag) waits, asked again and again during the request. It
// asserts nothing about times and runs only with OPS_MEASURE=1:
//
//	OPS_MEASURE=1 go test -run TestMeasureOrdersPage -v ./internal/ops/
func TestMeasureOrdersPage(t *testing.T) {
	if os.Getenv("OPS_MEASURE") == "" {
		t.Skip("set OPS_MEASURE=1 to measure /orders with 100,000 processes")
	}
	const n, parts = 100_000, 3
	b := startBroker(t)
	names := testNames()
	cfg := testConfig(t, b.Addr(), names)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	// The topics, then the changelog records of n processes, before the
	// service starts: every third confirmed, the others pending.
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerBatchMaxBytes(1<<20))
	require.NoError(t, err)
	defer cl.Close()
	adm := kadm.NewClient(cl)
	for _, tp := range []string{names.Events, names.Commands, names.DLQ} {
		_, err := adm.CreateTopic(ctx, parts, 1, nil, tp)
		require.NoError(t, err)
	}
	compact := "compact"
	_, err = adm.CreateTopic(ctx, parts, 1, map[string]*string{"cleanup.policy": &compact}, names.Changelog)
	require.NoError(t, err)
	now := time.Now().UTC()
	var recs []*kgo.Record
	for i := range n {
		key := fmt.Sprintf("order-%06d", i)
		at := now.Add(-time.Duration(n-i) * time.Millisecond)
		h := []state.Entry{{ID: "c-" + key, Type: state.CustomerConfirmedMenu, Ref: "menu-a", At: state.StampOf(at)}}
		if i%3 == 0 {
			h = append(h, state.Entry{ID: "k-" + key, Type: state.CatererConfirmedMenu, Ref: "menu-a", At: state.StampOf(at)},
				state.Entry{ID: state.CommandID(key), Type: state.ConfirmOrderIssued, Ref: "menu-a", At: state.StampOf(at)})
		}
		recs = append(recs, &kgo.Record{Topic: names.Changelog, Partition: topics.PartitionFor(key, parts),
			Key: []byte(key), Value: topics.EncodeProcess(key, h)})
	}
	require.NoError(t, cl.ProduceSync(ctx, recs...).FirstErr())

	reg := prometheus.NewRegistry()
	cfg.Registerer = reg
	began := time.Now()
	p := start(t, cfg)
	eventually(t, 5*time.Minute, "the restore of 100,000 processes", p.Ready)
	t.Logf("restored %d processes in %v", n, time.Since(began).Round(time.Millisecond))

	servers := map[string]*httptest.Server{
		"before (List)": httptest.NewServer(newHandler(t.Context(), plainSource{p}, reg, cfg.Logger, time.Hour)),
		"after (Page)":  httptest.NewServer(newHandler(t.Context(), p, reg, cfg.Logger, time.Hour)),
	}
	for _, srv := range servers {
		t.Cleanup(srv.Close)
	}
	var page struct {
		Count int `json:"count"`
		Total int `json:"total"`
	}
	res, err := http.Get(servers["after (Page)"].URL + "/orders?status=pending&limit=50")
	require.NoError(t, err)
	require.NoError(t, json.NewDecoder(res.Body).Decode(&page))
	res.Body.Close()
	require.Equal(t, 50, page.Count)
	require.Equal(t, n-(n+2)/3, page.Total, "every pending process counted")
	for _, name := range []string{"before (List)", "after (Page)"} {
		var took, held []time.Duration
		for range 5 {
			d, h := measure(t, p, servers[name].URL+"/orders?status=pending&limit=50")
			took, held = append(took, d), append(held, h)
		}
		slices.Sort(took)
		slices.Sort(held)
		t.Logf("%s: GET /orders?status=pending&limit=50 with %d processes: median %v (max %v); longest loop hold: median %v (max %v)",
			name, n, took[2].Round(time.Millisecond), took[4].Round(time.Millisecond),
			held[2].Round(100*time.Microsecond), held[4].Round(100*time.Microsecond))
	}
	// A scrape of /metrics reads the status counts and the oldest pending
	// process without visiting the others.
	var took, held []time.Duration
	for range 5 {
		d, h := measure(t, p, servers["after (Page)"].URL+"/metrics")
		took, held = append(took, d), append(held, h)
	}
	slices.Sort(took)
	slices.Sort(held)
	t.Logf("GET /metrics with %d processes: median %v (max %v); longest loop hold: median %v (max %v)",
		n, took[2].Round(100*time.Microsecond), took[4].Round(100*time.Microsecond),
		held[2].Round(100*time.Microsecond), held[4].Round(100*time.Microsecond))
}

// measure gets url once while asking the loop for the lag again and again;
// it returns the time of the request and the longest lag query.
func measure(t *testing.T, p interface {
	Lag(context.Context) (map[int32]int64, error)
}, url string) (took, held time.Duration) {
	t.Helper()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			s := time.Now()
			if _, err := p.Lag(context.Background()); err != nil {
				return
			}
			held = max(held, time.Since(s))
		}
	}()
	time.Sleep(20 * time.Millisecond)
	s := time.Now()
	res, err := http.Get(url)
	took = time.Since(s)
	close(stop)
	wg.Wait()
	require.NoError(t, err)
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, res.Body)
	require.Equal(t, http.StatusOK, res.StatusCode)
	return took, held
}
