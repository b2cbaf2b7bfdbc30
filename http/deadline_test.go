package http

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestDeadlines_shareWithinWindow(t *testing.T) {
	var s deadlines
	t0 := time.Now()
	d := 5 * time.Second
	a, ca := s.get(t0, d)
	defer ca()
	b, cb := s.get(t0.Add(shareWindow/2), d)
	defer cb()
	if a != b {
		t.Fatal("requests started within the window got different contexts")
	}
	early, ce := s.get(t0.Add(-shareWindow/2), d)
	defer ce()
	if early != a {
		t.Fatal("a request started just before the window's first did not share")
	}
	other, co := s.get(t0, 2*d)
	defer co()
	if other == a {
		t.Fatal("requests with different timeouts share a context")
	}
	next, cn := s.get(t0.Add(shareWindow), d)
	defer cn()
	if next == a {
		t.Fatal("a request a whole window later shares the earlier context")
	}
	late, cl := s.get(t0, d) // its handler ran after the next window opened
	defer cl()
	if late == next {
		t.Fatal("a request of the earlier window took the later window's context")
	}
	for name, c := range map[string]struct {
		ctx   context.Context
		start time.Time
	}{"first": {a, t0}, "second": {b, t0.Add(shareWindow / 2)}, "early": {early, t0.Add(-shareWindow / 2)}, "next": {next, t0.Add(shareWindow)}, "late": {late, t0}} {
		dl, ok := c.ctx.Deadline()
		own := c.start.Add(d)
		if !ok || dl.Before(own) || dl.After(own.Add(2*shareWindow)) {
			t.Errorf("%s: deadline %v, want within [%v, %v]", name, dl, own, own.Add(2*shareWindow))
		}
	}
}

func TestDeadlines_endAtDeadline(t *testing.T) {
	var s deadlines
	ctx, cancel := s.get(time.Now(), 50*time.Millisecond)
	defer cancel()
	rc := &reqContext{Context: ctx, vals: context.WithValue(context.Background(), ctxKeyTest{}, "v")}
	// A context derived from the request's ends with the shared one.
	child, cancelChild := context.WithCancel(rc)
	defer cancelChild()
	select {
	case <-child.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the derived context did not end at the shared deadline")
	}
	if !errors.Is(child.Err(), context.DeadlineExceeded) || !errors.Is(rc.Err(), context.DeadlineExceeded) {
		t.Fatalf("errors %v, %v; want deadline exceeded", child.Err(), rc.Err())
	}
	if got := child.Value(ctxKeyTest{}); got != "v" {
		t.Fatalf("request value %v through the derived context, want v", got)
	}
}

type ctxKeyTest struct{}
