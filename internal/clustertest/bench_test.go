package clustertest_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/dynamod/dynamod/internal/clustertest"
	"github.com/dynamod/dynamod/quorum"
	"github.com/dynamod/dynamod/versioning"
)

// BenchmarkQuorum measures coordinated PUTs and GETs (N=3, R=W=2, 1 KiB
// values) on a 3-node in-process cluster over the memory network:
//
//	go test -run '^$' -bench Quorum ./internal/clustertest/
func BenchmarkQuorum(b *testing.B) {
	c := clustertest.Start(b, clustertest.Options{Nodes: 3, Seed: 1})
	value := make([]byte, 1024)
	ctx := context.Background()
	const keys = 1000
	for i := range keys {
		if _, err := c.Node("n1").Put(ctx, "b", fmt.Sprint(i), nil, versioning.Value{Data: value}, quorum.WriteOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	nodes := []string{"n1", "n2", "n3"}
	b.Run("op=get-then-put", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			n := c.Node(nodes[i%3])
			obj, err := n.Get(ctx, "b", fmt.Sprint(i%keys), quorum.ReadOptions{})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := n.Put(ctx, "b", fmt.Sprint(i%keys), obj.Context, versioning.Value{Data: value}, quorum.WriteOptions{}); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("op=get", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, err := c.Node(nodes[i%3]).Get(ctx, "b", fmt.Sprint(i%keys), quorum.ReadOptions{}); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}

// BenchmarkConvergeAfterPartition measures how long a 3-node cluster with
// hinted handoff off takes to converge by anti-entropy alone after a
// partition left one node without 10 000 keys (the figure):
//
//	go test -run '^$' -bench ConvergeAfterPartition -benchtime 1x ./internal/clustertest/
func BenchmarkConvergeAfterPartition(b *testing.B) {
	const keys = 10000
	b.StopTimer()
	for range b.N { // setup dominates, so not b.Loop: the timer runs only for the heal

		c := clustertest.Start(b, clustertest.Options{Nodes: 3, Seed: 1, NoHandoff: true, AntiEntropy: true,
			AEInterval: 100 * time.Millisecond, Partitions: 1024, Tokens: 256})
		c.Partition([]string{"n1", "n2"}, []string{"n3"})
		value := make([]byte, 1024)
		ctx := context.Background()
		names := make([]string, keys)
		for i := range keys {
			names[i] = fmt.Sprint(i)
			if _, err := c.Node("n1").Put(ctx, "b", names[i], nil, versioning.Value{Data: value}, quorum.WriteOptions{}); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		start := time.Now()
		c.Heal()
		cctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		c.RequireConverged(cctx, "b", names)
		cancel()
		b.StopTimer()
		b.ReportMetric(time.Since(start).Seconds(), "s-to-converge")
		c.Close()
	}
}
