package caa

import (
	"errors"
	"fmt"
	"strings"

	"github.com/acmera/acmera/pkg/problem"
)

// value is a parsed issue or issuewild property value (RFC 8659 §4.2).
type value struct {
	issuer string            // issuer-domain-name, lower case; "" for none
	params map[string]string // parameter tags, lower case, each at most once
}

// parseValue parses an issue or issuewild value by RFC 8659 §4.2's grammar:
//
//	issue-value = *WSP [issuer-domain-name *WSP]
//	   [";" *WSP [parameters *WSP]]
//	issuer-domain-name = label *("." label)
//	label = (ALPHA / DIGIT) *( *("-") (ALPHA / DIGIT))
//	parameters = (parameter *WSP ";" *WSP parameters) / parameter
//	parameter = parameter-tag *WSP "=" *WSP parameter-value
//	parameter-tag = (ALPHA / DIGIT) *( *("-") (ALPHA / DIGIT))
//	parameter-value = *(%x21-3A / %x3C-7E)
//
// One trailing dot after the issuer domain name is tolerated. A parameter
// tag given twice is an error: which of its values would apply is not
// defined, and guessing could widen what the record allows.
func parseValue(s string) (value, error) {
	v := value{params: map[string]string{}}
	s = skipWSP(s)
	end := strings.IndexAny(s, "; \t")
	if end < 0 {
		end = len(s)
	}
	if end > 0 {
		name := strings.ToLower(strings.TrimSuffix(s[:end], "."))
		if !isDomain(name) {
			return v, fmt.Errorf("issuer %q is not a domain name", problem.Truncate(s[:end], 64))
		}
		v.issuer = name
	}
	s = skipWSP(s[end:])
	if s == "" {
		return v, nil
	}
	if s[0] != ';' {
		return v, errors.New("expected ';' after the issuer")
	}
	s = skipWSP(s[1:])
	for s != "" {
		tag, val, rest, err := parameter(s)
		if err != nil {
			return v, err
		}
		if _, dup := v.params[tag]; dup {
			return v, fmt.Errorf("parameter %s given twice", tag)
		}
		v.params[tag] = val
		s = skipWSP(rest)
		if s == "" {
			break
		}
		if s[0] != ';' {
			return v, errors.New("expected ';' between parameters")
		}
		if s = skipWSP(s[1:]); s == "" {
			return v, errors.New("';' not followed by a parameter")
		}
	}
	return v, nil
}

// parameter parses one tag=value at the start of s and returns the rest.
func parameter(s string) (tag, val, rest string, err error) {
	i := strings.IndexAny(s, "= \t")
	if i <= 0 || !isLabel(s[:i]) {
		return "", "", "", errors.New("a parameter must be tag=value")
	}
	tag = strings.ToLower(s[:i])
	s = skipWSP(s[i:])
	if s == "" || s[0] != '=' {
		return "", "", "", fmt.Errorf("parameter %s has no '='", tag)
	}
	s = skipWSP(s[1:])
	j := 0
	for j < len(s) && s[j] >= 0x21 && s[j] <= 0x7e && s[j] != ';' {
		j++
	}
	if j < len(s) && s[j] != ';' && s[j] != ' ' && s[j] != '\t' {
		return "", "", "", fmt.Errorf("parameter %s has a character not allowed in a value", tag)
	}
	return tag, s[:j], s[j:], nil
}

func skipWSP(s string) string { return strings.TrimLeft(s, " \t") }

// isDomain reports whether s is label *("." label).
func isDomain(s string) bool {
	for _, l := range strings.Split(s, ".") {
		if !isLabel(l) {
			return false
		}
	}
	return true
}

// isLabel reports whether s is (ALPHA / DIGIT) *( *("-") (ALPHA / DIGIT)):
// letters, digits and inner hyphens.
func isLabel(s string) bool {
	if s == "" || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}
