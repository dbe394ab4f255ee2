// Package yamlconf decodes YAML configuration files strictly and reports every
// problem with the file name and line, so a user knows exactly what to fix.
//
// Decode rejects unknown fields and wrong types (the YAML library's errors, reworded
// to name the file and line); the caller validates the decoded values and reports
// its own findings through Doc.Errorf, which finds the line of the offending field.
package yamlconf

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// Doc is a decoded document: it remembers the file name and the node tree so
// validation errors can point at the right line.
type Doc struct {
	file string
	root *yaml.Node
}

// Decode decodes data (the contents of file) into v, rejecting unknown fields,
// wrong types, empty input and more than one document.
func Decode(file string, data []byte, v any) (*Doc, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, fmt.Errorf("%s: the file is empty; see docs/configuration.md for an example", file)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, reword(file, err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: the file holds no settings (only comments); see docs/configuration.md for an example", file)
		}
		return nil, reword(file, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		line := extra.Line
		return nil, fmt.Errorf("%s:%d: a second YAML document (---) is not allowed; keep one document per file", file, line)
	}
	return &Doc{file: file, root: &root}, nil
}

var (
	lineRe    = regexp.MustCompile(`^line (\d+): (.*)$`)
	unknownRe = regexp.MustCompile(`^field (\S+) not found in type (\S+)$`)
	typeRe    = regexp.MustCompile("^cannot unmarshal !!(\\w+) `(.*)` into (\\S+)$")
)

// reword turns the YAML library's errors into "file:line: message" lines.
func reword(file string, err error) error {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs := make([]string, 0, len(te.Errors))
		for _, e := range te.Errors {
			msgs = append(msgs, rewordOne(file, e))
		}
		return errors.New(strings.Join(msgs, "\n"))
	}
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if m := lineRe.FindStringSubmatch(msg); m != nil {
		return fmt.Errorf("%s:%s: %s", file, m[1], m[2])
	}
	return fmt.Errorf("%s: %w", file, err)
}

func rewordOne(file, e string) string {
	m := lineRe.FindStringSubmatch(e)
	if m == nil {
		return file + ": " + e
	}
	line, msg := m[1], m[2]
	if u := unknownRe.FindStringSubmatch(msg); u != nil {
		msg = fmt.Sprintf("unknown field %q; check its spelling and indentation (docs/configuration.md lists every field)", u[1])
	} else if t := typeRe.FindStringSubmatch(msg); t != nil {
		msg = fmt.Sprintf("%q is a %s, but a %s is needed here", t[2], yamlKind(t[1]), goKind(t[3]))
	}
	return fmt.Sprintf("%s:%s: %s", file, line, msg)
}

func yamlKind(tag string) string {
	switch tag {
	case "str":
		return "string"
	case "int", "float":
		return "number"
	case "bool":
		return "boolean"
	case "seq":
		return "list"
	case "map":
		return "mapping"
	default:
		return tag
	}
}

func goKind(t string) string {
	switch {
	case t == "time.Duration":
		return "duration such as 30s or 1m"
	case strings.HasPrefix(t, "int"), strings.HasPrefix(t, "uint"):
		return "whole number"
	case strings.HasPrefix(t, "float"):
		return "number"
	case t == "bool":
		return "boolean (true or false)"
	case t == "string":
		return "string"
	case strings.HasPrefix(t, "[]"):
		return "list"
	case strings.HasPrefix(t, "map["):
		return "mapping"
	default:
		return "mapping"
	}
}

// File returns the file name the document was read from.
func (d *Doc) File() string { return d.file }

// Line returns the line of the node at path (mapping keys as strings, sequence
// indices as ints), or of its closest existing ancestor; 0 if nothing matches.
func (d *Doc) Line(path ...any) int {
	if d == nil || d.root == nil {
		return 0
	}
	n := d.root
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	line := n.Line
	for _, p := range path {
		next := child(n, p)
		if next == nil {
			break
		}
		n = next
		line = n.Line
	}
	return line
}

// child returns the value node under key (string) or index (int).
func child(n *yaml.Node, p any) *yaml.Node {
	switch k := p.(type) {
	case string:
		if n.Kind != yaml.MappingNode {
			return nil
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == k {
				return n.Content[i+1]
			}
		}
	case int:
		if n.Kind == yaml.SequenceNode && k >= 0 && k < len(n.Content) {
			return n.Content[k]
		}
	}
	return nil
}

// Errorf returns an error "file:line: field: message" for the field at path.
func (d *Doc) Errorf(path []any, format string, args ...any) error {
	return fmt.Errorf("%s:%d: %s: %s", d.file, d.Line(path...), FieldName(path), fmt.Sprintf(format, args...))
}

// FieldName renders a path as the user wrote it, e.g. paths[2].to.port.
func FieldName(path []any) string {
	var b strings.Builder
	for _, p := range path {
		switch k := p.(type) {
		case int:
			b.WriteString("[" + strconv.Itoa(k) + "]")
		default:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			fmt.Fprint(&b, k)
		}
	}
	return b.String()
}
