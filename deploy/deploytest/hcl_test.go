package deploytest

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// tfBlock is one top-level `kind "name" { ... }` block of a .tf file, with its
// top-level attributes as source text.
type tfBlock struct {
	Kind, Name string
	Attrs      map[string]string
}

var blockHead = regexp.MustCompile(`(?m)^([a-z_]+) "([^"]+)" \{\n`)

// parseBlocks reads the top-level blocks of terraform-fmt'ed HCL. It is not
// a general HCL parser: it relies on fmt's layout (blocks start at column 0,
// attributes of a block at two spaces) and skips braces inside strings.
func parseBlocks(src string) ([]tfBlock, error) {
	var out []tfBlock
	for _, m := range blockHead.FindAllStringSubmatchIndex(src, -1) {
		body, err := balanced(src[m[1]:], 1)
		if err != nil {
			return nil, fmt.Errorf("block %s %q: %w", src[m[2]:m[3]], src[m[4]:m[5]], err)
		}
		attrs, err := topAttrs(body)
		if err != nil {
			return nil, fmt.Errorf("block %s %q: %w", src[m[2]:m[3]], src[m[4]:m[5]], err)
		}
		out = append(out, tfBlock{Kind: src[m[2]:m[3]], Name: src[m[4]:m[5]], Attrs: attrs})
	}
	return out, nil
}

// balanced returns s up to the point where the bracket depth (already
// `depth` deep) falls to zero, excluding the closing bracket. All of ({[ and
// )}] count; quoted strings are skipped.
func balanced(s string, depth int) (string, error) {
	inStr := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case inStr && c == '\\':
			i++
		case c == '"':
			inStr = !inStr
		case inStr:
		case c == '{' || c == '(' || c == '[':
			depth++
		case c == '}' || c == ')' || c == ']':
			depth--
			if depth == 0 {
				return s[:i], nil
			}
		}
	}
	return "", fmt.Errorf("unbalanced brackets")
}

var attrHead = regexp.MustCompile(`(?m)^  ([a-z_]+)\s*=\s*`)

// topAttrs returns the attributes at two-space indentation of a block body.
func topAttrs(body string) (map[string]string, error) {
	attrs := map[string]string{}
	for _, m := range attrHead.FindAllStringSubmatchIndex(body, -1) {
		rest := body[m[1]:]
		end := strings.IndexByte(rest, '\n')
		if end < 0 {
			end = len(rest)
		}
		line := strings.TrimSpace(rest[:end])
		if last := line[len(line)-1]; last == '{' || last == '(' || last == '[' {
			inner, err := balanced(rest, 0)
			if err != nil {
				return nil, fmt.Errorf("attribute %s: %w", body[m[2]:m[3]], err)
			}
			line = strings.TrimSpace(rest[:len(inner)+1])
		}
		attrs[body[m[2]:m[3]]] = line
	}
	return attrs, nil
}

// hclString decodes a quoted HCL string literal (no interpolation).
func hclString(lit string) (string, error) {
	if strings.Contains(lit, "${") {
		return "", fmt.Errorf("interpolated string %s", lit)
	}
	return strconv.Unquote(lit)
}

// normType removes whitespace and comments so type expressions compare by content.
func normType(s string) string {
	var b strings.Builder
	for _, line := range strings.Split(s, "\n") {
		if i := strings.Index(line, "#"); i >= 0 {
			line = line[:i]
		}
		b.WriteString(strings.Join(strings.Fields(line), ""))
	}
	return b.String()
}

func TestParseBlocks(t *testing.T) {
	src := "variable \"a\" {\n  description = \"has { brace\"\n  type = object({\n    x = optional(number, 1)\n  })\n  default = {}\n\n  validation {\n    condition = true\n  }\n}\n\noutput \"b\" {\n  value = 1\n}\n"
	blocks, err := parseBlocks(src)
	if err != nil {
		t.Fatalf("parseBlocks: %v", err)
	}
	tests := []struct {
		name       string
		idx        int
		kind, attr string
		want       string
	}{
		{"description keeps brace in string", 0, "variable", "description", `"has { brace"`},
		{"multi-line type", 0, "variable", "type", "object({\n    x = optional(number, 1)\n  })"},
		{"default", 0, "variable", "default", "{}"},
		{"output value", 1, "output", "value", "1"},
	}
	if len(blocks) != 2 {
		t.Fatalf("got %d blocks, want 2", len(blocks))
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := blocks[tc.idx]
			if b.Kind != tc.kind {
				t.Fatalf("kind %q, want %q", b.Kind, tc.kind)
			}
			if got := b.Attrs[tc.attr]; got != tc.want {
				t.Errorf("%s = %q, want %q", tc.attr, got, tc.want)
			}
		})
	}
	if _, ok := blocks[0].Attrs["condition"]; ok {
		t.Error("nested attribute condition reported as top-level")
	}
}
