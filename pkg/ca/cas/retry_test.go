package cas

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/acmera/acmera/pkg/ca"
)

func TestClassify(t *testing.T) {
	const secret = "sa-1@acmera-prod.iam.gserviceaccount.com"
	tests := []struct {
		name       string
		err        error
		wantReject bool
		hidden     []string // must not reach the detail
		shown      string   // must reach the detail
	}{
		{"invalid argument keeps the reason, drops names",
			status.Error(codes.InvalidArgument, "key type not allowed by projects/p/locations/l/caPools/x"),
			true, []string{"projects/p"}, "key type not allowed"},
		{"failed precondition with an e-mail",
			status.Error(codes.FailedPrecondition, "caller "+secret+" may not use template"),
			true, []string{secret}, "may not use template"},
		{"unauthenticated is not a refusal", status.Error(codes.Unauthenticated, "no token"), false, nil, ""},
		{"transient passes through", fmt.Errorf("x: %w: %w", ca.ErrTransient, status.Error(codes.Unavailable, "down")), false, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := classify(fmt.Errorf("privateca.CreateCertificate: %w", tt.err))
			var rej *ca.RejectedError
			if errors.As(got, &rej) != tt.wantReject {
				t.Fatalf("classify = %v, rejected %v, want %v", got, !tt.wantReject, tt.wantReject)
			}
			if !tt.wantReject {
				return
			}
			for _, h := range tt.hidden {
				if strings.Contains(rej.Detail, h) {
					t.Errorf("Detail %q leaks %q", rej.Detail, h)
				}
			}
			if !strings.Contains(rej.Detail, tt.shown) {
				t.Errorf("Detail %q lacks %q", rej.Detail, tt.shown)
			}
			if status.Code(got) != status.Code(tt.err) {
				t.Errorf("classified error lost the status code: %v", got)
			}
		})
	}
}
