package clustertest_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dynamod/dynamod/internal/clustertest"
	"github.com/dynamod/dynamod/quorum"
	"github.com/dynamod/dynamod/transport"
)

// getLog records the KindGet requests and responses of a network: each
// request's body length and each response's, by node.
type getLog struct {
	mu        sync.Mutex
	requests  map[string][]int // by the node asked
	responses map[string][]int // by the node that answered
}

func logGets(n *transport.MemNetwork) *getLog {
	l := &getLog{requests: map[string][]int{}, responses: map[string][]int{}}
	n.Hook(func(m *transport.Msg) bool {
		if m.Kind == quorum.KindGet && m.Err == "" {
			l.mu.Lock()
			if m.Response {
				l.responses[m.From] = append(l.responses[m.From], len(m.Body))
			} else {
				l.requests[m.To] = append(l.requests[m.To], len(m.Body))
			}
			l.mu.Unlock()
		}
		return true
	})
	return l
}

func (l *getLog) take() (requests, responses map[string][]int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	requests, responses = l.requests, l.responses
	l.requests, l.responses = map[string][]int{}, map[string][]int{}
	return requests, responses
}

// TestCluster_digestReads: with digest reads on for every copy, replicas
// that hold n1's copy answer n1's reads without shipping it; one that
// missed a write while partitioned away ships its copy, the read answers
// the newest value all the same, and read repair brings that replica up to
// date. A coordinator whose own copy is the stale one still reads the
// newest value.
func TestCluster_digestReads(t *testing.T) {
	c := clustertest.Start(t, clustertest.Options{Nodes: 3, DigestRead: 1})
	value := strings.Repeat("a", 500)
	if _, err := put(t, c, "n1", "k", value, nil, quorum.WriteOptions{W: quorum.All}); err != nil {
		t.Fatal(err)
	}
	gets := logGets(c.Net)
	all := quorum.ReadOptions{R: quorum.All}
	read := func(node string, want ...string) {
		t.Helper()
		obj, err := get(t, c, node, "k", all)
		if err != nil {
			t.Fatalf("read from %s: %v", node, err)
		}
		if got := values(obj.Clock); len(got) != len(want) {
			t.Fatalf("read from %s: %d values, want %v", node, len(got), len(want))
		}
		for _, w := range want {
			if !values(obj.Clock)[w] {
				t.Fatalf("read from %s: no %.10s…", node, w)
			}
		}
		if err := c.Net.Drain(deadline(t, 5*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	shipped := func(responses map[string][]int, node string) bool {
		for _, n := range responses[node] {
			if n >= len(value) {
				return true
			}
		}
		return false
	}

	for range 3 {
		read("n1", value)
	}
	_, responses := gets.take()
	for _, node := range []string{"n2", "n3"} {
		if len(responses[node]) != 3 || shipped(responses, node) {
			t.Errorf("reads of equal copies: %s answered %v (bytes), want 3 answers without the copy", node, responses[node])
		}
	}

	// overwrite writes value over k through node while the groups are
	// apart (partitioned), then heals.
	overwrite := func(node, value string, groups ...[]string) {
		t.Helper()
		c.Partition(groups...)
		obj, err := get(t, c, node, "k", quorum.ReadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := put(t, c, node, "k", value, obj.Context, quorum.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
		c.Heal()
		gets.take()
	}

	v2 := strings.Repeat("b", 500)
	overwrite("n1", v2, []string{"n1", "n2"}, []string{"n3"}) // n3 misses v2
	read("n1", v2)
	_, responses = gets.take()
	if !shipped(responses, "n3") || shipped(responses, "n2") {
		t.Errorf("read with n3 behind: answers n2 %v, n3 %v (bytes), want only n3's copy shipped", responses["n2"], responses["n3"])
	}
	for end := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if cl, ok := c.LocalState("n3", "b", "k"); ok && values(cl)[v2] && len(values(cl)) == 1 {
			break
		}
		if time.Now().After(end) {
			t.Fatal("n3 was not read-repaired")
		}
	}
	gets.take()
	read("n1", v2)
	if _, responses = gets.take(); shipped(responses, "n3") {
		t.Errorf("read after the repair: n3 answered %v (bytes), want no copy", responses["n3"])
	}

	v3 := strings.Repeat("c", 500)
	overwrite("n2", v3, []string{"n1"}, []string{"n2", "n3"}) // n1 misses v3
	read("n1", v3)
	if _, responses = gets.take(); !shipped(responses, "n2") || !shipped(responses, "n3") {
		t.Errorf("read with n1 behind: answers n2 %v, n3 %v (bytes), want both copies shipped", responses["n2"], responses["n3"])
	}
}

// TestCluster_digestReadsOlderReplica: a replica that refuses reads with a
// digest, as a node of an earlier version does, gets one and from then on
// plain reads; every read answers the value (n1 asks it first: firstAsked).
func TestCluster_digestReadsOlderReplica(t *testing.T) {
	c := clustertest.Start(t, clustertest.Options{Nodes: 3, DigestRead: 1})
	old := firstAsked(t, c) // writes k = v to every replica
	// The request for k with the digest: the key (8 bytes of hash, then
	// "b" and "k" with their lengths), the flags byte and 8 bytes.
	const keyLen, digestLen = 8 + 2 + 2, 8 + 2 + 2 + 1 + 8
	var mu sync.Mutex
	var sent []int
	c.Net.Hook(func(m *transport.Msg) bool {
		if m.Kind == quorum.KindGet && !m.Response && m.To == old {
			mu.Lock()
			sent = append(sent, len(m.Body))
			mu.Unlock()
			if len(m.Body) == digestLen {
				// An earlier version reads the key and a flags byte, and
				// refuses anything after them, as this one does a byte
				// past the digest.
				m.Body = append(m.Body, 0)
			}
		}
		return true
	})
	for i := range 10 {
		// A refusal does not count toward R: the read asks the third.
		obj, err := get(t, c, "n1", "k", quorum.ReadOptions{})
		if err != nil || !values(obj.Clock)["v"] {
			t.Fatalf("read %d: %v %v", i, obj, err)
		}
	}
	// The tenth read asks every replica (read_repair_chance) and may
	// answer before its request to old is sent: wait for the tenth.
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(time.Millisecond) {
		mu.Lock()
		n := len(sent)
		mu.Unlock()
		if n >= 10 {
			break
		}
	}
	if err := c.Net.Drain(deadline(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	digests := 0
	for _, n := range sent {
		switch n {
		case digestLen:
			digests++
		case keyLen, keyLen + 1:
		default:
			t.Errorf("a get of %d bytes to %s", n, old)
		}
	}
	if len(sent) != 10 || digests != 1 {
		t.Errorf("%d gets to %s, %d with a digest; want 10, one with a digest", len(sent), old, digests)
	}
}
