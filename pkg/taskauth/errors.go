package taskauth

import (
	"errors"
	"log/slog"
	"net/http"
	"strings"
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
// the reason is not sent to the caller but logged, at warning level, with
// the status and the task's name, so that a misconfigured queue (wrong
// audience or service account, keys unreachable) shows why its tasks are
// refused. The token itself is never logged.
func Middleware(v Verifier, log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := v.Verify(r.Context(), r)
		if err == nil {
			next.ServeHTTP(w, r)
			return
		}
		code := Status(err)
		log.WarnContext(r.Context(), "task call refused", "status", code, "reason", redact(err.Error(), r),
			"task", r.Header.Get("X-CloudTasks-TaskName"), "queue", r.Header.Get("X-CloudTasks-QueueName"))
		switch code {
		case http.StatusUnauthorized:
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		case http.StatusForbidden:
			w.Header().Set("WWW-Authenticate", `Bearer error="insufficient_scope"`)
		}
		http.Error(w, http.StatusText(code), code)
	})
}

// redact removes the request's credentials from msg, in case an error
// quotes them: the Authorization value, and each part of a compact JWS.
// No refusal reason quotes them today; this keeps it so.
func redact(msg string, r *http.Request) string {
	auth := strings.TrimSpace(r.Header.Get("Authorization"))
	if auth == "" {
		return msg
	}
	msg = strings.ReplaceAll(msg, auth, "[redacted]")
	_, tok, _ := strings.Cut(auth, " ")
	for _, part := range append(strings.Split(strings.TrimSpace(tok), "."), strings.TrimSpace(tok)) {
		if len(part) >= 8 {
			msg = strings.ReplaceAll(msg, part, "[redacted]")
		}
	}
	return msg
}
