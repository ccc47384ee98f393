/** The flow tracker's min-heap of deadlines. */
import t from 'tap'
import { DeadlineHeap } from '../../src/passive/deadline-heap.js'

t.test('the deadline heap returns entries in deadline order', async (t) => {
  const h = new DeadlineHeap<number>()
  const input = [5, 3, 9, 1, 7, 3, 8, 2, 6, 4, 0]
  for (const d of input) h.push(d, d)
  const out: number[] = []
  for (let e = h.pop(); e !== undefined; e = h.pop()) out.push(e.deadline)
  t.same(out, [...input].sort((a, b) => a - b))
  t.equal(h.size, 0)
})
