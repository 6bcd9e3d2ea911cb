// dial: a Go program that listens on loopback, dials itself once and
// exchanges a few bytes: Go's runtime makes these socket calls itself.
package main

import (
	"fmt"
	"net"
	"os"
)

func main() {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
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
