package firestore

import (
	"context"
	"errors"
	"io"
	"sync/atomic"

	"cloud.google.com/go/firestore/apiv1/firestorepb"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
)

// OpCounts are Firestore document operations as billed: Reads counts
// documents returned by lookups (found or missing) and queries (at least
// one per query, the minimum charge of an empty result), and for an
// aggregation one per 1,000 index entries matched (at least one); Writes
// counts the writes in each Commit or BatchWrite, successful or not (a
// failed commit is not billed, so this may overcount under contention);
// RPCs counts calls.
//
// The client sees how many entries an aggregation matched only through a
// count in it: one with a count is billed by the count, one with only sums
// or averages at the minimum of one read, exact up to 1,000 entries matched
// (this package's sums match at most store.MaxShards).
type OpCounts struct {
	Reads, Writes, RPCs int64
}

// Sub returns c - o, the operations between two snapshots.
func (c OpCounts) Sub(o OpCounts) OpCounts {
	return OpCounts{Reads: c.Reads - o.Reads, Writes: c.Writes - o.Writes, RPCs: c.RPCs - o.RPCs}
}

// OpCounter counts Firestore document operations on a gRPC connection, so
// the cost of a flow (an ACME issuance) can be measured and kept within
// budget. Install it with Config.DialOptions = c.DialOptions() (works for
// both the emulator and production), or, for a Firestore client built
// elsewhere without the emulator, with c.ClientOptions().
type OpCounter struct {
	reads, writes, rpcs atomic.Int64
}

// NewOpCounter returns a counter at zero.
func NewOpCounter() *OpCounter { return new(OpCounter) }

// Snapshot returns the operations counted so far.
func (c *OpCounter) Snapshot() OpCounts {
	return OpCounts{Reads: c.reads.Load(), Writes: c.writes.Load(), RPCs: c.rpcs.Load()}
}

// DialOptions returns the gRPC dial options installing the counter's
// interceptors.
func (c *OpCounter) DialOptions() []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithChainUnaryInterceptor(c.unary),
		grpc.WithChainStreamInterceptor(c.stream),
	}
}

// ClientOptions returns DialOptions as Firestore client options. The
// Firestore library ignores them when FIRESTORE_EMULATOR_HOST is set (it
// dials the emulator itself); use Config.EmulatorHost and DialOptions there.
func (c *OpCounter) ClientOptions() []option.ClientOption {
	var out []option.ClientOption
	for _, d := range c.DialOptions() {
		out = append(out, option.WithGRPCDialOption(d))
	}
	return out
}

func (c *OpCounter) unary(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	c.rpcs.Add(1)
	switch r := req.(type) {
	case *firestorepb.CommitRequest:
		c.writes.Add(int64(len(r.GetWrites())))
	case *firestorepb.BatchWriteRequest:
		c.writes.Add(int64(len(r.GetWrites())))
	}
	err := invoker(ctx, method, req, reply, cc, opts...)
	if _, ok := reply.(*firestorepb.Document); ok && err == nil {
		c.reads.Add(1) // GetDocument
	}
	return err
}

func (c *OpCounter) stream(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	c.rpcs.Add(1)
	cs, err := streamer(ctx, desc, cc, method, opts...)
	if err != nil {
		return nil, err
	}
	return &countingStream{ClientStream: cs, c: c}, nil
}

// countingStream counts the documents a BatchGetDocuments or RunQuery
// stream returns; a query that ends having returned none counts one read.
// A RunAggregationQuery counts the results of its count aggregations, one
// read per 1,000 counted, and at least one read (see OpCounts).
type countingStream struct {
	grpc.ClientStream
	c       *OpCounter
	query   bool            // a RunQuery response was seen
	counts  map[string]bool // aliases of the count aggregations sent
	docs    int64
	settled bool // the empty-query minimum was decided
}

func (s *countingStream) SendMsg(m any) error {
	switch r := m.(type) {
	case *firestorepb.RunQueryRequest:
		s.query = true
	case *firestorepb.RunAggregationQueryRequest:
		s.query = true
		for _, a := range r.GetStructuredAggregationQuery().GetAggregations() {
			if a.GetCount() != nil {
				if s.counts == nil {
					s.counts = make(map[string]bool)
				}
				s.counts[a.GetAlias()] = true
			}
		}
	}
	return s.ClientStream.SendMsg(m)
}

func (s *countingStream) RecvMsg(m any) error {
	err := s.ClientStream.RecvMsg(m)
	if errors.Is(err, io.EOF) {
		s.settle()
	}
	if err != nil {
		return err
	}
	switch r := m.(type) {
	case *firestorepb.BatchGetDocumentsResponse:
		if r.GetFound() != nil || r.GetMissing() != "" {
			s.c.reads.Add(1)
		}
	case *firestorepb.RunAggregationQueryResponse:
		s.query = true
		for alias, v := range r.GetResult().GetAggregateFields() {
			if !s.counts[alias] {
				continue // a sum or average: its value is no entry count
			}
			if n := v.GetIntegerValue(); n > 0 {
				batches := (n + 999) / 1000
				s.docs += batches
				s.c.reads.Add(batches)
			}
		}
	case *firestorepb.RunQueryResponse:
		s.query = true
		if r.GetDocument() != nil {
			s.docs++
			s.c.reads.Add(1)
		}
		if r.GetDone() {
			s.settle()
		}
	}
	return nil
}

func (s *countingStream) settle() {
	if s.query && !s.settled && s.docs == 0 {
		s.c.reads.Add(1)
	}
	s.settled = true
}
