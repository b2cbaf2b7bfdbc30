package resolve

import (
	"errors"
	"strings"
	"testing"

	"github.com/dynamod/dynamod/versioning"
)

// jsonResolvers are the JSON merges with a valid document, a document of
// the wrong JSON type, and the empty value, for shared tests.
var jsonResolvers = []struct {
	spec         string
	r            Resolver
	a, b, merged string
	wrongType    string
}{
	{SpecSetUnion, SetUnionResolver, `["x"]`, `["y","x"]`, `["x","y"]`, `{"x":1}`},
	{SpecCounter, CounterResolver, `{"n1":2}`, `{"n1":1,"n2":4}`, `{"n1":2,"n2":4}`, `[1]`},
	{SpecMergeObjects, MergeObjectsResolver, `{"x":1}`, `{"y":2}`, `{"x":1,"y":2}`, `[1]`},
}

func TestJSONResolvers_merge(t *testing.T) {
	for _, jr := range jsonResolvers {
		t.Run(jr.spec, func(t *testing.T) {
			a := versioning.Value{Data: []byte(jr.a), ContentType: "text/plain", LastModified: 10, Meta: map[string]string{"k": "a", "only-a": "1"}}
			b := versioning.Value{Data: []byte(jr.b), ContentType: "application/json", LastModified: 30, Meta: map[string]string{"k": "b"}}
			res, err := jr.r.Resolve(t.Context(), Input{Bucket: "b", Key: "k", Siblings: []versioning.Value{a, b}})
			if err != nil {
				t.Fatal(err)
			}
			want := versioning.Value{Data: []byte(jr.merged), ContentType: ContentTypeJSON, LastModified: 30,
				Meta: map[string]string{"k": "b", "only-a": "1"}}
			if !versioning.ValueEqual(res.Value, want) || res.Invalid != nil || res.Warning != "" {
				t.Fatalf("Resolve = %s invalid=%s warning=%q; want %s", show(res.Value), showAll(res.Invalid), res.Warning, show(want))
			}
		})
	}
}

func TestJSONResolvers_invalidSiblingsKept(t *testing.T) {
	for _, jr := range jsonResolvers {
		t.Run(jr.spec, func(t *testing.T) {
			notJSON := versioning.Value{Data: []byte("not json {"), ContentType: "text/plain", LastModified: 50, Meta: map[string]string{"m": "z"}}
			wrong := versioning.Value{Data: []byte(jr.wrongType), LastModified: 40}
			a, b := valAt(jr.a, 10), valAt(jr.b, 20)
			in := []versioning.Value{notJSON, a, wrong, b, notJSON}
			res, err := jr.r.Resolve(t.Context(), Input{Siblings: in})
			if err != nil {
				t.Fatal(err)
			}
			// The valid siblings are merged; invalid ones do not count.
			want := versioning.Value{Data: []byte(jr.merged), ContentType: ContentTypeJSON, LastModified: 20}
			if !versioning.ValueEqual(res.Value, want) {
				t.Errorf("Value = %s, want %s", show(res.Value), show(want))
			}
			// Invalid ones come back unchanged, once each, in canonical order.
			if wantInvalid := []versioning.Value{wrong, notJSON}; !sameValues(res.Invalid, wantInvalid) {
				t.Errorf("Invalid = %s, want %s", showAll(res.Invalid), showAll(wantInvalid))
			}
			if &res.Invalid[1].Data[0] != &notJSON.Data[0] {
				t.Error("an invalid value's data was copied or changed")
			}
			if !strings.Contains(res.Warning, "2 siblings") || strings.Contains(res.Warning, "not json {") {
				t.Errorf("Warning = %q, want a count and no value", res.Warning)
			}
		})
	}
}

func TestJSONResolvers_allInvalid(t *testing.T) {
	for _, jr := range jsonResolvers {
		t.Run(jr.spec, func(t *testing.T) {
			for _, in := range [][]versioning.Value{nil, {val("x"), val(jr.wrongType)}, {val("")}} {
				res, err := jr.r.Resolve(t.Context(), Input{Siblings: in})
				if !errors.Is(err, ErrNoValue) {
					t.Errorf("Resolve(%s) = %s, %v; want ErrNoValue", showAll(in), show(res.Value), err)
				}
			}
		})
	}
}

func TestJSONResolvers_tombstones(t *testing.T) {
	for _, jr := range jsonResolvers {
		t.Run(jr.spec, func(t *testing.T) {
			ctx := t.Context()
			// Add wins: a write concurrent with a delete survives it, even an
			// older one.
			del := versioning.Value{Deleted: true, LastModified: 99, Meta: map[string]string{"d": "1"}}
			res, err := jr.r.Resolve(ctx, Input{Siblings: []versioning.Value{valAt(jr.a, 5), del, valAt(jr.b, 7)}})
			if err != nil {
				t.Fatal(err)
			}
			want := versioning.Value{Data: []byte(jr.merged), ContentType: ContentTypeJSON, LastModified: 99, Meta: map[string]string{"d": "1"}}
			if !versioning.ValueEqual(res.Value, want) {
				t.Errorf("add vs delete = %s, want %s", show(res.Value), show(want))
			}
			// Only tombstones: a tombstone, whatever data they carry.
			odd := versioning.Value{Deleted: true, Data: []byte("junk"), ContentType: "x/y", LastModified: 3}
			res, err = jr.r.Resolve(ctx, Input{Siblings: []versioning.Value{tomb(2), odd}})
			if err != nil {
				t.Fatal(err)
			}
			if want := (versioning.Value{Deleted: true, LastModified: 3}); !versioning.ValueEqual(res.Value, want) || res.Invalid != nil {
				t.Errorf("tombstones = %s invalid=%s, want %s", show(res.Value), showAll(res.Invalid), show(want))
			}
			// Tombstones and invalid values: a tombstone next to the invalid ones.
			res, err = jr.r.Resolve(ctx, Input{Siblings: []versioning.Value{tomb(2), val("garbage")}})
			if err != nil {
				t.Fatal(err)
			}
			if !res.Value.Deleted || len(res.Invalid) != 1 || string(res.Invalid[0].Data) != "garbage" {
				t.Errorf("tombstone and garbage = %s invalid=%s", show(res.Value), showAll(res.Invalid))
			}
			// A tombstone is the empty value: merging it with a value changes
			// nothing but the time and metadata.
			res, err = jr.r.Resolve(ctx, Input{Siblings: []versioning.Value{val(jr.merged), tomb(0)}})
			if err != nil || string(res.Value.Data) != jr.merged || res.Value.Deleted {
				t.Errorf("value and tombstone = %s, %v; want %s", show(res.Value), err, jr.merged)
			}
		})
	}
}

// Resolving in steps, with the caller keeping invalid siblings next to the
// partial result, gives the same as resolving at once.
func TestJSONResolvers_stepwiseWithInvalid(t *testing.T) {
	for _, jr := range jsonResolvers {
		t.Run(jr.spec, func(t *testing.T) {
			ctx := t.Context()
			a, b, bad := valAt(jr.a, 1), valAt(jr.b, 2), valAt("bad", 3)
			once, err := jr.r.Resolve(ctx, Input{Siblings: []versioning.Value{a, b, bad}})
			if err != nil {
				t.Fatal(err)
			}
			part, err := jr.r.Resolve(ctx, Input{Siblings: []versioning.Value{b, bad}})
			if err != nil {
				t.Fatal(err)
			}
			steps, err := jr.r.Resolve(ctx, Input{Siblings: append([]versioning.Value{a, part.Value}, part.Invalid...)})
			if err != nil {
				t.Fatal(err)
			}
			if !versioning.ValueEqual(once.Value, steps.Value) || !sameValues(once.Invalid, steps.Invalid) {
				t.Fatalf("at once %s %s, in steps %s %s", show(once.Value), showAll(once.Invalid), show(steps.Value), showAll(steps.Invalid))
			}
		})
	}
}
