/**
 * A min-heap of flows by deadline, for the flow tracker: flows wait with thresholds of their own
 * (learned per target), so creation order no longer is deadline order. Removal is lazy: an
 * answered flow's entry stays until its deadline comes up and is then skipped by the caller (it
 * checks the flow is still waiting), which keeps an answer O(1) and an insert O(log n).
 */

export interface HeapEntry<T> {
  deadline: number
  item: T
}

export class DeadlineHeap<T> {
  private readonly a: Array<HeapEntry<T>> = []

  get size(): number {
    return this.a.length
  }

  push(deadline: number, item: T): void {
    const a = this.a
    a.push({ deadline, item })
    let i = a.length - 1
    while (i > 0) {
      const p = (i - 1) >> 1
      if (a[p]!.deadline <= a[i]!.deadline) break
      ;[a[p], a[i]] = [a[i]!, a[p]!]
      i = p
    }
  }

  /** The entry with the earliest deadline, or undefined when empty. */
  peek(): HeapEntry<T> | undefined {
    return this.a[0]
  }

  /** Removes and returns the entry with the earliest deadline. */
  pop(): HeapEntry<T> | undefined {
    const a = this.a
    const top = a[0]
    const last = a.pop()
    if (a.length === 0 || last === undefined) return top
    a[0] = last
    let i = 0
    for (;;) {
      const l = 2 * i + 1
      const r = l + 1
      let m = i
      if (l < a.length && a[l]!.deadline < a[m]!.deadline) m = l
      if (r < a.length && a[r]!.deadline < a[m]!.deadline) m = r
      if (m === i) break
      ;[a[m], a[i]] = [a[i]!, a[m]!]
      i = m
    }
    return top
  }

  clear(): void {
    this.a.length = 0
  }
}
