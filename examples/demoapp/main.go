// demoapp is the Go service the README's demo scrapes: a tiny "checkout" server that burns
// some CPU, allocates and contends on a lock in the background, and serves
// net/http/pprof on -listen so profgate has every Go profile type to collect.
// Standard library only; build with `GO111MODULE=off go build` (examples/demo.sh does).
package main

import (
	"crypto/sha256"
	"flag"
	"log"
	"net/http"
	_ "net/http/pprof"
	"runtime"
	"sync"
	"time"
)

var (
	mu     sync.Mutex
	orders [][]byte
)

// priceOrder is the CPU-heavy part: hashing stands in for real work.
func priceOrder(n int) [32]byte {
	var sum [32]byte
	buf := make([]byte, 1024)
	for i := 0; i < n; i++ {
		buf[i%len(buf)] = byte(i)
		sum = sha256.Sum256(buf)
	}
	return sum
}

// storeOrder allocates and takes a shared lock, so memory, mutex and block have samples.
func storeOrder(sum [32]byte) {
	rec := make([]byte, 8192)
	copy(rec, sum[:])
	mu.Lock()
	orders = append(orders, rec)
	if len(orders) > 512 {
		orders = orders[:0]
	}
	time.Sleep(200 * time.Microsecond)
	mu.Unlock()
}

func worker() {
	for {
		storeOrder(priceOrder(2000))
		done := make(chan struct{})
		go func() { time.Sleep(time.Millisecond); close(done) }()
		<-done
	}
}

func main() {
	listen := flag.String("listen", "127.0.0.1:6060", "address to serve pprof on")
	flag.Parse()
	runtime.SetMutexProfileFraction(5)
	runtime.SetBlockProfileRate(1000000) // one sample per ms blocked
	for i := 0; i < 3; i++ {
		go worker()
	}
	log.Printf("demoapp: pprof on http://%s/debug/pprof/", *listen)
	log.Fatal(http.ListenAndServe(*listen, nil))
}
