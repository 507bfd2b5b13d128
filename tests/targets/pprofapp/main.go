// pprofapp is a real scrape target for profgate's tests: a Go program that serves
// net/http/pprof on the address given by -listen and keeps allocating, contending on a
// mutex and blocking on channels so every profile type has samples. Standard library only.
package main

import (
	"flag"
	"log"
	"net/http"
	_ "net/http/pprof"
	"runtime"
	"sync"
	"time"
)

var sink [][]byte

func work(mu *sync.Mutex) {
	for {
		mu.Lock()
		b := make([]byte, 4096)
		sink = append(sink, b)
		if len(sink) > 256 {
			sink = sink[:0]
		}
		time.Sleep(time.Millisecond)
		mu.Unlock()
		ch := make(chan int)
		go func() { time.Sleep(time.Millisecond); ch <- 1 }()
		<-ch
	}
}

func main() {
	listen := flag.String("listen", "127.0.0.1:6060", "address to serve pprof on")
	flag.Parse()
	runtime.SetMutexProfileFraction(1)
	runtime.SetBlockProfileRate(1)
	var mu sync.Mutex
	for i := 0; i < 4; i++ {
		go work(&mu)
	}
	log.Fatal(http.ListenAndServe(*listen, nil))
}
