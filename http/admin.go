package http

import (
	"log/slog"
	nethttp "net/http"
	"net/http/pprof"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// NewAdminHandler returns the admin listener's API over b: /metrics
// (cfg.Gatherer), /debug/pprof/ (only with cfg.EnablePprof), /ping and
// token management (/admin/tokens, when cfg.Tokens is set), all without a
// token: it is the local operator's path (bind it to loopback), the one
// that creates the first token. cfg.ClientAuth is ignored. Its own request
// metrics go to a private registry, so it may share cfg.Registry with the
// client API's handler, and cfg.Observe is not called: /cluster/stats
// counts client requests only.
func NewAdminHandler(b Backend, cfg Config) nethttp.Handler {
	cfg = cfg.withDefaults()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Gatherer == nil {
		cfg.Gatherer, _ = cfg.Registry.(prometheus.Gatherer)
	}
	cfg.ClientAuth, cfg.Observe = AuthOff, nil
	a := &api{b: b, cfg: cfg, log: cfg.Logger.With("component", "http-admin"), m: newMetrics(prometheus.NewRegistry())}
	return a.recoverAndMeasure(a.adminRouter())
}

func (a *api) adminRouter() *mux.Router {
	r := a.newRouter()
	r.Handle("/ping", a.route("ping", a.ping)).Methods("GET", "HEAD")
	a.tokenRoutes(r)
	a.keyringRoutes(r) // keyring.go
	if a.cfg.Gatherer != nil {
		h := promhttp.HandlerFor(a.cfg.Gatherer, promhttp.HandlerOpts{
			ErrorLog: slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
		})
		r.Handle("/metrics", a.route("metrics", h.ServeHTTP)).Methods("GET")
	}
	if a.cfg.EnablePprof {
		// Named handlers first: Index serves the rest of the prefix.
		// Profiles and traces run as long as they are asked to: no
		// write deadline (the routes exist only with --pprof).
		r.Handle("/debug/pprof/cmdline", a.route("pprof", pprof.Cmdline))
		r.Handle("/debug/pprof/profile", a.route("pprof", noWriteDeadline(pprof.Profile)))
		r.Handle("/debug/pprof/symbol", a.route("pprof", pprof.Symbol))
		r.Handle("/debug/pprof/trace", a.route("pprof", noWriteDeadline(pprof.Trace)))
		r.PathPrefix("/debug/pprof/").Handler(a.route("pprof", noWriteDeadline(pprof.Index)))
	}
	return r
}
