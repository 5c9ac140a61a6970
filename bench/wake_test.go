package bench

import (
	"io"
	"net"
	"testing"
	"time"
)

// BenchmarkLoopbackRoundTrip prices what a message costs a Go process on
// this machine when the process was busy and when it was idle: one 256-byte
// write over loopback TCP to a goroutine that echoes it, and the read of the
// echo, in process CPU per round trip (cpu_us/op).
//
//	busy    round trips back to back: the threads never sleep
//	idle    a 5 ms pause before each round trip, as at 200 tx/s, where every
//	        message finds its receiver asleep in the kernel
//	pause   the 5 ms pause alone, to subtract from idle
//
// Each figure is the process's whole CPU over the loop, pauses included.
// idle − pause is what a round trip costs when it finds the process asleep,
// and idle − pause − busy the extra CPU that waking costs: the kernel's sleep
// and wake-up and the Go scheduler parking and unparking its threads. At
// low load every message a transaction sends pays it: part of why node CPU
// per transaction at 200 tx/s is several times the saturated figure
// (docs/benchmarks.md, "Why CPU per transaction at low load ...").
func BenchmarkLoopbackRoundTrip(b *testing.B) {
	const gap = 5 * time.Millisecond
	b.Run("busy", func(b *testing.B) { roundTrips(b, 0, true) })
	b.Run("idle", func(b *testing.B) { roundTrips(b, gap, true) })
	b.Run("pause", func(b *testing.B) { roundTrips(b, gap, false) })
}

func roundTrips(b *testing.B, gap time.Duration, send bool) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	echoed := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			echoed <- err
			return
		}
		defer c.Close()
		_, err = io.Copy(c, c)
		echoed <- err
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	msg := make([]byte, 256)
	reply := make([]byte, len(msg))
	start := processCPU()
	for b.Loop() {
		if gap > 0 {
			time.Sleep(gap)
		}
		if send {
			if _, err := c.Write(msg); err != nil {
				b.Fatal(err)
			}
			if _, err := io.ReadFull(c, reply); err != nil {
				b.Fatal(err)
			}
		}
	}
	cpu := processCPU() - start
	c.Close()
	if err := <-echoed; err != nil {
		b.Fatalf("echo: %v", err)
	}
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu_us/op")
}
