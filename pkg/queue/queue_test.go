package queue

import (
	"regexp"
	"testing"
)

func TestTaskNameAndDecode(t *testing.T) {
	valid := regexp.MustCompile(`^[A-Za-z0-9_-]{1,500}$`) // Cloud Tasks task ID rules
	v := Task{Kind: KindValidate, AuthzID: "a_b-C", ChallengeID: "x1", Thumbprint: "tp"}
	f := Task{Kind: KindFinalize, OrderID: "o-1"}
	if v.Name() == f.Name() || !valid.MatchString(v.Name()) || !valid.MatchString(f.Name()) {
		t.Fatalf("names %q %q", v.Name(), f.Name())
	}
	if v.Name() != (Task{Kind: KindValidate, AuthzID: "a_b-C", ChallengeID: "x1"}).Name() {
		t.Fatal("the name must depend only on the work, not on optional hints")
	}
	r := Task{Kind: KindReconcile}
	if !valid.MatchString(r.Name()) || r.Name() == v.Name() || r.Name() == f.Name() {
		t.Fatalf("reconcile name %q", r.Name())
	}
	if got, err := Decode([]byte(`{"kind":"reconcile"}`)); err != nil || got != r {
		t.Fatalf("the body Cloud Scheduler posts: %+v %v", got, err)
	}
	for _, task := range []Task{v, f, r} {
		b, err := task.Encode()
		if err != nil {
			t.Fatal(err)
		}
		got, err := Decode(b)
		if err != nil || got != task {
			t.Fatalf("round trip: %+v %v", got, err)
		}
	}
	for name, body := range map[string]string{
		"not json":           "{",
		"unknown kind":       `{"kind":"explode"}`,
		"validate no authz":  `{"kind":"validate","challenge":"c"}`,
		"finalize no order":  `{"kind":"finalize"}`,
		"reconcile an order": `{"kind":"reconcile","order":"o-1"}`,
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := Decode([]byte(body)); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}
