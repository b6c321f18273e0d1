package engine

/*
#include <stdlib.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

// zg_heap_in_use returns the bytes the C allocator has handed out and not
// taken back (glibc's mallinfo2: arenas in use plus mmapped chunks), or -1
// where that cannot be read.
static long long zg_heap_in_use(void) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
	struct mallinfo2 mi = mallinfo2();
	return (long long)(mi.uordblks + mi.hblkhd);
#else
	return -1;
#endif
}
*/
import "C"

// HeapInUse returns the bytes the C allocator has handed out and not
// taken back, less the idle send buffers the engine keeps for reuse
// (seam.go's pool, at most SendPoolBytes), and whether it could tell
// (glibc 2.33 or later). In a Go program that is, nearly all of it,
// libzmq's: its messages, pipes and buffers (the Go runtime does not use
// malloc). It walks the allocator's arenas, taking their locks: a few
// microseconds, not for a hot path.
func HeapInUse() (int64, bool) {
	n := int64(C.zg_heap_in_use())
	if n < 0 {
		return n, false
	}
	return n - sendPoolIdle(), true
}
