package list

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

type item struct {
	v     int
	links Links[item]
}

func newList() *List[item] {
	return New(func(x *item) *Links[item] { return &x.links })
}

func values(l *List[item]) []int {
	var out []int
	for x := range l.All() {
		out = append(out, x.v)
	}
	// Walk back too: both directions agree.
	var back []int
	for x := l.Back(); x != nil; x = l.Prev(x) {
		back = append(back, x.v)
	}
	slices.Reverse(back)
	if !slices.Equal(out, back) {
		panic("forward and backward walks differ")
	}
	return out
}

func TestListBasics(t *testing.T) {
	l := newList()
	assert.Zero(t, l.Len())
	assert.Nil(t, l.Front())
	assert.Nil(t, l.Back())

	a, b, c := &item{v: 1}, &item{v: 2}, &item{v: 3}
	l.PushBack(b)
	l.PushBack(c)
	l.PushFront(a)
	assert.Equal(t, []int{1, 2, 3}, values(l))
	assert.Equal(t, 3, l.Len())
	assert.Same(t, a, l.Front())
	assert.Same(t, c, l.Back())
	assert.Same(t, b, l.Next(a))
	assert.Nil(t, l.Next(c))
	assert.True(t, l.Contains(b))

	assert.True(t, l.Remove(b))
	assert.False(t, l.Remove(b), "twice")
	assert.False(t, l.Contains(b))
	assert.Equal(t, []int{1, 3}, values(l))
	assert.True(t, l.Remove(a))
	assert.True(t, l.Remove(c))
	assert.Zero(t, l.Len())
	assert.Nil(t, l.Front())
	assert.Nil(t, l.Back())

	// Removed elements can go on again.
	l.PushBack(c)
	l.PushBack(a)
	assert.Equal(t, []int{3, 1}, values(l))
}

func TestListElementOnOneList(t *testing.T) {
	l1, l2 := newList(), newList()
	x := &item{v: 7}
	l1.PushBack(x)
	assert.False(t, l2.Remove(x), "not on l2")
	assert.False(t, l2.Contains(x))
	assert.Nil(t, l2.Next(x))
	assert.Panics(t, func() { l2.PushBack(x) })
	assert.Panics(t, func() { l1.PushFront(x) })
	assert.Equal(t, 1, l1.Len())
	assert.Zero(t, l2.Len())
}

func TestListAllRemovesWhileIterating(t *testing.T) {
	l := newList()
	for i := range 10 {
		l.PushBack(&item{v: i})
	}
	for x := range l.All() {
		if x.v%2 == 0 {
			l.Remove(x)
		}
	}
	assert.Equal(t, []int{1, 3, 5, 7, 9}, values(l))
	n := 0
	for range l.All() {
		n++
		break
	}
	assert.Equal(t, 1, n)
}

// TestListRandom checks the list against a slice model under random
// operations.
func TestListRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	l := newList()
	items := make([]*item, 50)
	for i := range items {
		items[i] = &item{v: i}
	}
	var model []int
	for range 20000 {
		x := items[r.IntN(len(items))]
		on := slices.Contains(model, x.v)
		require.Equal(t, on, l.Contains(x))
		switch {
		case on:
			require.True(t, l.Remove(x))
			model = slices.DeleteFunc(model, func(v int) bool { return v == x.v })
		case r.IntN(2) == 0:
			l.PushBack(x)
			model = append(model, x.v)
		default:
			l.PushFront(x)
			model = append([]int{x.v}, model...)
		}
		require.Equal(t, len(model), l.Len())
	}
	require.Equal(t, model, values(l))
}

func TestListPushAllocatesNothing(t *testing.T) {
	l := newList()
	x := &item{}
	allocs := testing.AllocsPerRun(100, func() {
		l.PushBack(x)
		l.Remove(x)
	})
	assert.Zero(t, allocs)
}
