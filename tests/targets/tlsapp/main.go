// tlsapp - a Go HTTPS server for profgate's HTTP client tests: net/http/pprof plus a
// Pyroscope push endpoint that accepts and forgets every POST, over Go's TLS server
// (HTTP/2 through ALPN, as Go serves it by default). It records the method, request URI
// and protocol ("HTTP/1.1", "HTTP/2.0") of every request; GET /protos returns them as a
// JSON list of "METHOD URI PROTO" strings.
package main

import (
	"encoding/json"
	"flag"
	"io"
	"log"
	"net/http"
	_ "net/http/pprof"
	"sync"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to serve on")
	cert := flag.String("cert", "", "server certificate (PEM)")
	key := flag.String("key", "", "server key (PEM)")
	flag.Parse()
	var mu sync.Mutex
	seen := []string{}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/protos" {
			mu.Lock()
			defer mu.Unlock()
			json.NewEncoder(w).Encode(seen)
			return
		}
		mu.Lock()
		seen = append(seen, r.Method+" "+r.URL.RequestURI()+" "+r.Proto)
		mu.Unlock()
		if r.Method == http.MethodPost {
			io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/proto")
			w.WriteHeader(http.StatusOK)
			return
		}
		http.DefaultServeMux.ServeHTTP(w, r)
	})
	log.Fatal(http.ListenAndServeTLS(*listen, *cert, *key, h))
}
