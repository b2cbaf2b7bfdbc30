package http

import (
	"errors"
	"fmt"
	nethttp "net/http"
	"net/url"
	"strings"

	"github.com/dynamod/dynamod/auth"
)

// ClientAuth is when the client API asks for a bearer token. The zero
// value is unset and means AuthOff in [Config] (cmd/dynamod defaults to
// AuthAuto and resolves it with [ResolveClientAuth]).
type ClientAuth int

// Client authentication modes.
const (
	// AuthOff checks nothing: every client may do everything.
	AuthOff ClientAuth = 1 + iota
	// AuthOn requires a token with the right grant on every route but
	// /ping and /ready.
	AuthOn
	// AuthAuto requires tokens once any token that is not revoked exists
	// in the cluster, and not before (the loopback mode of --client-auth
	// auto: a fresh cluster on 127.0.0.1 needs no token).
	AuthAuto
)

var clientAuthNames = [...]string{AuthOff: "off", AuthOn: "on", AuthAuto: "auto"}

// String returns "off", "on", "auto" or "ClientAuth(N)".
func (m ClientAuth) String() string {
	if m >= AuthOff && m <= AuthAuto {
		return clientAuthNames[m]
	}
	return fmt.Sprintf("ClientAuth(%d)", int(m))
}

// ParseClientAuth parses "on", "off" or "auto".
func ParseClientAuth(s string) (ClientAuth, error) {
	for m := AuthOff; m <= AuthAuto; m++ {
		if s == clientAuthNames[m] {
			return m, nil
		}
	}
	return 0, fmt.Errorf("http: client auth %q: want on, off or auto", s)
}

// ResolveClientAuth turns the --client-auth flag into the handler's mode:
// auto on a client address that is not loopback is AuthOn (tokens always),
// on loopback AuthAuto (tokens once any exists); on and off stay.
func ResolveClientAuth(m ClientAuth, loopback bool) ClientAuth {
	if m == AuthAuto && !loopback {
		return AuthOn
	}
	return m
}

// TokenStore is what the API needs for tokens: the current set, read by
// every request, and the management calls of /admin/tokens. node.Node
// implements it over the cluster state. All methods are safe for
// concurrent use and do not block on the network.
type TokenStore interface {
	// Tokens returns the current set; cheap (an atomic load). nil: none.
	// A change made through this store is in the set it returns when
	// the change returns.
	Tokens() *auth.Set
	// CreateToken makes a token and stores it cluster-wide; it returns
	// the token's text, shown once, and its stored form. A bad name wraps
	// quorum.ErrBadRequest.
	CreateToken(name string, grants []auth.Grant) (string, auth.Token, error)
	// ChangeGrants adds then removes grants of token id and returns the
	// token as stored. An unknown id wraps quorum.ErrNotFound; a revoked
	// token wraps ErrConflict; more than auth.MaxGrants wraps
	// quorum.ErrBadRequest.
	ChangeGrants(id string, add, remove []auth.Grant) (auth.Token, error)
	// RevokeToken revokes token id for good. An unknown id wraps
	// quorum.ErrNotFound; revoking a revoked token does nothing.
	RevokeToken(id string) error
}

// openRoutes need no token in any mode. The dashboard's page and assets
// (Config.UI) hold no data; what the page then reads goes through the
// routes that guard it.
var openRoutes = map[string]bool{"ping": true, "ready": true, "ui": true}

// need returns the grant a request to the named route needs. Object and
// listing routes need a grant on their bucket; bucket properties read:B to
// read and admin:B to change; every other route, including any route not
// listed here, needs cluster admin (default deny).
func need(route string, w nethttp.ResponseWriter, r *nethttp.Request) auth.Grant {
	bucket := func() string {
		raw := rawPathVar(w, r, "bucket")
		if s, err := url.PathUnescape(raw); err == nil && s != "" {
			return s
		}
		// Malformed: the handler answers 400; only a grant on every
		// bucket gets that far.
		return "\x00" + raw
	}
	m := r.Method
	switch route {
	case "kv_object":
		switch m {
		case "GET", "HEAD":
			return auth.Need(auth.Read, bucket())
		case "PUT", "DELETE":
			return auth.Need(auth.Write, bucket())
		}
	case "kv_bucket":
		switch m {
		case "GET":
			return auth.Need(auth.Read, bucket())
		case "POST":
			return auth.Need(auth.Write, bucket())
		}
	case "types":
		switch m {
		case "GET":
			return auth.Need(auth.Read, bucket())
		case "POST":
			return auth.Need(auth.Write, bucket())
		}
	case "bucket_props":
		switch m {
		case "GET":
			return auth.Need(auth.Read, bucket())
		case "PUT", "DELETE":
			return auth.Need(auth.Admin, bucket())
		}
	}
	return auth.ClusterAdmin
}

// authorize checks the request's token against what the route needs,
// before anything is read or changed. It answers 401 or 403 itself and
// reports whether the request may go on.
func (a *api) authorize(w nethttp.ResponseWriter, r *nethttp.Request, route string) bool {
	if openRoutes[route] {
		return true
	}
	if a.cfg.RequireClientCert && (r.TLS == nil || len(r.TLS.VerifiedChains) == 0) {
		a.writeError(w, r, &clientError{err: auth.ErrUnauthenticated,
			detail: "this node wants a client certificate of its client CA (dynamod certs client; --cert and --key)"})
		return false
	}
	mode := a.cfg.ClientAuth
	if mode == 0 || mode == AuthOff {
		return true
	}
	var set *auth.Set
	if a.cfg.Tokens != nil {
		set = a.cfg.Tokens.Tokens()
	}
	if mode == AuthAuto && set.Active() == 0 {
		return true
	}
	text, err := bearer(r.Header)
	if err == nil {
		_, err = set.Check(text, need(route, w, r))
	}
	switch {
	case err == nil:
		return true
	case errors.Is(err, auth.ErrForbidden):
		a.writeError(w, r, &clientError{err: err, detail: "the token lacks the grant " + need(route, w, r).String()})
	default:
		challenge := `Bearer realm="dynamod"`
		detail := "this request needs a token: Authorization: Bearer dmd_..."
		if text != "" || len(r.Header.Values("Authorization")) > 0 {
			challenge += `, error="invalid_token"`
			detail = "the token is malformed, unknown or revoked"
		}
		w.Header().Set("WWW-Authenticate", challenge)
		a.writeError(w, r, &clientError{err: err, detail: detail})
	}
	return false
}

// bearer returns the token of the request's one Authorization header
// ("Bearer TOKEN", scheme case-insensitive); "" when there is none.
func bearer(h nethttp.Header) (string, error) {
	vs := h.Values("Authorization")
	switch len(vs) {
	case 0:
		return "", nil
	case 1:
	default:
		return "", fmt.Errorf("%w: more than one Authorization header", auth.ErrUnauthenticated)
	}
	scheme, tok, ok := strings.Cut(strings.TrimSpace(vs[0]), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", fmt.Errorf("%w: not a bearer token", auth.ErrUnauthenticated)
	}
	return strings.TrimSpace(tok), nil
}
