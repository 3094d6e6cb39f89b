package testdns

import (
	"encoding/json"
	"net/http"
)

// Handler is the HTTP control API, meant for loopback only:
//
//	POST   /txt?name=N&value=V     add V to the TXT values of N
//	DELETE /txt?name=N[&value=V]   remove V (or every value) from N
//	GET    /txt?name=N             the TXT values of N as a JSON array
//	POST   /cname?name=N&target=T  make N an alias of T
//	DELETE /cname?name=N           remove the alias
//	GET    /healthz                200 "ok"
//
// Parameters may come in the query string or a form body.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("POST /txt", func(w http.ResponseWriter, r *http.Request) {
		name, value := r.FormValue("name"), r.FormValue("value")
		if name == "" || value == "" {
			http.Error(w, "name and value are required", http.StatusBadRequest)
			return
		}
		s.AddTXT(name, value)
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("DELETE /txt", func(w http.ResponseWriter, r *http.Request) {
		name, value := r.FormValue("name"), r.FormValue("value")
		if name == "" {
			http.Error(w, "name is required", http.StatusBadRequest)
			return
		}
		if value == "" {
			s.ClearTXT(name)
		} else {
			s.RemoveTXT(name, value)
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /txt", func(w http.ResponseWriter, r *http.Request) {
		name := r.FormValue("name")
		if name == "" {
			http.Error(w, "name is required", http.StatusBadRequest)
			return
		}
		vals := s.TXT(name)
		if vals == nil {
			vals = []string{}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(vals)
	})
	mux.HandleFunc("POST /cname", func(w http.ResponseWriter, r *http.Request) {
		name, target := r.FormValue("name"), r.FormValue("target")
		if name == "" || target == "" {
			http.Error(w, "name and target are required", http.StatusBadRequest)
			return
		}
		s.SetCNAME(name, target)
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("DELETE /cname", func(w http.ResponseWriter, r *http.Request) {
		name := r.FormValue("name")
		if name == "" {
			http.Error(w, "name is required", http.StatusBadRequest)
			return
		}
		s.SetCNAME(name, "")
		w.WriteHeader(http.StatusNoContent)
	})
	return mux
}
