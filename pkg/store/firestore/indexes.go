package firestore

// IndexField is one field of a composite index.
type IndexField struct {
	Path  string `json:"path"`
	Order string `json:"order"` // "ASCENDING" or "DESCENDING"
}

// Index is a composite index a query of this package needs. Production
// Firestore rejects such a query with FailedPrecondition until the index
// exists; the emulator does not check, so the test TestIndexesDeclared keeps
// this list and terraform/firestore_indexes.json (which Terraform creates)
// in step. Collection is the name without Config.CollectionPrefix.
type Index struct {
	Collection string       `json:"collection"`
	Fields     []IndexField `json:"fields"`
}

// CompositeIndexes returns the composite indexes the queries of this package
// need. Single-field equality queries (GetAccountByKey on keyThumbprint,
// GetCertificateBySerial on serial) use Firestore's automatic indexes.
func CompositeIndexes() []Index {
	asc := func(p string) IndexField { return IndexField{Path: p, Order: "ASCENDING"} }
	desc := func(p string) IndexField { return IndexField{Path: p, Order: "DESCENDING"} }
	return []Index{
		// ListOrders: accountId == X order by createdAt desc.
		{Collection: collOrders, Fields: []IndexField{asc(fAccountID), desc(fCreatedAt)}},
		// FindValidAuthorizations: accountId == X, profile == P,
		// status == valid, identKey in [...], expires > T.
		{Collection: collAuthorizations, Fields: []IndexField{
			asc(fAccountID), asc(fProfile), asc(fStatus), asc(fIdentKey), asc(fExpires),
		}},
		// CountPendingAuthorizations (a count aggregation) and
		// NextPendingExpiry: accountId == X, status == pending,
		// expires > T (order by expires).
		{Collection: collAuthorizations, Fields: []IndexField{asc(fAccountID), asc(fStatus), asc(fExpires)}},
		// Spend and Counts of a window of several shards: a sum of n over
		// key == K, windowStart == W. Equality filters alone would merge
		// the single-field indexes, but a sum is computed from index
		// entries, so the summed field must be in the index the filters
		// use.
		{Collection: collRateLimits, Fields: []IndexField{asc(fCounterKey), asc(fWindowStart), asc(fCounterValue)}},
		// ListCertificates (the operator's): accountId == X, or
		// status == revoked, order by createdAt desc.
		{Collection: collCertificates, Fields: []IndexField{asc(fAccountID), desc(fCreatedAt)}},
		{Collection: collCertificates, Fields: []IndexField{asc(fStatus), desc(fCreatedAt)}},
		// ListInvalidOrders: status == invalid order by updatedAt desc.
		{Collection: collOrders, Fields: []IndexField{asc(fStatus), desc(fUpdatedAt)}},
	}
}
