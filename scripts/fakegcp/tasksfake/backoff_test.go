package tasksfake

import (
	"testing"
	"time"

	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"google.golang.org/protobuf/types/known/durationpb"
)

func TestBackoff(t *testing.T) {
	rc := &cloudtaskspb.RetryConfig{
		MinBackoff: durationpb.New(10 * time.Second), MaxBackoff: durationpb.New(300 * time.Second), MaxDoublings: 3,
	}
	// The schedule the Cloud Tasks documentation gives for these settings.
	want := []int{10, 20, 40, 80, 160, 240, 300, 300}
	for i, w := range want {
		t.Run(time.Duration(w*int(time.Second)).String(), func(t *testing.T) {
			if got := backoff(rc, i+1); got != time.Duration(w)*time.Second {
				t.Errorf("backoff after attempt %d = %v, want %ds", i+1, got, w)
			}
		})
	}
}
