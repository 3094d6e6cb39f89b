package wfe

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
)

// A strict reader for the small JSON objects of a JWS (RFC 7515 §7.2.2
// flattened serialization and its protected header). It replaces a
// reflection-based decode followed by a second parse in go-jose, and keeps
// go-jose's strictness: member names match case-sensitively and a repeated
// member name refuses the whole object (RFC 7515 §4: "the Header Parameter
// names ... MUST be unique"; §5.2 lets a recipient reject duplicates).

// maxMembers bounds the members of one JWS object: the flattened form has
// at most five and an ACME protected header about six, so this only keeps
// the duplicate check cheap on hostile input.
const maxMembers = 64

var (
	errNotObject = errors.New("wfe: not a JSON object")
	errDuplicate = errors.New("wfe: repeated JSON member name")
	errMembers   = errors.New("wfe: too many JSON members")
	errWrongType = errors.New("wfe: JSON member of the wrong type")
)

// members calls fn with the name and raw value of each member of the JSON
// object in data, in order. It refuses anything but one valid JSON object,
// a repeated member name, and more than maxMembers members.
func members(data []byte, fn func(name string, val []byte) error) error {
	if !json.Valid(data) {
		return errNotObject
	}
	i := skipSpace(data, 0)
	if data[i] != '{' {
		return errNotObject
	}
	var seen [maxMembers]string
	n := 0
	i = skipSpace(data, i+1)
	if data[i] == '}' {
		return nil
	}
	for {
		end := skipString(data, i)
		name, ok := jsonString(data[i:end])
		if !ok {
			return errNotObject
		}
		for _, s := range seen[:n] {
			if s == name {
				return errDuplicate
			}
		}
		if n == maxMembers {
			return errMembers
		}
		seen[n] = name
		n++
		i = skipSpace(data, end)
		i = skipSpace(data, i+1) // the ':'
		end = skipValue(data, i)
		if err := fn(name, data[i:end]); err != nil {
			return err
		}
		i = skipSpace(data, end)
		if data[i] == '}' {
			return nil
		}
		i = skipSpace(data, i+1) // the ','
	}
}

// The skip functions below assume data is valid JSON (members checks it
// first), so they need no bounds checks beyond the loop conditions.

func skipSpace(data []byte, i int) int {
	for i < len(data) {
		switch data[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// skipString returns the index just past the string starting at data[i].
func skipString(data []byte, i int) int {
	for j := i + 1; j < len(data); j++ {
		switch data[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return len(data)
}

// skipValue returns the index just past the value starting at data[i].
func skipValue(data []byte, i int) int {
	switch data[i] {
	case '"':
		return skipString(data, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(data); j++ {
			switch data[j] {
			case '"':
				j = skipString(data, j) - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return len(data)
	}
	j := i
	for j < len(data) {
		switch data[j] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return j
		}
		j++
	}
	return j
}

// jsonBytes decodes a raw JSON value that must be a string; without
// escapes (always, for base64url) it returns a slice of val.
func jsonBytes(val []byte) ([]byte, bool) {
	if len(val) < 2 || val[0] != '"' {
		return nil, false
	}
	inner := val[1 : len(val)-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		return inner, true
	}
	s, ok := jsonString(val)
	return []byte(s), ok
}

// jsonString decodes a raw JSON value that must be a string.
func jsonString(val []byte) (string, bool) {
	if len(val) < 2 || val[0] != '"' {
		return "", false
	}
	inner := val[1 : len(val)-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		return string(inner), true
	}
	var s string
	if err := json.Unmarshal(val, &s); err != nil {
		return "", false
	}
	return s, true
}

// uniqueMembers reports whether no object in the valid JSON text data
// repeats a member name, comparing names as encoding/json matches them to
// struct fields (ignoring case), so that a request payload such as
// {"onlyReturnExisting":false,"OnlyReturnExisting":true} cannot mean one
// thing here and another to a log reader or a proxy (RFC 8259 §4: names
// SHOULD be unique; the behaviour of software that receives duplicates is
// unpredictable).
func uniqueMembers(data []byte) bool {
	type frame struct {
		names     map[string]struct{} // nil in an array
		expectKey bool
	}
	var stack []frame
	// valueDone records that the enclosing object's member value ended.
	valueDone := func() {
		if n := len(stack); n > 0 && stack[n-1].names != nil {
			stack[n-1].expectKey = true
		}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return len(stack) == 0
		}
		if err != nil {
			return false
		}
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{':
				stack = append(stack, frame{names: map[string]struct{}{}, expectKey: true})
			case '[':
				stack = append(stack, frame{})
			default:
				stack = stack[:len(stack)-1]
				valueDone()
			}
		case string:
			if n := len(stack); n > 0 && stack[n-1].names != nil && stack[n-1].expectKey {
				k := strings.ToUpper(strings.ToLower(t))
				if _, dup := stack[n-1].names[k]; dup {
					return false
				}
				stack[n-1].names[k] = struct{}{}
				stack[n-1].expectKey = false
				continue
			}
			valueDone()
		default:
			valueDone()
		}
	}
}
