// RulesetMonitor with a fake `nft monitor` stream: what fwdd's own writes hide, and what they never hide.
import t from 'tap'
import { RulesetMonitor, iptablesEntryGone, iptablesInEntries, nftEntryGone, nftInEntries, watchTableDeletion } from '../../src/dataplane/monitor.js'
import type { Runner } from '../../src/process/runner.js'

/** A fake `nft monitor`; `own` lists the pids the runner started (its ownsPid). */
function fakeStream(own: number[] = []): { runner: Runner; emit(line: string): void } {
  let onLine: ((l: string) => void) | null = null
  return {
    runner: {
      run: async () => { throw new Error('unexpected run') },
      ownsPid: (pid) => own.includes(pid),
      stream: (file, args, line) => {
        // Plain `nft monitor`: with an object filter (`ruleset`) nft prints no generation lines.
        if (file !== 'nft' || args.join(' ') !== 'monitor') throw new Error(`unexpected stream ${file} ${args.join(' ')}`)
        onLine = line
        return { stop: () => { onLine = null } }
      },
    },
    emit: (l) => onLine?.(l),
  }
}

t.test('events of fwdd\'s own write are ignored; an entry point removed meanwhile is reported', async (t) => {
  const f = fakeStream()
  const m = new RulesetMonitor(f.runner, (l) => / ip (nat|filter) /.test(` ${l} `), iptablesEntryGone)
  let changes = 0
  const stop = m.watch(() => changes++)
  await m.own(async () => {
    f.emit('add rule ip nat FWD-L-web counter jump FWD-X')
    f.emit('delete rule ip nat FWD-L-web handle 7')
  })
  t.equal(changes, 0, 'fwdd\'s own rule changes, during the write')
  f.emit('insert rule ip nat PREROUTING counter jump FWD-PREROUTING')
  t.equal(changes, 0, 'and its echo in the grace after')
  f.emit('delete rule ip nat PREROUTING handle 15')
  t.equal(changes, 1, 'a jump deleted from PREROUTING right after fwdd\'s write is reported (iptables-nft replaying a racing flush)')
  await m.own(async () => { f.emit('flush chain ip filter FORWARD') })
  t.equal(changes, 2, 'and a flush of a built-in chain even during the write')
  await new Promise((r) => setTimeout(r, 200))
  f.emit('add rule ip nat FWD-L-web counter')
  t.equal(changes, 3, 'after the grace every relevant event is reported')
  f.emit('add rule ip raw OTHER counter')
  t.equal(changes, 3, 'an irrelevant one never')
  stop()
})

t.test('the echo of a large write is fwdd\'s own for as long as it keeps streaming', async (t) => {
  const f = fakeStream()
  const m = new RulesetMonitor(f.runner, (l) => / ip (nat|filter) /.test(` ${l} `), iptablesEntryGone)
  let changes = 0
  const stop = m.watch(() => changes++)
  await m.own(async () => {})
  // 400 ms of echo, a line every 50 ms: past the 150 ms grace of the write, never 150 ms quiet.
  for (let i = 0; i < 8; i++) {
    await new Promise((r) => setTimeout(r, 50))
    f.emit(`add rule ip nat FWD-P-${i} counter`)
  }
  t.equal(changes, 0, 'a tail still streaming is echo')
  f.emit('flush chain ip nat PREROUTING')
  t.equal(changes, 1, 'an entry point removed inside the tail is still reported')
  await new Promise((r) => setTimeout(r, 200))
  f.emit('add rule ip nat FWD-L-web counter')
  t.equal(changes, 2, 'after 150 ms of quiet an event is someone else\'s')
  stop()
})

t.test('with writers named, a transaction is fwdd\'s own exactly when fwdd started its writer', async (t) => {
  const f = fakeStream([4242])
  const m = new RulesetMonitor(f.runner, (l) => / ip (nat|filter) /.test(` ${l} `), iptablesEntryGone)
  const changes: boolean[] = []
  const stop = m.watch((c) => changes.push(c.attributed))
  await m.own(async () => {
    f.emit('add rule ip nat FWD-L-web counter jump FWD-X')
    f.emit('# new generation 7 by process 4242 (iptables-nft-re)')
  })
  t.same(changes, [], 'fwdd\'s write')
  // Read long after the write: timing would have called it someone else's.
  await new Promise((r) => setTimeout(r, 200))
  f.emit('insert rule ip nat PREROUTING counter jump FWD-PREROUTING')
  f.emit('# new generation 8 by process 4242 (iptables-nft-re)')
  t.same(changes, [], 'its late echo is still its own')
  await m.own(async () => {
    f.emit('delete rule ip nat FWD-L-web handle 3')
    t.same(changes, [], 'nothing is reported before the transaction ends')
    f.emit('# new generation 9 by process 777 (iptables)')
  })
  t.same(changes, [true], 'another writer\'s change inside fwdd\'s own write, not an entry point: reported, attributed')
  f.emit('add table ip other')
  f.emit('# new generation 10 by process 778 (nft)')
  f.emit('trace id 1a2b ip nat PREROUTING packet: iif "eth0"')
  f.emit('# new generation 11 by process 779 (nft)')
  t.same(changes, [true], 'a transaction that touched nothing of fwdd\'s, and a trace line, are not')
  stop()
})

t.test('a foreign transaction that stays within the built-in chains is entries-only; one reaching fwdd\'s chains is not', async (t) => {
  const f = fakeStream([4242])
  const m = new RulesetMonitor(f.runner, (l) => / ip (nat|filter) /.test(` ${l} `), iptablesEntryGone, iptablesInEntries)
  const changes: Array<{ attributed: boolean; entriesOnly: boolean }> = []
  const stop = m.watch((c) => changes.push(c))
  f.emit('# new generation 1 by process 4242 (iptables-nft-re)') // writers are named from here on
  f.emit('delete rule ip nat PREROUTING handle 3')
  f.emit('add rule ip filter INPUT tcp dport 22 accept')
  f.emit('# new generation 2 by process 777 (iptables)')
  f.emit('delete rule ip nat PREROUTING handle 4')
  f.emit('flush chain ip nat FWD-SERVICES')
  f.emit('# new generation 3 by process 778 (iptables)')
  f.emit('flush table ip nat')
  f.emit('# new generation 4 by process 779 (iptables)')
  t.same(changes, [
    { attributed: true, entriesOnly: true },
    // The second: reported at its first line (an entry point gone), and again once it reached FWD-SERVICES.
    { attributed: true, entriesOnly: true }, { attributed: true, entriesOnly: false },
    { attributed: true, entriesOnly: false },
  ])
  stop()
})

t.test('an entry point removed while fwdd writes nothing is reported at once, before its transaction ends, and once', async (t) => {
  const f = fakeStream([4242])
  const m = new RulesetMonitor(f.runner, (l) => l.includes(' ip fwdd ') || l.endsWith(' ip fwdd'), nftEntryGone, nftInEntries)
  const changes: Array<{ attributed: boolean; entriesOnly: boolean }> = []
  const stop = m.watch((c) => changes.push(c))
  f.emit('# new generation 1 by process 4242 (nft)') // writers are named from here on
  // `nft delete table ip fwdd` at 10,000 listeners: the kernel streams every rule, set and chain first.
  f.emit('delete rule ip fwdd spread_1 handle 12')
  t.same(changes, [], 'a listener chain\'s rule: wait for the writer')
  f.emit('delete rule ip fwdd prerouting handle 16')
  t.same(changes, [{ attributed: true, entriesOnly: false }], 'the dispatch rule gone: reported at once, in full (the transaction reached beyond the entry points)')
  f.emit('delete chain ip fwdd prerouting')
  f.emit('delete table ip fwdd')
  f.emit('# new generation 2 by process 777 (nft)')
  t.equal(changes.length, 1, 'and not again when the transaction ends')
  // During fwdd's own write (its repair), the same lines wait for the writer's name.
  await m.own(async () => {
    f.emit('delete rule ip fwdd prerouting handle 20')
    t.equal(changes.length, 1, 'not early during fwdd\'s write')
    f.emit('# new generation 3 by process 4242 (nft)')
  })
  t.equal(changes.length, 1, 'and fwdd\'s own: not at all')
  await new Promise((r) => setTimeout(r, 200))
  f.emit('flush chain ip fwdd prerouting')
  t.same(changes[1], { attributed: true, entriesOnly: true }, 'a flush of a base chain alone, after the grace: at once, entries only')
  f.emit('# new generation 4 by process 778 (nft)')
  t.equal(changes.length, 2)
  // A large write of fwdd's whose echo (its base chains' flush last) comes long after it returned.
  await m.own(async () => {})
  await new Promise((r) => setTimeout(r, 200))
  f.emit('add element ip fwdd targets_1 { tcp . 8000 . 0 : 198.18.1.2 . 80 }')
  f.emit('flush chain ip fwdd prerouting')
  t.equal(changes.length, 2, 'a late echo of fwdd\'s own write is not reported early')
  f.emit('# new generation 5 by process 4242 (nft)')
  t.equal(changes.length, 2, 'nor at its end: fwdd wrote it')
  stop()
})

t.test('lost events are reported as such, and what was pending before them is forgotten', async (t) => {
  const f = fakeStream([4242])
  const m = new RulesetMonitor(f.runner, (l) => / ip (nat|filter) /.test(` ${l} `), iptablesEntryGone, iptablesInEntries)
  const changes: Array<{ attributed: boolean; entriesOnly: boolean; lost?: true }> = []
  const stop = m.watch((c) => changes.push(c))
  f.emit('# new generation 1 by process 4242 (iptables-nft-re)')
  f.emit('add rule ip nat FWD-L-web counter')
  f.emit('# ERROR: We lost some netlink events!')
  f.emit('# new generation 3 by process 777 (iptables)')
  t.same(changes, [{ attributed: false, entriesOnly: false, lost: true }], 'one loss, and no foreign change made of a half-seen transaction')
  stop()
})

t.test('entry points per backend', async (t) => {
  for (const l of ['delete rule ip nat PREROUTING handle 3', 'flush chain ip filter INPUT', 'delete chain ip nat POSTROUTING', 'flush table ip nat', 'delete rule ip raw PREROUTING handle 7', 'flush table ip raw']) t.ok(iptablesEntryGone(l), l)
  for (const l of ['insert rule ip nat PREROUTING counter jump FWD-PREROUTING', 'delete rule ip nat FWD-L-web handle 3', 'flush chain ip nat FWD-SERVICES', 'flush chain ip raw FWD-RAW']) t.notOk(iptablesEntryGone(l), l)
  for (const l of ['delete table ip fwdd', 'flush chain ip fwdd prerouting', 'delete rule ip fwdd input handle 4', 'delete chain ip fwdd postrouting']) t.ok(nftEntryGone(l), l)
  for (const l of ['flush chain ip fwdd l-web', 'add rule ip fwdd prerouting fib daddr type local', 'delete element ip fwdd services { tcp . 8000 }', 'delete chain ip fwdd forward']) t.notOk(nftEntryGone(l), l)
})

t.test('the table watch reports a deletion of fwdd\'s table at once, unless fwdd itself is writing', async (t) => {
  let onLine: ((l: string) => void) | null = null
  const runner: Runner = {
    run: async () => { throw new Error('unexpected run') },
    stream: (file, args, line) => {
      if (file !== 'nft' || args.join(' ') !== 'monitor tables') throw new Error(`unexpected stream ${file} ${args.join(' ')}`)
      onLine = line
      return { stop: () => { onLine = null } }
    },
  }
  let writing = false
  let gone = 0
  const stop = watchTableDeletion(runner, 'ip fwdd', () => writing, () => gone++)
  onLine!('delete table ip other')
  onLine!('add table ip fwdd')
  t.equal(gone, 0, 'another table, or fwdd\'s table added: nothing')
  onLine!('delete table ip fwdd')
  t.equal(gone, 1, 'fwdd\'s table deleted by someone else')
  writing = true
  onLine!('delete table ip fwdd')
  t.equal(gone, 1, 'not while fwdd itself writes (its cleanup)')
  stop()
  t.equal(onLine, null, 'stop ends the stream')
})
