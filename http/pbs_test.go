package http

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/dynamod/dynamod/client"
	"github.com/dynamod/dynamod/quorum"
)

// TestPBS_route: /cluster/pbs passes the bucket (none: "") to the backend
// and answers its document; a bad bucket name or timeout is a 400 with a
// JSON body that never reaches the backend; backend errors map as
// everywhere.
func TestPBS_route(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		path, bucket string
	}{
		{"/cluster/pbs", ""},
		{"/cluster/pbs?bucket=b", "b"},
		{"/cluster/pbs?bucket=a%2Fb%00", "a/b\x00"},
		{"/cluster/pbs?bucket=" + strings.Repeat("x", maxBucketBytes), strings.Repeat("x", maxBucketBytes)},
	} {
		r := e.do("GET", tc.path, nil).want(t, 200)
		if ct := r.header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s: Content-Type %q", tc.path, ct)
		}
		var doc client.PBS
		if err := json.Unmarshal(r.body, &doc); err != nil {
			t.Fatalf("%s: %v", tc.path, err)
		}
		if doc.Bucket != tc.bucket || doc.Curves == nil {
			t.Errorf("%s: bucket %q curves %v, want %q and []", tc.path, doc.Bucket, doc.Curves, tc.bucket)
		}
	}
	before := e.f.calls.Load()
	for _, tc := range []struct{ path, contains string }{
		{"/cluster/pbs?bucket=", "bucket must not be empty"},
		{"/cluster/pbs?bucket=" + strings.Repeat("x", maxBucketBytes+1), "bucket is longer than 255 bytes"},
		{"/cluster/pbs?bucket=a&bucket=b", "bucket"},
		{"/cluster/pbs?timeout=0", "timeout"},
	} {
		r := e.do("GET", tc.path, nil).want(t, 400)
		if body := r.errorBody(t); !contains(r.String(), tc.contains) {
			t.Errorf("%s: body %v does not say %q", tc.path, body, tc.contains)
		}
	}
	if n := e.f.calls.Load(); n != before {
		t.Errorf("%d backend calls for refused requests", n-before)
	}
	e.do("POST", "/cluster/pbs", nil).want(t, 405)
	e.f.set(func(f *fakeBackend) { f.failWith = context.DeadlineExceeded })
	e.do("GET", "/cluster/pbs?bucket=b", nil).want(t, 503)
	e.f.set(func(f *fakeBackend) { f.failWith = quorum.ErrBadRequest })
	e.do("GET", "/cluster/pbs?bucket=b", nil).want(t, 400)
}
