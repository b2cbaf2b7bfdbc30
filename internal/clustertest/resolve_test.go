package clustertest_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dynamod/dynamod/internal/clustertest"
	"github.com/dynamod/dynamod/quorum"
	"github.com/dynamod/dynamod/versioning"
)

func setResolver(t *testing.T, c *clustertest.Cluster, bucket, resolver string) {
	t.Helper()
	if err := c.Node("n1").SetBucketProps(bucket, quorum.Props{Resolver: resolver}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, func() string {
		for _, n := range c.Names() {
			if got := c.Node(n).BucketProps(bucket).Resolver; got != resolver {
				return fmt.Sprintf("%s sees resolver %q, want %q", n, got, resolver)
			}
		}
		return ""
	})
}

func putIn(t *testing.T, c *clustertest.Cluster, node, bucket, key string, data []byte, vctx versioning.Context, w quorum.Quorum) (*quorum.Object, error) {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	return c.Node(node).Put(ctx, bucket, key, vctx, versioning.Value{Data: data, ContentType: "application/json"}, quorum.WriteOptions{W: w})
}

func getIn(t *testing.T, c *clustertest.Cluster, node, bucket, key string) *quorum.Object {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	obj, err := c.Node(node).Get(ctx, bucket, key, quorum.ReadOptions{})
	if err != nil {
		t.Fatalf("get %s/%s on %s: %v", bucket, key, node, err)
	}
	return obj
}

// TestResolve_setUnionThroughPartition: clients add items to a cart on both
// sides of a partition, each writing the union of what it read plus its
// item; after the heal one read returns one value holding every item any
// acknowledged write added.
func TestResolve_setUnionThroughPartition(t *testing.T) {
	c := clustertest.Start(t, clustertest.Options{Nodes: 5})
	setResolver(t, c, "carts", "json-set-union")
	c.Partition([]string{"n1", "n2"}, []string{"n3", "n4", "n5"})
	var mu sync.Mutex
	var acked []string
	var wg sync.WaitGroup
	for i, node := range []string{"n1", "n2", "n3", "n4", "n5"} {
		wg.Go(func() {
			for j := range 8 {
				item := fmt.Sprintf("item-%d-%d", i, j)
				var cart []string
				var vctx versioning.Context
				ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
				obj, err := c.Node(node).Get(ctx, "carts", "alice", quorum.ReadOptions{R: quorum.One})
				cancel()
				if err == nil {
					vctx = obj.Context
					for _, v := range versioning.Values(obj.Clock) {
						var s []string
						if json.Unmarshal(v.Data, &s) == nil {
							cart = append(cart, s...)
						}
					}
				}
				cart = append(cart, item)
				b, _ := json.Marshal(cart)
				if _, err := putIn(t, c, node, "carts", "alice", b, vctx, quorum.One); err == nil {
					mu.Lock()
					acked = append(acked, item)
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	c.Heal()
	// w=1, and on either side every node is one of the cart's sloppy
	// targets (the live primaries and the fallbacks), so each coordinator's
	// own write meets the quorum: every add is acknowledged.
	if len(acked) != 40 {
		t.Fatalf("%d of 40 adds acknowledged", len(acked))
	}
	// Reads repair and resolve; poll until the cart is one value with
	// every acknowledged item.
	waitFor(t, 10*time.Second, func() string {
		obj := getIn(t, c, "n3", "carts", "alice")
		vals := versioning.Values(obj.Clock)
		if len(vals) != 1 {
			return fmt.Sprintf("%d values", len(vals))
		}
		var got []string
		if err := json.Unmarshal(vals[0].Data, &got); err != nil {
			return err.Error()
		}
		for _, item := range acked {
			if !slices.Contains(got, item) {
				return "missing " + item
			}
		}
		return ""
	})
	c.RequireConverged(deadline(t, 10*time.Second), "carts", []string{"alice"})
}

// TestResolve_lww returns one value: the newest.
func TestResolve_lww(t *testing.T) {
	c := clustertest.Start(t, clustertest.Options{Nodes: 3})
	setResolver(t, c, "l", "lww")
	for i, n := range []string{"n1", "n2", "n3"} {
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		_, err := c.Node(n).Put(ctx, "l", "k", nil, versioning.Value{Data: []byte(fmt.Sprint(i)), LastModified: int64(1000 + i)}, quorum.WriteOptions{})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
	}
	obj := getIn(t, c, "n1", "l", "k")
	vals := versioning.Values(obj.Clock)
	if len(vals) != 1 || string(vals[0].Data) != "2" {
		var got []string
		for _, v := range vals {
			got = append(got, string(v.Data))
		}
		t.Fatalf("lww read: %q; want only the newest, 2", got)
	}
}

// TestResolve_webhook: a webhook resolver merges through a test server;
// one pointed at a dead URL returns the siblings and loses nothing.
func TestResolve_webhook(t *testing.T) {
	srv := httptest.NewServer(clustertest.JoinWebhook(" "))
	defer srv.Close()
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close()

	c := clustertest.Start(t, clustertest.Options{Nodes: 3, WebhookAllow: []string{"127.0.0.1"}})
	setResolver(t, c, "hooked", "webhook:"+srv.URL)
	setResolver(t, c, "broken", "webhook:"+deadURL)
	for _, b := range []string{"hooked", "broken"} {
		for _, v := range []string{"a", "b"} {
			if _, err := putIn(t, c, "n1", b, "k", []byte(v), nil, quorum.All); err != nil {
				t.Fatal(err)
			}
		}
	}
	obj := getIn(t, c, "n2", "hooked", "k")
	if vals := versioning.Values(obj.Clock); len(vals) != 1 || string(vals[0].Data) != "a b" {
		t.Fatalf("webhook resolution: %v", vals)
	}
	obj = getIn(t, c, "n2", "broken", "k")
	// The warning names the failure class, never the error's text (which
	// would tell a client what the node can reach).
	if vals := versioning.Values(obj.Clock); len(vals) != 2 || obj.Warning != "resolver failed (refused), siblings returned" {
		t.Fatalf("dead webhook: %d values, warning %q; want both siblings and the warning of a refused connection", len(vals), obj.Warning)
	}
}

// TestResolve_webhookNotAllowed: a webhook whose host is not on the
// allowlist is refused when the props are set, as a bad request that
// names the allowlist, and the bucket keeps its resolver.
func TestResolve_webhookNotAllowed(t *testing.T) {
	c := clustertest.Start(t, clustertest.Options{Nodes: 1, WebhookAllow: []string{"10.1.0.0/16", "hooks.example:8443"}})
	before := c.Node("n1").BucketProps("b").Resolver
	for _, u := range []string{
		"http://127.0.0.1:8080/", "http://169.254.169.254/latest/meta-data", "http://[::1]:80/",
		"https://hooks.example/", "http://10.2.0.1/", "http://localhost:8443/",
	} {
		err := c.Node("n1").SetBucketProps("b", quorum.Props{Resolver: "webhook:" + u})
		if !errors.Is(err, quorum.ErrBadRequest) || !strings.Contains(err.Error(), "allowlist") {
			t.Errorf("webhook %s: %v; want a bad request naming the allowlist", u, err)
		}
		if got := c.Node("n1").BucketProps("b").Resolver; got != before {
			t.Fatalf("webhook %s: bucket resolver is now %q, want unchanged", u, got)
		}
	}
	for _, u := range []string{"http://10.1.2.3:9000/merge", "https://hooks.example:8443/x"} {
		if err := c.Node("n1").SetBucketProps("ok", quorum.Props{Resolver: "webhook:" + u}); err != nil {
			t.Errorf("allowed webhook %s: %v", u, err)
		}
	}
}

// TestResolve_webhookHangs: a webhook that never answers costs a read the
// webhook's timeout, not the request's: the read answers the siblings with
// a timeout warning while the webhook still hangs, and loses no value.
func TestResolve_webhookHangs(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release) // before srv.Close: let handlers return

	c := clustertest.Start(t, clustertest.Options{Nodes: 3, WebhookAllow: []string{"127.0.0.1"}})
	setResolver(t, c, "hung", "webhook:"+srv.URL)
	for _, v := range []string{"a", "b"} {
		if _, err := putIn(t, c, "n1", "hung", "k", []byte(v), nil, quorum.All); err != nil {
			t.Fatal(err)
		}
	}
	// The request may take up to 10 s; the webhook's own timeout (2 s by
	// default) must end the call well before that.
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	obj, err := c.Node("n2").Get(ctx, "hung", "k", quorum.ReadOptions{})
	if err != nil {
		t.Fatalf("read with a hung webhook: %v", err)
	}
	if ctx.Err() != nil {
		t.Fatal("the read waited for the request's deadline, not the webhook's timeout")
	}
	vals := versioning.Values(obj.Clock)
	if len(vals) != 2 || obj.Warning != "resolver failed (timeout), siblings returned" {
		t.Fatalf("read with a hung webhook: %d values, warning %q; want both siblings and a timeout warning", len(vals), obj.Warning)
	}
}
