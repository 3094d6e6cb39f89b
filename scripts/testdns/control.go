package testdns

import (
	"encoding/json"
	"net/http"
	"strconv"
)

// Handler is the HTTP control API, meant for loopback only:
//
//	POST   /txt?name=N&value=V     add V to the TXT values of N
//	DELETE /txt?name=N[&value=V]   remove V (or every value) from N
//	GET    /txt?name=N             the TXT values of N as a JSON array
//	POST   /cname?name=N&target=T  make N an alias of T
//	DELETE /cname?name=N           remove the alias
//	POST   /caa?name=N&tag=T&value=V[&flag=F]  add a CAA record (flag 0-255, default 0; value may be empty)
//	DELETE /caa?name=N             remove every CAA record of N
//	GET    /caa?name=N             the CAA records of N as a JSON array of {flag, tag, value}
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
	s.caaHandlers(mux)
	return mux
}

// caaHandlers adds the /caa verbs to mux.
func (s *Server) caaHandlers(mux *http.ServeMux) {
	mux.HandleFunc("POST /caa", func(w http.ResponseWriter, r *http.Request) {
		name, tag := r.FormValue("name"), r.FormValue("tag") // FormValue parses r.Form
		if name == "" || tag == "" || !r.Form.Has("value") {
			http.Error(w, "name, tag and value are required", http.StatusBadRequest)
			return
		}
		rec := CAA{Tag: tag, Value: r.FormValue("value")}
		if f := r.FormValue("flag"); f != "" {
			n, err := strconv.ParseUint(f, 10, 8)
			if err != nil {
				http.Error(w, "flag must be 0-255", http.StatusBadRequest)
				return
			}
			rec.Flag = uint8(n)
		}
		s.AddCAA(name, rec)
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("DELETE /caa", func(w http.ResponseWriter, r *http.Request) {
		name := r.FormValue("name")
		if name == "" {
			http.Error(w, "name is required", http.StatusBadRequest)
			return
		}
		s.ClearCAA(name)
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /caa", func(w http.ResponseWriter, r *http.Request) {
		name := r.FormValue("name")
		if name == "" {
			http.Error(w, "name is required", http.StatusBadRequest)
			return
		}
		recs := s.CAARecords(name)
		if recs == nil {
			recs = []CAA{}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(recs)
	})
}
