package bolt

import (
	"encoding/binary"
	"strings"
	"time"

	"github.com/acmera/acmera/pkg/acme"
)

// Index keys join their parts with a 0 byte, which IDs, profiles and
// identifiers never contain, so a prefix scan cannot cross into a longer
// neighbour.

// accountOrderPrefix is the accountOrders key prefix of an account.
func accountOrderPrefix(accountID string) []byte {
	return append([]byte(accountID), 0)
}

// accountOrderKey sorts an account's orders by creation time, then ID.
func accountOrderKey(accountID string, created time.Time, orderID string) []byte {
	k := make([]byte, 0, len(accountID)+1+12+len(orderID))
	k = append(k, accountID...)
	k = append(k, 0)
	k = appendSortableTime(k, created)
	return append(k, orderID...)
}

// appendSortableTime appends 12 bytes that sort like t: the Unix seconds
// with the sign bit flipped, then the nanoseconds, big-endian.
func appendSortableTime(k []byte, t time.Time) []byte {
	k = binary.BigEndian.AppendUint64(k, uint64(t.Unix())^(1<<63))
	return binary.BigEndian.AppendUint32(k, uint32(t.Nanosecond()))
}

// reuseName is the identifier an authorization can stand in for: a
// wildcard authorization only for the wildcard name, so that a plain name
// never reuses one (RFC 8555 §7.1.3: wildcard authorizations carry the
// base name and wildcard=true).
func reuseName(ident acme.Identifier, wildcard bool) string {
	if wildcard && !strings.HasPrefix(ident.Value, "*.") {
		return "*." + ident.Value
	}
	return ident.Value
}

// validAuthzPrefix is the validAuthzs key prefix for one account, profile
// and identifier, as named in an order.
func validAuthzPrefix(accountID, profile string, ident acme.Identifier) []byte {
	k := make([]byte, 0, len(accountID)+len(profile)+len(ident.Type)+len(ident.Value)+4+24)
	for _, p := range [...]string{accountID, profile, ident.Type, ident.Value} {
		k = append(k, p...)
		k = append(k, 0)
	}
	return k
}

func validAuthzKey(d *authzDoc) []byte {
	name := reuseName(acme.Identifier{Type: d.identType, Value: d.identValue}, d.wildcard)
	k := validAuthzPrefix(d.accountID, d.profile, acme.Identifier{Type: d.identType, Value: name})
	return append(k, d.id...)
}

// processing index keys.
func processingChallengeKey(authzID, challengeID string) []byte {
	return []byte("c\x00" + authzID + "\x00" + challengeID)
}

func processingOrderKey(orderID string) []byte { return []byte("o\x00" + orderID) }
