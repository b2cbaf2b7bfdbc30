package resolve

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dynamod/dynamod/versioning"
)

// checkGoroutines fails the test if, once its cleanups have run, more
// goroutines are alive than when it started. Register it first, so that it
// runs after every other cleanup (servers closed, connections dropped).
// Tests that use it must not run in parallel.
func checkGoroutines(t *testing.T) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for runtime.NumGoroutine() > before {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				n := runtime.Stack(buf, true)
				t.Errorf("leaked goroutines: %d before, %d after:\n%s", before, runtime.NumGoroutine(), buf[:n])
				return
			}
			time.Sleep(10 * time.Millisecond) // polling against the deadline
		}
	})
}

func val(data string) versioning.Value { return versioning.Value{Data: []byte(data)} }

func valAt(data string, lm int64) versioning.Value {
	return versioning.Value{Data: []byte(data), LastModified: lm}
}

func tomb(lm int64) versioning.Value { return versioning.Value{Deleted: true, LastModified: lm} }

func bs(docs ...string) [][]byte {
	out := make([][]byte, len(docs))
	for i, d := range docs {
		out[i] = []byte(d)
	}
	return out
}

// show prints a value for failure messages.
func show(v versioning.Value) string {
	return fmt.Sprintf("{data=%q ct=%q lm=%d deleted=%v meta=%v}", v.Data, v.ContentType, v.LastModified, v.Deleted, v.Meta)
}

func showAll(vs []versioning.Value) string {
	parts := make([]string, len(vs))
	for i, v := range vs {
		parts[i] = show(v)
	}
	return "[" + strings.Join(parts, " ") + "]"
}

func sameValues(a, b []versioning.Value) bool {
	return slices.EqualFunc(a, b, versioning.ValueEqual)
}

// jsonGen generates random JSON documents: a semantic tree (as
// encoding/json decodes it, numbers as float64) and one of its many
// spellings (white space, key order, number and string forms, repeated
// keys), so that equal trees come with different bytes.
type jsonGen struct {
	r *rand.Rand
	// siblingsKey lets objects use the key "_siblings".
	siblingsKey bool
}

func newGen(seed uint64) *jsonGen {
	return &jsonGen{r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

var (
	genStrings = []string{"", "x", "y", "milk", "\"", "\\", "\n", "é", "\u2028", "<&>", "\x01", "a\tb", "日本"}
	genKeys    = []string{"a", "b", "c", "é", "\"q", "n"}
	genNumbers = []float64{0, 1, -1, 2, 3, 0.5, -2.5, 1e-7, 3.25e-5, 123456789, 1e14}
)

// value returns a random tree of at most depth levels of containers.
func (g *jsonGen) value(depth int) any {
	if g.siblingsKey && depth > 0 && g.r.IntN(4) == 0 {
		return g.conflictLike(depth - 1)
	}
	k := g.r.IntN(7)
	if depth <= 0 {
		k = g.r.IntN(5)
	}
	switch k {
	case 0:
		return nil
	case 1:
		return g.r.IntN(2) == 0
	case 2, 3:
		return genNumbers[g.r.IntN(len(genNumbers))]
	case 4:
		return genStrings[g.r.IntN(len(genStrings))]
	case 5:
		return g.array(depth-1, 3)
	default:
		return g.object(depth-1, 3)
	}
}

func (g *jsonGen) array(depth, maxLen int) []any {
	a := make([]any, g.r.IntN(maxLen+1))
	for i := range a {
		a[i] = g.value(depth)
	}
	return a
}

func (g *jsonGen) object(depth, maxLen int) map[string]any {
	m := map[string]any{}
	for range g.r.IntN(maxLen + 1) {
		m[g.key()] = g.value(depth)
	}
	return m
}

// conflictLike returns a conflict set, or an object that looks like one.
func (g *jsonGen) conflictLike(depth int) any {
	switch g.r.IntN(4) {
	case 0: // a conflict set, elements maybe conflict sets themselves
		return map[string]any{SiblingsKey: g.array(depth, 3)}
	case 1: // an object holding a one-element conflict set under _siblings
		return map[string]any{SiblingsKey: map[string]any{SiblingsKey: []any{g.value(depth)}}}
	case 2: // an object whose _siblings is not an array
		return map[string]any{SiblingsKey: g.value(0)}
	default: // _siblings next to other keys
		return map[string]any{SiblingsKey: g.array(depth, 2), g.key(): g.value(depth)}
	}
}

func (g *jsonGen) key() string {
	if g.siblingsKey && g.r.IntN(4) == 0 {
		return SiblingsKey
	}
	return genKeys[g.r.IntN(len(genKeys))]
}

// spell writes v in a random but equivalent way.
func (g *jsonGen) spell(v any) string {
	var b strings.Builder
	g.write(&b, v)
	return b.String()
}

func (g *jsonGen) ws(b *strings.Builder) {
	b.WriteString([]string{"", "", " ", "\n\t", "\r\n  "}[g.r.IntN(5)])
}

func (g *jsonGen) write(b *strings.Builder, v any) {
	g.ws(b)
	switch v := v.(type) {
	case nil:
		b.WriteString("null")
	case bool:
		b.WriteString(strconv.FormatBool(v))
	case float64:
		b.WriteString(g.number(v))
	case uint64:
		b.WriteString(strconv.FormatUint(v, 10))
	case string:
		g.str(b, v)
	case []any:
		b.WriteByte('[')
		for i, e := range v {
			if i > 0 {
				b.WriteByte(',')
			}
			g.write(b, e)
		}
		g.ws(b)
		b.WriteByte(']')
	case map[string]any:
		keys := sortedKeys(v)
		g.r.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
		if len(keys) > 0 && g.r.IntN(4) == 0 {
			keys = append(keys, keys[0]) // a repeated key with the same value
		}
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			g.ws(b)
			g.str(b, k)
			g.ws(b)
			b.WriteByte(':')
			g.write(b, v[k])
		}
		g.ws(b)
		b.WriteByte('}')
	default:
		panic(fmt.Sprintf("jsonGen: %T", v))
	}
	g.ws(b)
}

// number spells f in one of its JSON forms.
func (g *jsonGen) number(f float64) string {
	if f == math.Trunc(f) && math.Abs(f) < 1e15 {
		i := int64(f)
		switch g.r.IntN(4) {
		case 0:
			return fmt.Sprintf("%d.0", i)
		case 1:
			return fmt.Sprintf("%de0", i)
		case 2:
			if i == 0 {
				return "-0"
			}
		}
		return strconv.FormatInt(i, 10)
	}
	if g.r.IntN(2) == 0 {
		return strconv.FormatFloat(f, 'e', -1, 64)
	}
	return strconv.FormatFloat(f, 'f', -1, 64)
}

// str spells s as a JSON string, escaping characters at random.
func (g *jsonGen) str(b *strings.Builder, s string) {
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			if g.r.IntN(2) == 0 {
				b.WriteByte('\\')
				b.WriteRune(r)
			} else {
				fmt.Fprintf(b, `\u%04x`, r)
			}
		case r < 0x20 || (r < 0x10000 && g.r.IntN(3) == 0):
			fmt.Fprintf(b, `\u%04X`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
}

// decode decodes JSON for semantic comparisons (numbers as float64).
func decode(t *testing.T, b []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decode %q: %v", b, err)
	}
	return v
}

// shuffledWithDups returns the docs in random order, each one once or more.
func shuffledWithDups[T any](r *rand.Rand, docs []T) []T {
	var out []T
	for _, d := range docs {
		for range 1 + r.IntN(3) {
			out = append(out, d)
		}
	}
	r.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}
