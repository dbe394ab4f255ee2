package e2e

import (
	"io"
	"net"
	"sync"
)

// holdConns accepts on lis until it is closed and keeps every connection open
// until the client closes it (reading and discarding what comes), like a
// healthy endpoint: the tcp kind watches a connection for a grace after the
// handshake, and one closed at once by the far end reads reset. stop closes lis
// and the connections still open, and waits for every goroutine it started.
func holdConns(lis net.Listener) (stop func()) {
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		conns  = map[net.Conn]struct{}{}
		closed bool
	)
	wg.Go(func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			if closed {
				mu.Unlock()
				c.Close()
				return
			}
			conns[c] = struct{}{}
			mu.Unlock()
			wg.Go(func() {
				io.Copy(io.Discard, c)
				mu.Lock()
				delete(conns, c)
				mu.Unlock()
				c.Close()
			})
		}
	})
	return func() {
		lis.Close()
		mu.Lock()
		closed = true
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	}
}
