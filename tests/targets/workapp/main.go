// workapp is a scrape target for profgate's end-to-end tests whose profiles change only
// when a test asks: it serves net/http/pprof on -listen and does deterministic work on
// demand, so a test can compare the deltas profgate sends with the program's own
// cumulative counts. Every allocation, mutex contention and blocking event is recorded
// (MemProfileRate 1, mutex fraction 1, block rate 1).
//
//	GET /alloc?n=N    N allocations of 256 bytes in allocBurst, then runtime.GC() so the
//	                  allocs profile includes them; answers "ok"
//	GET /contend?n=N  N mutex contention events whose unlocker is contendBurst
//	GET /block?n=N    N blocking channel receives in blockBurst
//
// Standard library only (built in GOPATH mode by the tests).
package main

import (
	"flag"
	"fmt"
	"log"
	"net/http"
	_ "net/http/pprof"
	"runtime"
	"strconv"
	"sync"
	"time"
)

func init() {
	// As early as possible, so every allocation is sampled and counts are exact.
	runtime.MemProfileRate = 1
}

// keep holds the last object allocBurst made, so the allocations escape to the heap.
var keep *[256]byte

// workMu serialises the bursts, so two concurrent requests cannot mix their events.
var workMu sync.Mutex

//go:noinline
func allocBurst(n int) {
	for i := 0; i < n; i++ {
		keep = new([256]byte)
	}
}

// contendBurst makes n contention events: it holds mu until a second goroutine is
// (almost certainly) asleep waiting for it, then unlocks, which the runtime records
// as one mutex profile event with contendBurst's stack.
//
//go:noinline
func contendBurst(n int) {
	var mu sync.Mutex
	start := make(chan struct{})
	done := make(chan struct{})
	go func() {
		for range start {
			mu.Lock()
			mu.Unlock()
			done <- struct{}{}
		}
	}()
	for i := 0; i < n; i++ {
		mu.Lock()
		start <- struct{}{}
		time.Sleep(2 * time.Millisecond)
		mu.Unlock()
		<-done
	}
	close(start)
}

// blockBurst makes n blocking channel receives: the sender waits before sending, so
// the receive in blockBurst blocks each time.
//
//go:noinline
func blockBurst(n int) {
	ch := make(chan int)
	go func() {
		for i := 0; i < n; i++ {
			time.Sleep(200 * time.Microsecond)
			ch <- i
		}
	}()
	for i := 0; i < n; i++ {
		<-ch
	}
}

func count(w http.ResponseWriter, r *http.Request) (int, bool) {
	n, err := strconv.Atoi(r.URL.Query().Get("n"))
	if err != nil || n < 0 || n > 10000000 {
		http.Error(w, "n must be a non-negative integer", http.StatusBadRequest)
		return 0, false
	}
	return n, true
}

func main() {
	listen := flag.String("listen", "127.0.0.1:6060", "address to serve pprof on")
	flag.Parse()
	runtime.SetMutexProfileFraction(1)
	runtime.SetBlockProfileRate(1)
	http.HandleFunc("/alloc", func(w http.ResponseWriter, r *http.Request) {
		if n, ok := count(w, r); ok {
			workMu.Lock()
			allocBurst(n)
			runtime.GC()
			workMu.Unlock()
			fmt.Fprint(w, "ok")
		}
	})
	http.HandleFunc("/contend", func(w http.ResponseWriter, r *http.Request) {
		if n, ok := count(w, r); ok {
			workMu.Lock()
			contendBurst(n)
			workMu.Unlock()
			fmt.Fprint(w, "ok")
		}
	})
	http.HandleFunc("/block", func(w http.ResponseWriter, r *http.Request) {
		if n, ok := count(w, r); ok {
			workMu.Lock()
			blockBurst(n)
			workMu.Unlock()
			fmt.Fprint(w, "ok")
		}
	})
	log.Fatal(http.ListenAndServe(*listen, nil))
}
