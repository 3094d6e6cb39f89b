// Package storetest is the conformance suite every store.Store implementation
// must pass: store/bolt always, store/firestore when its emulator is up
// (DESIGN.md, STYLE.md convention 14). It checks each method and transition
// of the contract in pkg/store/store.go, its failure paths (ErrNotFound for
// unknown IDs, ErrConflict for every wrong starting status) and the races the
// contract promises to settle (one winner, the rest ErrConflict).
//
// Time: the suite passes every time explicitly, from a fixed base in the
// future, so no result depends on the wall clock. The contract guarantees
// times to the millisecond: the suite compares times truncated to
// milliseconds with time.Time.Equal, in any location.
//
// Sharing: every subtest makes its objects with fresh IDs from core.NewID
// and checks store-wide lists (store.Recoverer) by containment, so the suite
// also runs against one shared store, such as a remote emulator; nothing
// assumes in-memory speed.
package storetest

import (
	"testing"

	"github.com/acmera/acmera/pkg/store"
)

// Run runs the conformance suite. It calls open once per subtest, with that
// subtest's t, for a fresh empty store (or a shared one, see the package
// comment), and registers t.Cleanup to Close it; cleanups open registers
// itself run after that Close. A shared store must therefore be wrapped so
// that Close does nothing.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"Account/RoundTrip", testAccountRoundTrip},
		{"Account/NotFound", testAccountNotFound},
		{"Account/DuplicateKey", testAccountDuplicateKey},
		{"Account/UpdateContact", testAccountUpdateContact},
		{"Account/Deactivate", testAccountDeactivate},
		{"Account/ChangeKey", testAccountChangeKey},
		{"Account/ChangeKeyConflicts", testAccountChangeKeyConflicts},
		{"Order/RoundTrip", testOrderRoundTrip},
		{"Order/NotFound", testOrderNotFound},
		{"Order/List", testListOrders},
		{"Order/ReuseAuthorization", testReuseAuthorization},
		{"Authz/FindValid", testFindValidAuthorizations},
		{"Authz/MarkProcessing", testMarkChallengeProcessing},
		{"Authz/RecordValid", testRecordValidationValid},
		{"Authz/RecordValidExtendsExpiry", testRecordValidationExtendsExpiry},
		{"Authz/RecordInvalid", testRecordValidationInvalid},
		{"Authz/RecordNotProcessing", testRecordValidationNotProcessing},
		{"Authz/Deactivate", testDeactivateAuthorization},
		{"Finalize/Begin", testBeginFinalize},
		{"Finalize/BeginRefusesStaleAuthz", testBeginFinalizeStaleAuthz},
		{"Finalize/Complete", testCompleteFinalize},
		{"Finalize/Fail", testFailFinalize},
		{"Finalize/AtOnce", testFinalizeAtOnce},
		{"Certificate/Revoke", testRevokeCertificate},
		{"Certificate/Replaces", testReplaces},
		{"Finalize/RecordCARequest", testRecordCARequest},
		{"Nonce/Redeem", testRedeemNonce},
		{"RateLimit/Spend", testRateLimitSpend},
		{"RateLimit/Counts", testRateLimitCounts},
		{"RateLimit/PendingAuthorizations", testPendingAuthorizations},
		{"Race/CreateAccount", testRaceCreateAccount},
		{"Race/BeginFinalize", testRaceBeginFinalize},
		{"Race/MarkChallengeProcessing", testRaceMarkChallengeProcessing},
		{"Race/RecordValidation", testRaceRecordValidation},
		{"Race/RedeemNonce", testRaceRedeemNonce},
		{"Race/RateLimitSpend", testRaceRateLimitSpend},
		{"Recoverer", testRecoverer},
		{"EABKey/RoundTrip", testEABKeyRoundTrip},
		{"EABKey/Revoke", testEABKeyRevoke},
		{"EABKey/Bind", testEABKeyBind},
		{"EABKey/BindRefused", testEABKeyBindRefused},
		{"Race/BindSingleUseEABKey", testRaceBindEABKey},
		{"Lister/Certificates", testListCertificates},
		{"Lister/Accounts", testListAccounts},
		{"Lister/InvalidOrders", testListInvalidOrders},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			tc.fn(t, s)
		})
	}
}
