// Package schemaform turns a connector plugin's settings JSON Schema
// (sdk/connector: Description.SettingsSchema) into form fields and a
// submitted form back into a settings object, so that the console has a
// form for any plugin, third-party ones included.
//
// # What it understands
//
// An object schema whose properties are:
//
//	"type": "string"                text input (minLength, maxLength)
//	"type": "string", "enum": […]   select
//	"type": "integer" | "number"    number input (minimum, maximum)
//	"type": "boolean"               checkbox
//	"type": "array" of strings      textarea, one item a line
//	"type": "object"                a group of the above, named "a.b"
//
// with "title" as the label, "description" as help text, "default"
// shown and used as the initial value of a new form, and "required"
// marking fields (a nested object's own required list counts too). A "type" list (["string", "null"]) counts as its first
// non-null type; any other construct is a text input. Properties keep
// the schema's order. Settings hold no secrets: passwords go to the
// secrets layer through the connector's own password fields.
package schemaform

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Prefix is put before every field's form name ("settings.host").
const Prefix = "settings."

// Form is a parsed settings schema.
type Form struct {
	Title       string
	Description string
	fields      []spec
}

// spec is one leaf property.
type spec struct {
	path        []string
	group       string // title of the enclosing object
	typ         string // string, integer, number, boolean, array, enum
	title, help string
	required    bool
	enum        []string
	def         any
	min, max    *float64
	minLen      int
	maxLen      int
}

// Field is one input of the form, ready for a template.
type Field struct {
	// Name is the form field's name: Prefix + the dotted path.
	Name string
	// ID is a safe element id.
	ID string
	// Group is the title of the enclosing object ("" at the top).
	Group string
	// Kind is text, number, checkbox, select or lines.
	Kind     string
	Label    string
	Help     string
	Required bool
	Options  []string
	// Value is the current value as the input shows it.
	Value   string
	Checked bool
	// Min, Max, Step, MinLength, MaxLength: input attributes ("" for none).
	Min, Max, Step       string
	MinLength, MaxLength string
	// Default describes the default for the help text ("" for none).
	Default string
	Error   string
}

type rawSchema struct {
	Title       string          `json:"title"`
	Description string          `json:"description"`
	Type        json.RawMessage `json:"type"`
	Enum        []any           `json:"enum"`
	Default     any             `json:"default"`
	Minimum     *float64        `json:"minimum"`
	Maximum     *float64        `json:"maximum"`
	MinLength   int             `json:"minLength"`
	MaxLength   int             `json:"maxLength"`
	Required    []string        `json:"required"`
	Properties  json.RawMessage `json:"properties"`
	Items       *rawSchema      `json:"items"`
}

// Parse reads a settings schema.
func Parse(schema []byte) (*Form, error) {
	var root rawSchema
	if len(bytes.TrimSpace(schema)) == 0 {
		return &Form{}, nil
	}
	if err := json.Unmarshal(schema, &root); err != nil {
		return nil, fmt.Errorf("settings schema: %w", err)
	}
	f := &Form{Title: root.Title, Description: root.Description}
	if err := f.add(&root, nil, ""); err != nil {
		return nil, fmt.Errorf("settings schema: %w", err)
	}
	return f, nil
}

func (f *Form) add(obj *rawSchema, path []string, group string) error {
	if len(obj.Properties) == 0 {
		return nil
	}
	names, err := keysInOrder(obj.Properties)
	if err != nil {
		return err
	}
	var props map[string]*rawSchema
	if err := json.Unmarshal(obj.Properties, &props); err != nil {
		return err
	}
	for _, name := range names {
		p := props[name]
		if p == nil || strings.ContainsAny(name, ".") {
			continue
		}
		sp := spec{path: append(slices.Clone(path), name), group: group, typ: typeOf(p.Type), title: p.Title, help: p.Description,
			required: slices.Contains(obj.Required, name), def: p.Default, min: p.Minimum, max: p.Maximum, minLen: p.MinLength, maxLen: p.MaxLength}
		if sp.title == "" {
			sp.title = name
		}
		switch {
		case sp.typ == "object":
			g := sp.title
			if group != "" {
				g = group + " › " + g
			}
			if err := f.add(p, sp.path, g); err != nil {
				return err
			}
			continue
		case len(p.Enum) > 0:
			sp.typ = "enum"
			for _, v := range p.Enum {
				sp.enum = append(sp.enum, fmt.Sprint(v))
			}
		case sp.typ == "array" && (p.Items == nil || typeOf(p.Items.Type) != "string"):
			sp.typ = "string" // unsupported: edited as text, sent as text
		case sp.typ != "integer" && sp.typ != "number" && sp.typ != "boolean" && sp.typ != "array":
			sp.typ = "string"
		}
		f.fields = append(f.fields, sp)
	}
	return nil
}

// typeOf reads "type": a name or a list of names (the first non-null).
func typeOf(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var list []string
	if json.Unmarshal(raw, &list) == nil {
		for _, t := range list {
			if t != "null" {
				return t
			}
		}
	}
	return ""
}

// keysInOrder returns an object's keys in the order of the text.
func keysInOrder(raw json.RawMessage) ([]string, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, fmt.Errorf("properties is not an object")
	}
	var keys []string
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, err
		}
		keys = append(keys, t.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return nil, err
		}
	}
	return keys, nil
}

// Fields returns the inputs filled with values (a settings object; nil
// for a new form, which shows the defaults) and errs (by field name).
func (f *Form) Fields(values map[string]any, errs map[string]string) []Field {
	out := make([]Field, 0, len(f.fields))
	for _, sp := range f.fields {
		name := Prefix + strings.Join(sp.path, ".")
		fd := Field{Name: name, ID: "f-" + strings.Join(sp.path, "-"), Group: sp.group, Label: sp.title, Help: sp.help,
			Required: sp.required, Options: sp.enum, Error: errs[name]}
		v, ok := lookup(values, sp.path)
		if values == nil {
			v, ok = sp.def, sp.def != nil
		}
		if sp.def != nil {
			fd.Default = format(sp.def)
		}
		switch sp.typ {
		case "boolean":
			fd.Kind = "checkbox"
			b, _ := v.(bool)
			fd.Checked = ok && b
		case "integer", "number":
			fd.Kind = "number"
			fd.Step = "1"
			if sp.typ == "number" {
				fd.Step = "any"
			}
			if sp.min != nil {
				fd.Min = format(*sp.min)
			}
			if sp.max != nil {
				fd.Max = format(*sp.max)
			}
		case "enum":
			fd.Kind = "select"
		case "array":
			fd.Kind = "lines"
		default:
			fd.Kind = "text"
			if sp.minLen > 0 {
				fd.MinLength = strconv.Itoa(sp.minLen)
			}
			if sp.maxLen > 0 {
				fd.MaxLength = strconv.Itoa(sp.maxLen)
			}
		}
		if ok && fd.Kind != "checkbox" {
			if list, isList := v.([]any); isList {
				var lines []string
				for _, x := range list {
					lines = append(lines, format(x))
				}
				fd.Value = strings.Join(lines, "\n")
			} else {
				fd.Value = format(v)
			}
		}
		out = append(out, fd)
	}
	return out
}

func lookup(m map[string]any, path []string) (any, bool) {
	var v any = m
	for _, p := range path {
		mm, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = mm[p]; !ok {
			return nil, false
		}
	}
	return v, true
}

func format(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case string:
		return x
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// Decode reads the submitted settings. Empty optional inputs are left
// out, so the plugin's defaults apply; checkboxes are always set. errs
// holds a message per field name, nil when the form is valid.
func (f *Form) Decode(form url.Values) (map[string]any, map[string]string) {
	settings := map[string]any{}
	errs := map[string]string{}
	for _, sp := range f.fields {
		name := Prefix + strings.Join(sp.path, ".")
		raw := strings.TrimSpace(form.Get(name))
		if sp.typ == "boolean" {
			set(settings, sp.path, raw == "true" || raw == "on")
			continue
		}
		if raw == "" {
			if sp.required {
				errs[name] = "Required."
			}
			continue
		}
		v, err := sp.parse(raw)
		if err != nil {
			errs[name] = err.Error()
			continue
		}
		set(settings, sp.path, v)
	}
	if len(errs) == 0 {
		errs = nil
	}
	return settings, errs
}

func (sp *spec) parse(raw string) (any, error) {
	switch sp.typ {
	case "integer", "number":
		n, err := strconv.ParseFloat(raw, 64)
		if err != nil || (sp.typ == "integer" && n != float64(int64(n))) {
			return nil, fmt.Errorf("Enter a %s.", map[string]string{"integer": "whole number", "number": "number"}[sp.typ])
		}
		if sp.min != nil && n < *sp.min || sp.max != nil && n > *sp.max {
			return nil, fmt.Errorf("Enter a value from %s to %s.", bound(sp.min, "−∞"), bound(sp.max, "∞"))
		}
		if sp.typ == "integer" {
			return int64(n), nil
		}
		return n, nil
	case "enum":
		if !slices.Contains(sp.enum, raw) {
			return nil, fmt.Errorf("Choose one of %s.", strings.Join(sp.enum, ", "))
		}
		return raw, nil
	case "array":
		items := []any{}
		for _, line := range strings.Split(raw, "\n") {
			if line = strings.TrimSpace(line); line != "" {
				items = append(items, line)
			}
		}
		return items, nil
	}
	n := utf8.RuneCountInString(raw)
	switch {
	case sp.maxLen > 0 && (n < sp.minLen || n > sp.maxLen):
		return nil, fmt.Errorf("Use %d to %d characters.", sp.minLen, sp.maxLen)
	case n < sp.minLen:
		return nil, fmt.Errorf("Use at least %d characters.", sp.minLen)
	}
	return raw, nil
}

func bound(b *float64, none string) string {
	if b == nil {
		return none
	}
	return format(*b)
}

func set(m map[string]any, path []string, v any) {
	for _, p := range path[:len(path)-1] {
		next, ok := m[p].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[p] = next
		}
		m = next
	}
	m[path[len(path)-1]] = v
}
