package policy

import (
	"fmt"
	"slices"
	"strings"
)

// initCAA normalizes caaIdentities: lower case, no trailing dot, each a DNS
// name (RFC 8659 §4.2's issuer-domain-name is LDH labels), duplicates
// dropped.
func (pr *Profile) initCAA() error {
	var ids []string
	for i, s := range pr.CAAIdentities {
		s = LowerASCII(strings.TrimSuffix(strings.TrimSpace(s), "."))
		if p := checkDNSName(s); p != nil {
			return fmt.Errorf("caaIdentities[%d]: %s", i, p.Detail)
		}
		if !slices.Contains(ids, s) {
			ids = append(ids, s)
		}
	}
	pr.CAAIdentities = ids
	return nil
}

// ChecksCAA reports whether validations under the profile check CAA.
func (pr *Profile) ChecksCAA() bool { return len(pr.CAAIdentities) > 0 }
