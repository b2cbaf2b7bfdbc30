package e2e

import (
	"bufio"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// BenchmarkJoinSettle measures a join with real processes: three nodes
// hold benchKeys keys of 1 KiB (n_val 3), a fourth joins, and the time
// until every node sees the cluster steady is reported with what the new
// node received (its dynamod_transfer_* metrics). Transfers are not
// throttled here (--transfer-rate 0), so the figure is the machine's.
//
//	go test -run '^$' -bench JoinSettle -benchtime 1x ./e2e/
func BenchmarkJoinSettle(b *testing.B) {
	needBinary(b)
	for range b.N {
		benchJoin(b, 10000)
	}
}

func benchJoin(b *testing.B, keys int) {
	b.StopTimer()
	bt := b
	flags := []string{"--transfer-rate", "0", "--release-delay", "1s"}
	ps := startCluster(bt, 3, flags...)
	waitSteady(bt, ps, []string{"n1", "n2", "n3"}, 30*time.Second)
	value := strings.Repeat("x", 1024)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for w := range 16 {
		wg.Go(func() {
			hc := &http.Client{Timeout: 10 * time.Second}
			for i := w; i < keys; i += 16 {
				req, _ := http.NewRequest("PUT", fmt.Sprintf("%s/kv/bench/k%06d", ps[i%3].url(), i), strings.NewReader(value))
				resp, err := hc.Do(req)
				if err != nil {
					errs <- err
					return
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusNoContent {
					errs <- fmt.Errorf("PUT: %d", resp.StatusCode)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	n4 := newProc(bt, "n4", flags...)
	b.StartTimer()
	start := time.Now()
	n4.start("--join", ps[0].gossipAddr())
	ps = append(ps, n4)
	waitSteady(bt, ps, []string{"n1", "n2", "n3", "n4"}, 5*time.Minute)
	took := time.Since(start)
	b.StopTimer()
	keysIn, bytesIn := metric(bt, n4, "dynamod_transfer_keys_total"), metric(bt, n4, "dynamod_transfer_bytes_total")
	b.ReportMetric(took.Seconds(), "s-to-settle")
	b.ReportMetric(keysIn, "keys-received")
	b.ReportMetric(bytesIn/1e6/took.Seconds(), "MB/s")
	b.ReportMetric(keysIn/took.Seconds(), "keys/s")
	for _, p := range ps {
		p.kill()
	}
}

// metric reads one counter from a node's /metrics (its admin listener).
func metric(t testing.TB, p *proc, name string) float64 {
	resp, err := http.Get(p.adminURL() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 2 && f[0] == name {
			v, err := strconv.ParseFloat(f[1], 64)
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
	}
	t.Fatalf("%s has no metric %s", p.name, name)
	return 0
}
