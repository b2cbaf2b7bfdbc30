package resolve

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
)

// Resolver specs: the values of the bucket property "resolver".
const (
	// SpecSiblings returns every sibling to the client (the default).
	// [Registry.Lookup] gives a nil Resolver for it. The empty spec means
	// the same.
	SpecSiblings = "siblings"
	// SpecLWW is [LWWResolver].
	SpecLWW = "lww"
	// SpecSetUnion is [SetUnionResolver].
	SpecSetUnion = "json-set-union"
	// SpecCounter is [CounterResolver].
	SpecCounter = "json-counter"
	// SpecMergeObjects is [MergeObjectsResolver].
	SpecMergeObjects = "json-merge-objects"
	// WebhookPrefix starts a webhook spec: "webhook:" followed by an
	// absolute http or https URL.
	WebhookPrefix = "webhook:"
)

// Length limits of specs.
const (
	maxNameLen = 64
	maxURLLen  = 2048
)

// builtins are the resolvers every Registry has.
var builtins = map[string]Resolver{
	SpecLWW:          LWWResolver,
	SpecSetUnion:     SetUnionResolver,
	SpecCounter:      CounterResolver,
	SpecMergeObjects: MergeObjectsResolver,
}

// Registry maps resolver specs to resolvers: the built-ins, resolvers that a
// program embedding dynamod registers by name, and webhooks, created on
// first use and kept, one per distinct URL. It is safe for concurrent use.
type Registry struct {
	cfg       WebhookConfig // defaults applied; never changes
	allow     *allowlist    // from cfg.Allow
	client    *http.Client
	ownClient bool // client was made here, so Close may close its connections
	metrics   *metrics

	// mu guards named and webhooks.
	mu       sync.RWMutex
	named    map[string]Resolver
	webhooks map[string]*webhook // by spec
}

// Option configures a [Registry].
type Option func(*options)

type options struct {
	webhook WebhookConfig
}

// WithWebhook sets the configuration of the registry's webhook resolvers.
// Zero fields take their defaults (see [WebhookConfig]).
func WithWebhook(cfg WebhookConfig) Option {
	return func(o *options) { o.webhook = cfg }
}

// NewRegistry returns a registry holding the built-in resolvers. Its error
// reports invalid options. The registry's webhook metrics are registered
// with WebhookConfig.Registry here, once: use one Registry per node.
func NewRegistry(opts ...Option) (*Registry, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if err := o.webhook.Validate(); err != nil {
		return nil, err
	}
	cfg := o.webhook.withDefaults()
	allow, err := parseAllowlist(cfg.Allow)
	if err != nil {
		return nil, err
	}
	r := &Registry{
		cfg:      cfg,
		allow:    allow,
		client:   cfg.Client,
		metrics:  newMetrics(cfg.Registry),
		named:    make(map[string]Resolver, len(builtins)),
		webhooks: make(map[string]*webhook),
	}
	if r.client == nil {
		r.client = newHTTPClient(cfg)
		r.ownClient = true
	}
	for name, res := range builtins {
		r.named[name] = res
	}
	return r, nil
}

// Register adds a resolver under name, a spec that [Registry.Lookup] will
// then accept. A name is 1 to 64 ASCII letters, digits, '.', '_' or '-'; it
// must not be "siblings", a built-in or a name already registered. res must
// not be nil. Errors wrap [ErrBadSpec].
func (r *Registry) Register(name string, res Resolver) error {
	if err := checkName(name); err != nil {
		return err
	}
	if res == nil {
		return fmt.Errorf("%w: nil resolver for %q", ErrBadSpec, name)
	}
	if _, ok := builtins[name]; ok {
		return fmt.Errorf("%w: %q is a built-in resolver", ErrBadSpec, name)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.named[name]; ok {
		return fmt.Errorf("%w: %q is already registered", ErrBadSpec, name)
	}
	r.named[name] = res
	return nil
}

func checkName(name string) error {
	if name == "" || len(name) > maxNameLen {
		return fmt.Errorf("%w: a name has 1 to %d characters, got %d", ErrBadSpec, maxNameLen, len(name))
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("%w: name %q has a character other than letters, digits, '.', '_' and '-'", ErrBadSpec, name)
		}
	}
	if name == SpecSiblings {
		return fmt.Errorf("%w: %q is reserved", ErrBadSpec, name)
	}
	return nil
}

// Lookup returns the resolver for a bucket's resolver spec:
//
//   - "siblings" or "": a nil Resolver and no error, meaning "return the
//     siblings to the client";
//   - "lww", "json-set-union", "json-counter", "json-merge-objects": the
//     built-ins;
//   - "webhook:URL": the webhook resolver for URL (see [WebhookConfig]),
//     the same one on every call with the same spec; a URL that is not an
//     absolute http or https URL is an error wrapping [ErrBadSpec], one
//     whose host is not on [WebhookConfig.Allow] one wrapping
//     [ErrNotAllowed] (bucket properties from gossip are checked here
//     too, on every node);
//   - a name given to [Registry.Register].
//
// Anything else is an error wrapping [ErrUnknown].
func (r *Registry) Lookup(spec string) (Resolver, error) {
	if spec == "" || spec == SpecSiblings {
		return nil, nil
	}
	if raw, ok := strings.CutPrefix(spec, WebhookPrefix); ok {
		return r.webhook(spec, raw)
	}
	r.mu.RLock()
	res, ok := r.named[spec]
	r.mu.RUnlock()
	if !ok {
		return nil, unknown(spec)
	}
	return res, nil
}

func (r *Registry) webhook(spec, raw string) (*webhook, error) {
	r.mu.RLock()
	w, ok := r.webhooks[spec]
	r.mu.RUnlock()
	if ok {
		return w, nil
	}
	u, err := r.webhookURL(raw)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if w, ok := r.webhooks[spec]; ok {
		return w, nil
	}
	w = newWebhook(u, r.cfg, r.client, r.metrics)
	r.webhooks[spec] = w
	return w, nil
}

// webhookURL parses a webhook URL and checks its host against the
// allowlist: an error wrapping [ErrNotAllowed] names the host and the
// configuration that would allow it.
func (r *Registry) webhookURL(raw string) (*url.URL, error) {
	u, err := parseWebhookURL(raw)
	if err != nil {
		return nil, err
	}
	if !r.allow.allows(u) {
		return nil, fmt.Errorf("%w: %s is not in the node's webhook allowlist (dynamod serve --webhook-allow)", ErrNotAllowed, u.Host)
	}
	return u, nil
}

// Valid reports whether [Registry.Lookup] would accept spec, without
// creating anything: a webhook's host must be on the allowlist. Use it to
// validate bucket properties.
func (r *Registry) Valid(spec string) error {
	if raw, ok := strings.CutPrefix(spec, WebhookPrefix); ok {
		_, err := r.webhookURL(raw)
		return err
	}
	err := Valid(spec)
	if !errors.Is(err, ErrUnknown) {
		return err
	}
	r.mu.RLock()
	_, ok := r.named[spec]
	r.mu.RUnlock()
	if ok {
		return nil
	}
	return err
}

// Close closes the idle connections of the registry's own HTTP client (not
// of a WebhookConfig.Client). The registry stays usable: a later webhook
// call opens new connections. Close is idempotent.
func (r *Registry) Close() error {
	if r.ownClient {
		r.client.CloseIdleConnections()
	}
	return nil
}

// Valid reports whether spec is "siblings", "", a built-in resolver or a
// well-formed "webhook:URL", without creating anything. Names registered
// with [Registry.Register] are unknown to it: use [Registry.Valid] for
// those. An unknown name is an error wrapping [ErrUnknown], a bad webhook
// URL one wrapping [ErrBadSpec].
func Valid(spec string) error {
	if spec == "" || spec == SpecSiblings {
		return nil
	}
	if raw, ok := strings.CutPrefix(spec, WebhookPrefix); ok {
		_, err := parseWebhookURL(raw)
		return err
	}
	if _, ok := builtins[spec]; ok {
		return nil
	}
	return unknown(spec)
}

func unknown(spec string) error {
	if len(spec) > maxNameLen {
		return fmt.Errorf("%w: a name of %d bytes", ErrUnknown, len(spec))
	}
	return fmt.Errorf("%w: %q", ErrUnknown, spec)
}

// parseWebhookURL checks a webhook URL: absolute, http or https, with a
// host, at most 2048 bytes.
func parseWebhookURL(raw string) (*url.URL, error) {
	if len(raw) > maxURLLen {
		return nil, fmt.Errorf("%w: webhook URL of %d bytes, over %d", ErrBadSpec, len(raw), maxURLLen)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: webhook URL: %w", ErrBadSpec, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("%w: webhook URL must be http or https", ErrBadSpec)
	}
	if u.Host == "" || u.Hostname() == "" {
		return nil, fmt.Errorf("%w: webhook URL has no host", ErrBadSpec)
	}
	return u, nil
}
