package main

import (
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestProbe(t *testing.T) {
	var ready atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/healthz":
			_, _ = w.Write([]byte("ok\n"))
		case r.URL.Path == "/readyz" && ready.Load():
			_, _ = w.Write([]byte("ready\npartitions held: 3\n"))
		default:
			http.Error(w, "not ready: restoring 2 partitions", http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()

	r := runCmd(t, nil, "probe", srv.URL+"/healthz")
	require.Equal(t, 0, r.code)
	require.Equal(t, "200 OK: ok\n", r.stdout)

	r = runCmd(t, nil, "probe", srv.URL+"/readyz")
	require.Equal(t, 1, r.code)
	require.Contains(t, r.stderr, "503 Service Unavailable: not ready: restoring 2 partitions")

	ready.Store(true)
	r = runCmd(t, nil, "probe", srv.URL+"/readyz")
	require.Equal(t, 0, r.code)
	require.Equal(t, "200 OK: ready\n", r.stdout)

	// Nothing listens: exit 1, naming the URL.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	r = runCmd(t, nil, "probe", "http://"+addr+"/healthz", "--timeout", "1s")
	require.Equal(t, 1, r.code)
	require.Contains(t, r.stderr, "http://"+addr+"/healthz")
}
