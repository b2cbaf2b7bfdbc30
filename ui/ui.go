package ui

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed assets
var assets embed.FS

// Prefix is the path the dashboard is served under.
const Prefix = "/ui/"

// CSP is the Content-Security-Policy of every answer: scripts, styles,
// images and fetches from the node itself only, no inline script or
// style, no plugins, no framing, no <base> rewriting.
const CSP = "default-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// types are the content types of the assets, by extension. A table of our
// own, not package mime's, which the host's mime.types may change.
var types = map[string]string{
	".js":  "text/javascript; charset=utf-8",
	".css": "text/css; charset=utf-8",
	".svg": "image/svg+xml",
}

// asset is one embedded file, ready to serve.
type asset struct {
	body  []byte
	ctype string
	etag  string
}

// page is what index.html is rendered with.
type page struct {
	// Version is a hash of the script and style sheet, appended to their
	// URLs so a new binary's page never runs an old cached script.
	Version string
	// PollMillis is the refresh period the script polls at.
	PollMillis int
}

// site is the parsed page and the other assets, built once.
type site struct {
	index  []byte // rendered index.html
	etag   string
	assets map[string]asset // by name under assets/, index.html excluded
}

// load reads and renders the embedded files. The assets are compiled in,
// so an error here is a broken build, caught by the package's tests.
func load() (*site, error) {
	s := &site{assets: map[string]asset{}}
	sum := sha256.New()
	entries, err := fs.ReadDir(assets, "assets")
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || name == "index.html" {
			continue
		}
		b, err := assets.ReadFile("assets/" + name)
		if err != nil {
			return nil, err
		}
		ctype, ok := types[path.Ext(name)]
		if !ok {
			return nil, fmt.Errorf("ui: asset %s: no content type for its extension", name)
		}
		s.assets[name] = asset{body: b, ctype: ctype, etag: etagOf(b)}
		sum.Write([]byte(name))
		sum.Write(b)
	}
	tpl, err := template.ParseFS(assets, "assets/index.html")
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	err = tpl.Execute(&buf, page{Version: hex.EncodeToString(sum.Sum(nil))[:12], PollMillis: 1000})
	if err != nil {
		return nil, err
	}
	s.index = buf.Bytes()
	s.etag = etagOf(s.index)
	return s, nil
}

func etagOf(b []byte) string {
	h := sha256.Sum256(b)
	return `"` + hex.EncodeToString(h[:8]) + `"`
}

// Handler returns the dashboard: GET or HEAD /ui/ is the page,
// /ui/NAME one of its assets, /ui a redirect to /ui/; any other path
// under /ui/ is a 404 with a JSON body, and any other method a 405. The
// handler is safe for concurrent use and holds no state but the embedded
// files. It panics only if the embedded assets do not parse, which the
// package's tests rule out for every build.
func Handler() http.Handler {
	s, err := load()
	if err != nil {
		panic("ui: embedded assets: " + err.Error())
	}
	return s
}

func (s *site) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", CSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.Set("Allow", "GET, HEAD")
		writeError(w, http.StatusMethodNotAllowed, "method not allowed", "the dashboard takes GET and HEAD")
		return
	}
	p := r.URL.Path
	switch {
	case p == strings.TrimSuffix(Prefix, "/"):
		target := Prefix
		if r.URL.RawQuery != "" {
			target += "?" + r.URL.RawQuery
		}
		h.Set("Cache-Control", "no-cache")
		http.Redirect(w, r, target, http.StatusMovedPermanently)
	case p == Prefix:
		s.serve(w, r, "text/html; charset=utf-8", s.etag, s.index)
	case strings.HasPrefix(p, Prefix):
		a, ok := s.assets[strings.TrimPrefix(p, Prefix)]
		if !ok {
			writeError(w, http.StatusNotFound, "not found", "the dashboard has no such file")
			return
		}
		s.serve(w, r, a.ctype, a.etag, a.body)
	default:
		writeError(w, http.StatusNotFound, "not found", "the dashboard is served under "+Prefix)
	}
}

// serve answers body with its ETag. The browser revalidates every time
// (no-cache) and gets a 304 while the binary is the same.
func (s *site) serve(w http.ResponseWriter, r *http.Request, ctype, etag string, body []byte) {
	h := w.Header()
	h.Set("Content-Type", ctype)
	h.Set("ETag", etag)
	h.Set("Cache-Control", "no-cache")
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
}

// writeError answers the JSON error body the client API uses
// ({"error", "detail"}).
func writeError(w http.ResponseWriter, code int, msg, detail string) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Del("ETag")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(struct {
		Error  string `json:"error"`
		Detail string `json:"detail,omitempty"`
	}{msg, detail})
}
