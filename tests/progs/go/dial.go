// dial: a Go program that listens on loopback, dials itself once and
// exchanges a few bytes: Go's runtime makes these socket calls itself.
// "dial http": the same through net/http, whose client dials in a goroutine
// of its own transport.
package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
)

func main() {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if len(os.Args) > 1 && os.Args[1] == "http" {
		go http.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "hello")
		}))
		resp, err := http.Get("http://" + l.Addr().String() + "/")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Println("got", string(body))
		return
	}
	done := make(chan struct{})
	go func() {
		c, err := l.Accept()
		if err == nil {
			buf := make([]byte, 5)
			c.Read(buf)
			c.Write(buf)
			c.Close()
		}
		close(done)
	}()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	c.Write([]byte("hello"))
	buf := make([]byte, 5)
	c.Read(buf)
	c.Close()
	<-done
	fmt.Println("dialled", l.Addr().String())
}
