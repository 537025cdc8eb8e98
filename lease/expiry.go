package lease

import "container/heap"

// expiryQueue is a primary lessor's deadline heap: every lease, ordered by when Expired should
// next report it (entry.due), ties broken by ID so the order is deterministic. Each entry
// records its position (entry.index), so Renew and Revoke fix or remove it in O(log n)
// without searching.
//
// Invariant (while the lessor is primary): every lease is in the queue exactly once, and
// entry.index is its position; entry.due >= entry.deadline. While the lessor is not primary the
// queue is empty and every entry.index is -1.
//
// Example: leases 7 (due 10:00:05) and 3 (due 10:00:09). At 10:00:06 Expired pops 7 and, since
// its revoke may still fail, pushes it back due at 10:00:06 + retry; lease 3 stays untouched.
// If the revoke applies first, Revoke removes 7 from wherever it sits.
type expiryQueue []*entry

var _ heap.Interface = (*expiryQueue)(nil)

func (q expiryQueue) Len() int { return len(q) }

func (q expiryQueue) Less(i, j int) bool {
	if c := q[i].due.Compare(q[j].due); c != 0 {
		return c < 0
	}
	return q[i].id < q[j].id
}

func (q expiryQueue) Swap(i, j int) {
	q[i], q[j] = q[j], q[i]
	q[i].index = i
	q[j].index = j
}

func (q *expiryQueue) Push(x any) {
	e := x.(*entry)
	e.index = len(*q)
	*q = append(*q, e)
}

func (q *expiryQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*q = old[:len(old)-1]
	e.index = -1
	return e
}
