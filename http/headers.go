package http

import (
	"fmt"
	"mime"
	nethttp "net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/dynamod/dynamod/quorum"
	"github.com/dynamod/dynamod/versioning"
)

// Header names of the API.
const (
	hdrContext = "Dynamod-Context"
	// hdrWarning tells the client that an answer is degraded, e.g. a
	// resolver failed and siblings came back instead.
	hdrWarning = "Dynamod-Resolver-Warning"
	hdrDeleted = "Dynamod-Deleted"
	// hdrTTL gives a write's time to live; hdrExpires tells a reader
	// when a value expires (RFC 3339, UTC, nanoseconds).
	hdrTTL     = "Dynamod-TTL"
	hdrExpires = "Dynamod-Expires"
	metaPrefix = "Dynamod-Meta-"
)

// Limits on user metadata (Dynamod-Meta-* headers) of one value.
const (
	maxMetaCount     = 64
	maxMetaNameBytes = 128
	maxMetaBytes     = 16 << 10 // names plus values
)

// Bounds of a request's causal context (Dynamod-Context).
//
// A context has one entry per actor that coordinated a write of the key,
// and an actor is a coordinator's epoch: one per (process incarnation,
// key) for each of the key's primaries, one per write coordinated by a
// fallback (docs/design.md, "Actors are epochs"). maxContextEntries allows
// 64 such epochs for each of the up to quorum.MaxNVal nodes that can hold
// the key as primaries; a context with more is forged, or comes from a key
// whose clock no client can carry anyway, and merging it would grow the
// stored clock for good. At most 17 bytes per entry, the largest valid
// context is about 23 KiB of base64 (maxContextHeader).
//
// A counter counts the writes one epoch coordinated to one key. No honest
// one comes near 2^62 (146 000 years at a million writes a second), so a
// larger one is forged; refusing them leaves 3·2^62 writes before a stored
// counter could reach 2^64-1, where no new dot can be minted and a write
// would be dropped while answered 204.
const (
	maxContextEntries = 64 * quorum.MaxNVal
	maxContextCounter = 1 << 62
	maxContextHeader  = (1 + 1 + maxContextEntries*(8+9) + 2) / 3 * 4 // base64 of uvarint(count) and the entries
)

// maxContentTypeBytes bounds a value's Content-Type: it is stored with
// the value (quorum.ValueOverheadBytes counts on this bound).
const maxContentTypeBytes = 1 << 10

// defaultContentType is served for a value stored without one.
const defaultContentType = "application/octet-stream"

// parseContext decodes the Dynamod-Context header. Absent or empty means
// "has seen nothing" (nil). A context past maxContextEntries or
// maxContextCounter is bad.
func parseContext(h nethttp.Header) (versioning.Context, error) {
	vs := h.Values(hdrContext)
	if len(vs) > 1 {
		return nil, headerError(hdrContext, "given more than once")
	}
	if len(vs) == 0 {
		return nil, nil
	}
	s := strings.TrimSpace(vs[0])
	if s == "" {
		return nil, nil
	}
	if len(s) > maxContextHeader { // more entries than allowed: not worth decoding
		return nil, fmt.Errorf("%w: %d bytes, more than %d entries can take", versioning.ErrBadContext, len(s), maxContextEntries)
	}
	c, err := versioning.DecodeContext(s)
	if err != nil {
		return nil, err
	}
	if len(c) > maxContextEntries {
		return nil, fmt.Errorf("%w: %d entries, at most %d", versioning.ErrBadContext, len(c), maxContextEntries)
	}
	for _, e := range c {
		if e.Counter > maxContextCounter {
			return nil, fmt.Errorf("%w: counter %d of actor %016x is past %d, which no write history reaches", versioning.ErrBadContext, e.Counter, uint64(e.Actor), uint64(maxContextCounter))
		}
	}
	return c, nil
}

// parseContentType returns the request's Content-Type in canonical form, or
// "" if it has none. One that does not parse is a 415.
func parseContentType(h nethttp.Header) (string, error) {
	vs := h.Values("Content-Type")
	if len(vs) == 0 {
		return "", nil
	}
	if len(vs) > 1 {
		return "", unsupportedMedia("more than one Content-Type")
	}
	if len(vs[0]) > maxContentTypeBytes {
		return "", unsupportedMedia("Content-Type longer than " + strconv.Itoa(maxContentTypeBytes) + " bytes")
	}
	if simpleMediaType(vs[0]) {
		return vs[0], nil // what the two calls below make of it
	}
	mt, params, err := mime.ParseMediaType(vs[0])
	if err != nil {
		return "", unsupportedMedia("Content-Type does not parse")
	}
	ct := mime.FormatMediaType(mt, params)
	if ct == "" {
		return "", unsupportedMedia("Content-Type does not parse")
	}
	return ct, nil
}

// simpleMediaType reports whether s is type/subtype in lower case, both
// HTTP tokens, with no parameters: mime.ParseMediaType and
// mime.FormatMediaType give it back as it is, at the cost of a map, a
// sort and a string (3.5 % of a node's allocated objects under a write
// load). TestSimpleMediaType_sameAsMime holds it to them.
func simpleMediaType(s string) bool {
	major, sub, ok := strings.Cut(s, "/")
	return ok && isToken(major) && isToken(sub) && !hasUpper(s)
}

// hasUpper reports whether s has an ASCII upper-case letter.
func hasUpper(s string) bool {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			return true
		}
	}
	return false
}

// parseMeta collects the Dynamod-Meta-* headers into lower-cased names
// without the prefix. Repeated headers are joined with ", " as HTTP allows.
// Names must be HTTP tokens and values valid header values, so that echoing
// them is safe; count and size are bounded.
func parseMeta(h nethttp.Header) (map[string]string, error) {
	var meta map[string]string
	total := 0
	for k, vs := range h {
		if len(k) < len(metaPrefix) || !strings.EqualFold(k[:len(metaPrefix)], metaPrefix) {
			continue
		}
		name := strings.ToLower(k[len(metaPrefix):])
		if name == "" || len(name) > maxMetaNameBytes || !isToken(name) {
			return nil, headerError(k, "metadata name must be 1.."+strconv.Itoa(maxMetaNameBytes)+" token characters")
		}
		v := strings.Join(vs, ", ")
		if !validHeaderValue(v) {
			return nil, headerError(k, "metadata value has control characters")
		}
		if meta == nil {
			meta = make(map[string]string)
		}
		if old, dup := meta[name]; dup { // same name in two spellings
			v = old + ", " + v
			total -= len(name) + len(old)
		}
		meta[name] = v
		total += len(name) + len(v)
		if len(meta) > maxMetaCount {
			return nil, headerError(metaPrefix+"*", "more than "+strconv.Itoa(maxMetaCount)+" metadata headers")
		}
		if total > maxMetaBytes {
			return nil, headerError(metaPrefix+"*", "metadata over "+strconv.Itoa(maxMetaBytes)+" bytes")
		}
	}
	return meta, nil
}

// setMeta writes meta as Dynamod-Meta-* headers, in name order. Entries that
// could not be sent safely (not written through this API) are skipped.
func setMeta(h map[string][]string, meta map[string]string) {
	names := make([]string, 0, len(meta))
	for k := range meta {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		v := meta[k]
		if k == "" || !isToken(k) || !validHeaderValue(v) {
			continue
		}
		h[nethttp.CanonicalHeaderKey(metaPrefix+k)] = []string{v}
	}
}

// isToken reports whether s is an RFC 9110 token.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// validHeaderValue reports whether s may be sent as a header value: no
// control characters other than horizontal tab.
func validHeaderValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 0x20 && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// headerSafe keeps a text to printable ASCII, bounded, for a header value.
func headerSafe(s string) string {
	b := make([]byte, 0, min(len(s), 512))
	for i := 0; i < len(s) && len(b) < 512; i++ {
		if c := s[i]; c >= 0x20 && c < 0x7f {
			b = append(b, c)
		} else {
			b = append(b, ' ')
		}
	}
	return string(b)
}

// headerVals hands out the one-element value slices of the headers an
// answer sets, cut from one allocation instead of one each. Each slice's
// capacity is its length, so an Add to such a header copies rather than
// writing into its neighbour.
type headerVals struct{ buf []string }

func newHeaderVals(n int) headerVals { return headerVals{buf: make([]string, 0, n)} }

// set sets header k (a canonical name) to the single value v.
func (hv *headerVals) set(h map[string][]string, k, v string) {
	if len(hv.buf) == cap(hv.buf) {
		h[k] = []string{v}
		return
	}
	hv.buf = append(hv.buf, v)
	n := len(hv.buf)
	h[k] = hv.buf[n-1 : n : n]
}

// varyAccept is the Vary header of answers whose form depends on Accept,
// shared by all of them: header values are never changed in place.
var varyAccept = []string{"Accept"}

// parseTTL reads a write's time to live from the ttl query parameter or
// the Dynamod-TTL header (one of them, not both); 0 when neither is given.
// query is r's query, parsed once by the caller.
func parseTTL(r *nethttp.Request, q query) (time.Duration, error) {
	qv, nq := q.values("ttl")
	hasQ := nq > 0
	h := r.Header.Values(hdrTTL)
	hasH := len(h) > 0
	switch {
	case hasQ && hasH:
		return 0, badRequest("give the ttl once: in the ttl parameter or the " + hdrTTL + " header")
	case nq > 1 || len(h) > 1:
		return 0, badRequest("more than one ttl")
	case hasQ:
		return quorum.ParseTTL(qv)
	case hasH:
		return quorum.ParseTTL(h[0])
	}
	return 0, nil
}
