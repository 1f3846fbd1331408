package audit

import (
	"bytes"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestProgress(t *testing.T) {
	var out syncBuffer
	var done atomic.Int64
	done.Store(250)
	stop := progress(&out, 10*time.Millisecond, &done, 1000)
	require.Eventually(t, func() bool { return strings.Contains(out.String(), "verify: read 250 / 1000 records (25%)\n") }, 5*time.Second, 5*time.Millisecond)
	stop()
	n := len(out.String())
	time.Sleep(30 * time.Millisecond)
	require.Len(t, out.String(), n, "nothing printed after stop")
}
