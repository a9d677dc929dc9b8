package schemaform

import (
	"encoding/json"
	"net/url"
	"testing"
)

const schema = `{"title":"T","type":"object","required":["b","a"],"properties":{
 "b":{"type":"string","title":"B","minLength":2},
 "a":{"type":"integer","default":5,"minimum":1},
 "z":{"type":"boolean","default":true},
 "e":{"enum":["x","y"]},
 "o":{"type":"object","required":["n"],"properties":{"n":{"type":"number"}}},
 "weird":{"oneOf":[{"type":"string"}]}
}}`

func TestOrderDefaultsAndDecode(t *testing.T) {
	f, err := Parse([]byte(schema))
	if err != nil {
		t.Fatal(err)
	}
	fields := f.Fields(nil, nil)
	var names []string
	for _, fd := range fields {
		names = append(names, fd.Name+":"+fd.Kind)
	}
	want := `["settings.b:text","settings.a:number","settings.z:checkbox","settings.e:select","settings.o.n:number","settings.weird:text"]`
	if got, _ := json.Marshal(names); string(got) != want {
		t.Fatalf("fields %s", got)
	}
	if fields[1].Value != "5" || !fields[2].Checked || !fields[0].Required || !fields[4].Required || fields[4].Group != "o" {
		t.Fatalf("defaults: %+v", fields)
	}
	// Stored values win over defaults; a missing boolean is false.
	fields = f.Fields(map[string]any{"a": float64(9), "o": map[string]any{"n": 1.5}}, nil)
	if fields[1].Value != "9" || fields[2].Checked || fields[4].Value != "1.5" {
		t.Fatalf("values: %+v", fields)
	}
	s, errs := f.Decode(url.Values{"settings.b": {"bb"}, "settings.a": {"3"}, "settings.o.n": {"2.5"}, "settings.weird": {"w"}})
	got, _ := json.Marshal(s)
	if errs != nil || string(got) != `{"a":3,"b":"bb","o":{"n":2.5},"weird":"w","z":false}` {
		t.Fatalf("decode: %s %v", got, errs)
	}
	_, errs = f.Decode(url.Values{"settings.b": {"b"}, "settings.a": {"0"}, "settings.e": {"q"}})
	if len(errs) != 4 || errs["settings.o.n"] != "Required." {
		t.Fatalf("errors: %v", errs)
	}
	if _, err := Parse([]byte(`{"properties":[1]}`)); err == nil {
		t.Fatal("bad schema accepted")
	}
}
