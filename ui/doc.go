// Package ui is the operator dashboard every node serves at /ui/: one
// page, one hand-written script and one style sheet, embedded in the
// binary with embed. There is no build step and nothing is fetched from
// outside the node: the page reads the node's own JSON endpoints (/cluster,
// /cluster/stats, /cluster/pbs, /buckets, /admin/find/...) with fetch,
// once a second while its tab is visible.
//
// The page itself holds no data, so the route that serves it needs no
// token; the script sends the bearer token the operator types (kept in
// the tab's sessionStorage) with every request it makes, and the node
// checks those as it checks any client.
//
// [Handler] serves the assets with a Content-Security-Policy that allows
// only the node itself as a source ('self'; no inline script or style), so
// a value read from the cluster can never run as code; the script writes
// server data with textContent only.
//
// ui imports the standard library alone; http mounts its handler
// (http.Config.UI) and cmd/dynamod wires the two.
package ui
