package faults

import (
	"errors"
	"io"
	"net"
	"sync"
	"time"
)

// proxy stands in for the webhook Service: it accepts the API server's
// connections on the port envtest registered and hands each to the next
// replica that accepts one, round robin. Like a Service it balances
// connections, not requests (the API server keeps its connection to the
// webhook open), and a replica whose port refuses is skipped; a frozen one
// still accepts (the kernel does), as behind a Service until its readiness
// probe fails.
type proxy struct {
	l        net.Listener
	backends []string

	mu    sync.Mutex
	next  int
	open  map[string]int // connections open per backend
	conns map[net.Conn]struct{}
}

func newProxy(addr string, backends []string) (*proxy, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	p := &proxy{l: l, backends: backends, open: map[string]int{}, conns: map[net.Conn]struct{}{}}
	go p.serve()
	return p, nil
}

func (p *proxy) serve() {
	for {
		c, err := p.l.Accept()
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			continue
		}
		go p.handle(c)
	}
}

func (p *proxy) handle(c net.Conn) {
	p.mu.Lock()
	backends := p.backends
	if len(backends) == 0 {
		// Nowhere to send it: the API server sees a refused call, as with
		// every replica down.
		p.mu.Unlock()
		c.Close()
		return
	}
	first := p.next % len(backends)
	p.next = first + 1
	p.conns[c] = struct{}{}
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.conns, c)
		p.mu.Unlock()
		c.Close()
	}()
	for i := range backends {
		addr := backends[(first+i)%len(backends)]
		b, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			continue
		}
		p.count(addr, 1)
		defer p.count(addr, -1)
		done := make(chan struct{}, 2)
		go func() { _, _ = io.Copy(b, c); done <- struct{}{} }()
		go func() { _, _ = io.Copy(c, b); done <- struct{}{} }()
		<-done
		b.Close()
		return
	}
}

func (p *proxy) count(addr string, d int) {
	p.mu.Lock()
	p.open[addr] += d
	p.mu.Unlock()
}

// busiest is the backend with the most open connections: the one the API
// server is calling.
func (p *proxy) busiest() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.backends) == 0 {
		return ""
	}
	best := p.backends[0]
	for _, b := range p.backends {
		if p.open[b] > p.open[best] {
			best = b
		}
	}
	return best
}

// route sends new connections to backends from now on and closes the open
// ones, so the API server's next calls dial again and reach them.
func (p *proxy) route(backends []string) {
	p.mu.Lock()
	p.backends = backends
	open := make([]net.Conn, 0, len(p.conns))
	for c := range p.conns {
		open = append(open, c)
	}
	p.mu.Unlock()
	for _, c := range open {
		c.Close()
	}
}

func (p *proxy) close() { _ = p.l.Close() }
