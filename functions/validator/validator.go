// Package validator builds the Cloud Tasks target function
// (FUNCTION_TARGET=Validate): it authenticates the caller's OIDC token,
// decodes the task and runs it through the registration authority (validate
// a challenge, retry a finalize). It answers 2xx once a result is recorded,
// a failed validation included, and 5xx only to ask Cloud Tasks to retry.
package validator

import (
	"io"
	"log/slog"
	"net/http"

	"github.com/acmera/acmera/pkg/logging"
	"github.com/acmera/acmera/pkg/queue"
	"github.com/acmera/acmera/pkg/taskauth"
)

// maxBody bounds a task body.
const maxBody = 16 << 10

// NewHandler returns the task endpoint: tasks reach h only after v accepts
// the caller.
func NewHandler(h queue.Handler, v taskauth.Verifier, log *slog.Logger) http.Handler {
	run := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
		if err != nil || len(body) > maxBody {
			http.Error(w, "task body unreadable or too large", http.StatusBadRequest)
			return
		}
		t, err := queue.Decode(body)
		if err != nil {
			// A malformed task will never succeed: 2xx stops redelivery.
			log.ErrorContext(r.Context(), "dropping malformed task", "error", err.Error(),
				"task", r.Header.Get("X-CloudTasks-TaskName"))
			w.WriteHeader(http.StatusNoContent)
			return
		}
		if err := h.HandleTask(r.Context(), t); err != nil {
			log.WarnContext(r.Context(), "task failed; asking for retry", "task", t.Name(), "error", err.Error(),
				"retry", r.Header.Get("X-CloudTasks-TaskRetryCount"))
			http.Error(w, "retry", http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	return logging.Requests(log, taskauth.Middleware(v, log, run))
}
