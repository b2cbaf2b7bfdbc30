package resolve

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// ErrNotAllowed marks a webhook URL whose host the registry's allowlist
// ([WebhookConfig.Allow]) does not name. It also wraps [ErrBadSpec].
var ErrNotAllowed = fmt.Errorf("%w: webhook host not allowed", ErrBadSpec)

// maxAllowEntries bounds an allowlist.
const maxAllowEntries = 1024

// allowlist says which hosts webhooks may call. Anyone who may set bucket
// properties chooses the URL, so without it a webhook would let them make
// the node call any address it reaches (loopback, link-local metadata
// services, private ranges): a port scanner.
//
// Host names match by name only, never by what they resolve to: an entry
// is trusted as the operator's choice, and a name outside the list is not
// looked up (no DNS rebinding through it). IP literals in URLs match IP
// and CIDR entries.
type allowlist struct {
	hosts map[string]bool // lower-case host names and IP literals: any port
	ports map[string]bool // lower-case "host:port"
	nets  []netip.Prefix
}

// parseAllowlist parses entries of the forms "host", "host:port", "IP",
// "IP:port" ("[v6]:port"), and "CIDR". An empty list allows nothing.
func parseAllowlist(entries []string) (*allowlist, error) {
	if len(entries) > maxAllowEntries {
		return nil, fmt.Errorf("resolve: webhook allowlist of %d entries, over %d", len(entries), maxAllowEntries)
	}
	a := &allowlist{hosts: map[string]bool{}, ports: map[string]bool{}}
	var errs []error
	for _, raw := range entries {
		e := strings.ToLower(strings.TrimSpace(raw))
		switch {
		case e == "":
			errs = append(errs, errors.New("resolve: empty webhook allowlist entry"))
		case strings.Contains(e, "/"):
			p, err := netip.ParsePrefix(e)
			if err != nil {
				errs = append(errs, fmt.Errorf("resolve: webhook allowlist entry %q: %w", raw, err))
				continue
			}
			a.nets = append(a.nets, p.Masked())
		default:
			bare := e
			if strings.HasPrefix(e, "[") && strings.HasSuffix(e, "]") {
				bare = e[1 : len(e)-1]
			}
			if ip, err := netip.ParseAddr(bare); err == nil {
				a.hosts[ip.Unmap().String()] = true
				continue
			}
			host, port, err := net.SplitHostPort(e)
			if err != nil {
				if !validHostName(e) {
					errs = append(errs, fmt.Errorf("resolve: webhook allowlist entry %q is not a host, host:port, IP or CIDR", raw))
					continue
				}
				a.hosts[e] = true
				continue
			}
			n, perr := strconv.Atoi(port)
			if perr != nil || n < 1 || n > 65535 {
				errs = append(errs, fmt.Errorf("resolve: webhook allowlist entry %q: bad port", raw))
				continue
			}
			if ip, err := netip.ParseAddr(host); err == nil {
				host = ip.Unmap().String()
			} else if !validHostName(host) {
				errs = append(errs, fmt.Errorf("resolve: webhook allowlist entry %q: bad host", raw))
				continue
			}
			a.ports[net.JoinHostPort(host, strconv.Itoa(n))] = true
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return a, nil
}

// validHostName reports whether s looks like a DNS name: letters, digits,
// hyphens, underscores and dots, at most 253 bytes.
func validHostName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, c := range s {
		ok := c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_'
		if !ok {
			return false
		}
	}
	return true
}

// allows reports whether u's host (and port) is on the list.
func (a *allowlist) allows(u *url.URL) bool {
	host := strings.ToLower(u.Hostname())
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	ip, err := netip.ParseAddr(host)
	if err == nil {
		ip = ip.Unmap()
		host = ip.String()
	}
	if a.hosts[host] || a.ports[net.JoinHostPort(host, port)] {
		return true
	}
	if err != nil {
		return false
	}
	for _, p := range a.nets {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// ValidateAllow reports the bad entries of a webhook allowlist
// ([WebhookConfig.Allow]).
func ValidateAllow(entries []string) error {
	_, err := parseAllowlist(entries)
	return err
}
