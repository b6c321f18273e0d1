package list

import "iter"

// Links is what an element of a List[T] embeds: its neighbours and the
// list that holds it. Its zero value is an element on no list.
type Links[T any] struct {
	prev, next *T
	list       *List[T]
}

// List is an intrusive doubly linked list of *T. Create it with New; it
// must not be copied.
type List[T any] struct {
	head, tail *T
	n          int
	links      func(*T) *Links[T]
}

// New returns an empty list whose elements keep their links where the
// function says (a field of T).
func New[T any](links func(*T) *Links[T]) *List[T] {
	return &List[T]{links: links}
}

// Len returns the number of elements.
func (l *List[T]) Len() int { return l.n }

// Front returns the first element, nil when the list is empty.
func (l *List[T]) Front() *T { return l.head }

// Back returns the last element, nil when the list is empty.
func (l *List[T]) Back() *T { return l.tail }

// Next returns the element after x, nil when x is the last or not on l.
func (l *List[T]) Next(x *T) *T {
	if lx := l.links(x); lx.list == l {
		return lx.next
	}
	return nil
}

// Prev returns the element before x, nil when x is the first or not on l.
func (l *List[T]) Prev(x *T) *T {
	if lx := l.links(x); lx.list == l {
		return lx.prev
	}
	return nil
}

// Contains reports whether x is on l.
func (l *List[T]) Contains(x *T) bool { return l.links(x).list == l }

// PushBack appends x. It panics when x is on a list already.
func (l *List[T]) PushBack(x *T) {
	lx := l.links(x)
	if lx.list != nil {
		panic("list: PushBack of an element that is on a list")
	}
	lx.list, lx.prev, lx.next = l, l.tail, nil
	if l.tail != nil {
		l.links(l.tail).next = x
	} else {
		l.head = x
	}
	l.tail = x
	l.n++
}

// PushFront prepends x. It panics when x is on a list already.
func (l *List[T]) PushFront(x *T) {
	lx := l.links(x)
	if lx.list != nil {
		panic("list: PushFront of an element that is on a list")
	}
	lx.list, lx.prev, lx.next = l, nil, l.head
	if l.head != nil {
		l.links(l.head).prev = x
	} else {
		l.tail = x
	}
	l.head = x
	l.n++
}

// Remove takes x off l and reports whether it was on l; an element that
// is not on l (on no list, or on another) is left alone.
func (l *List[T]) Remove(x *T) bool {
	lx := l.links(x)
	if lx.list != l {
		return false
	}
	if lx.prev != nil {
		l.links(lx.prev).next = lx.next
	} else {
		l.head = lx.next
	}
	if lx.next != nil {
		l.links(lx.next).prev = lx.prev
	} else {
		l.tail = lx.prev
	}
	*lx = Links[T]{}
	l.n--
	return true
}

// All yields the elements front to back. The element yielded last may be
// removed during the iteration; other changes to l end it unpredictably.
func (l *List[T]) All() iter.Seq[*T] {
	return func(yield func(*T) bool) {
		for x := l.head; x != nil; {
			next := l.links(x).next
			if !yield(x) {
				return
			}
			x = next
		}
	}
}
