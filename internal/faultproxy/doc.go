// Package faultproxy is a small in-process TCP proxy that injects network
// faults between a client and a server on loopback: latency, a bandwidth
// limit, a silent blackhole and connection resets. The soak test puts one
// in front of every server process.
//
// Why not toxiproxy: github.com/Shopify/toxiproxy/v2 builds with Go 1.26,
// but importing it in-process pulls about fifteen modules into this
// library's go.mod (prometheus client, protobuf, zerolog, gorilla/mux,
// ...), for four faults that fit in this file. Its blackhole ("timeout"
// toxic) drops bytes and later lets the stream continue, which desyncs a
// ZMTP stream into garbage frames; this proxy resets a connection that lost
// bytes when the blackhole lifts, as a real network's TCP would end it. And
// every goroutine here has an owner that Close waits for, so goleak-checked
// tests stay clean.
//
// A Proxy is safe for concurrent use.
package faultproxy
