package core

// ChallengeCanStart reports whether a challenge POST may move ch to
// processing: the challenge and its authorization must both be pending
// (RFC 8555 §7.5.1).
func ChallengeCanStart(az *Authorization, ch *Challenge) bool {
	return az.Status == StatusPending && ch.Status == StatusPending
}

// ApplyValidation applies a validation result to az in memory: the
// challenge becomes valid or invalid, and so does the authorization
// (RFC 8555 §7.1.6: one failed challenge invalidates the authorization). It
// returns false, changing nothing, when the challenge is not processing or
// the authorization is not pending: the result arrived twice or too late.
func ApplyValidation(az *Authorization, r ValidationResult) bool {
	ch := az.Challenge(r.ChallengeID)
	if ch == nil || ch.Status != StatusProcessing || az.Status != StatusPending {
		return false
	}
	if r.Error == nil {
		ch.Status = StatusValid
		ch.Validated = r.ValidatedAt
		az.Status = StatusValid
		if !r.Expires.IsZero() {
			az.Expires = r.Expires
		}
		return true
	}
	ch.Status = StatusInvalid
	ch.Error = r.Error
	az.Status = StatusInvalid
	return true
}

// OrderStatusFromAuthzs is the status a pending order moves to given the
// current statuses of all its authorizations: invalid if any is not pending
// or valid, ready if all are valid, otherwise still pending.
func OrderStatusFromAuthzs(statuses []Status) Status {
	all := true
	for _, s := range statuses {
		switch s {
		case StatusValid:
		case StatusPending:
			all = false
		default:
			return StatusInvalid
		}
	}
	if all {
		return StatusReady
	}
	return StatusPending
}
