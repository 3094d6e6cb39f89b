package x509names

import (
	"encoding/asn1"
	"testing"
)

func TestParse(t *testing.T) {
	upn := []byte{0xa0, 0x0a, 0x06, 0x03, 0x2b, 0x06, 0x01, 0xa0, 0x03, 0x0c, 0x01, 0x61}
	der, err := asn1.Marshal([]asn1.RawValue{
		{Class: asn1.ClassContextSpecific, Tag: TagDNSName, Bytes: []byte("a.example")},
		{Class: asn1.ClassContextSpecific, Tag: TagIPAddress, Bytes: []byte{10, 0, 0, 1}},
		{FullBytes: upn},
	})
	if err != nil {
		t.Fatal(err)
	}
	names, err := Parse(der)
	if err != nil || len(names) != 3 {
		t.Fatalf("Parse: %d names, %v; want 3", len(names), err)
	}
	if !Is(names[0], TagDNSName) || string(names[0].Bytes) != "a.example" || !Is(names[1], TagIPAddress) ||
		Is(names[2], TagDNSName) || Kind(names[2]) != "otherName" {
		t.Errorf("names %+v", names)
	}
	if _, err := Parse(append(der, 0)); err == nil {
		t.Error("Parse accepted trailing bytes")
	}
	if _, err := Parse([]byte{0x04, 0x00}); err == nil {
		t.Error("Parse accepted an OCTET STRING")
	}
}
