// Package list is the one intrusive doubly linked list of zmqguard: the
// reply cache's oldest-first order and the server's deadline order.
//
// Intrusive: the owner type embeds a Links value and tells New how to
// reach it, so putting an element on a list allocates nothing, and an
// element knows which list holds it, so Remove is O(1) and safe to call
// twice.
//
//	type call struct {
//		deadline time.Time
//		links    list.Links[call]
//	}
//	calls := list.New(func(c *call) *list.Links[call] { return &c.links })
//	calls.PushBack(c)
//	for c := calls.Front(); c != nil; c = calls.Next(c) { ... }
//	calls.Remove(c)
//
// # Concurrency
//
// A List is not safe for concurrent use: its owner serialises every call
// (in zmqguard, one goroutine owns each list). An element is on at most
// one list at a time.
package list
