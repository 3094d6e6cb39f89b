package taskauth

import (
	"errors"
	"net/http"
)

// Error is a refused request: Code is the HTTP status to answer with
// (401 unauthenticated, 403 authenticated but not allowed, 503 keys
// unavailable) and Reason says why, for logs only.
type Error struct {
	Code   int
	Reason string
	Err    error
}

// Error implements error.
func (e *Error) Error() string {
	if e.Err != nil {
		return "taskauth: " + e.Reason + ": " + e.Err.Error()
	}
	return "taskauth: " + e.Reason
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// Status maps a Verify result to an HTTP status: 200 for nil, the Error's
// code, or 500 for any other error.
func Status(err error) int {
	if err == nil {
		return http.StatusOK
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return http.StatusInternalServerError
}

func unauthenticated(reason string, err error) error {
	return &Error{Code: http.StatusUnauthorized, Reason: reason, Err: err}
}

func forbidden(reason string) error {
	return &Error{Code: http.StatusForbidden, Reason: reason}
}

func unavailable(reason string, err error) error {
	return &Error{Code: http.StatusServiceUnavailable, Reason: reason, Err: err}
}

// Middleware lets only verified requests reach next. A refused request
// gets its status and, for 401, an RFC 6750 §3 WWW-Authenticate challenge;
// the reason is not sent to the caller.
func Middleware(v Verifier, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := v.Verify(r.Context(), r)
		if err == nil {
			next.ServeHTTP(w, r)
			return
		}
		code := Status(err)
		switch code {
		case http.StatusUnauthorized:
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		case http.StatusForbidden:
			w.Header().Set("WWW-Authenticate", `Bearer error="insufficient_scope"`)
		}
		http.Error(w, http.StatusText(code), code)
	})
}
