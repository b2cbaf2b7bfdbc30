package http

import (
	nethttp "net/http"
)

// MaxHeaderBytes bounds a request's line and header. The largest header
// the API accepts is about 70 KiB: a key of 8 KiB percent-encoded (24 KiB),
// a context of maxContextEntries entries (23 KiB in base64) and 16 KiB of
// metadata. A larger header is answered 431 by net/http.
const MaxHeaderBytes = 128 << 10

// NewServer returns the net/http server for h, the handler NewHandler
// built with the same cfg. It has no ReadTimeout and no WriteTimeout: a
// connection-wide read deadline that expires while a handler runs cancels
// the request's context (net/http's background read), and one write
// deadline for every route would cut key listings. The handler sets both
// per request instead (Config.BodyTimeout, Config.WriteTimeout). Wrap its
// listener in [LimitListener] to bound connections.
func NewServer(h nethttp.Handler, cfg Config) *nethttp.Server {
	cfg = cfg.withDefaults()
	return &nethttp.Server{
		Handler:           h,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
	}
}
