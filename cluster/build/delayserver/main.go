// delayserver: the load benchmark's ground truth. Every request is answered after a fixed
// delay, as gameday_chaos.targets does, but from Go's scheduler on all cores, so that the
// server is not what limits the generator measured against it (it serves several times the
// benchmark's rates under wrk). POST /orders answers 201 with an order id and status, as the
// shop does; GET /stats lists the wall time of every arrival, from which the benchmark fits
// the rate the generator really offered.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on")
	delay := flag.Duration("delay", 50*time.Millisecond, "fixed delay before each answer")
	flag.Parse()

	var (
		mu       sync.Mutex
		arrivals = make([]float64, 0, 1<<20)
		orders   atomic.Int64
	)
	mux := http.NewServeMux()
	mux.HandleFunc("/stats", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		body, err := json.Marshal(map[string]any{"count": len(arrivals), "arrivals": arrivals})
		mu.Unlock()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		at := float64(time.Now().UnixNano()) / 1e9
		mu.Lock()
		arrivals = append(arrivals, at)
		mu.Unlock()
		io.Copy(io.Discard, r.Body)
		time.Sleep(*delay)
		w.Header().Set("Content-Type", "application/json")
		if r.Method == http.MethodPost && r.URL.Path == "/orders" {
			w.WriteHeader(http.StatusCreated)
			fmt.Fprintf(w, `{"order_id":"ord-%08d","status":"accepted"}`, orders.Add(1))
			return
		}
		w.Write([]byte(`{"ok":true}`))
	})

	listener, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	json.NewEncoder(os.Stdout).Encode(map[string]any{
		"event": "listening", "port": listener.Addr().(*net.TCPAddr).Port,
	})
	log.Fatal(http.Serve(listener, mux))
}
