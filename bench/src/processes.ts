/**
 * The benchmark harness's own process module, separate from the product's (src/process/runner.ts,
 * which stays the only module of fwdd itself that runs processes). It starts the long-running
 * children a benchmark needs (iperf3 and HAProxy servers, the daemon, probe clients), optionally
 * inside a network namespace, and remembers every one so that `killAll()` can end them on any exit
 * path (normal end, a failed measurement, SIGINT). Short commands go through the product's
 * `createProcessRunner()` instead (see ns.ts).
 */
import { execa, execaSync, type ResultPromise } from 'execa'

export interface Child {
  /** The process id (for `ip netns exec` children, the program's own pid: it execs). */
  pid: number
  /** Everything the child wrote so far, stdout and stderr interleaved. */
  output(): string
  /** Resolves with the next stdout line matching `re` (or rejects after `timeoutMs`). */
  waitLine(re: RegExp, timeoutMs: number): Promise<string>
  /** Writes text to the child's stdin. */
  write(text: string): void
  /** Sends a signal and waits for the exit. Safe to call twice. */
  stop(signal?: NodeJS.Signals): Promise<void>
  /** Resolves when the child exits, with its exit code (null when killed by a signal). */
  exited: Promise<number | null>
}

const live = new Set<ResultPromise>()

/** Starts `file args` (inside `ns` when given). The child is killed by `killAll()` if still running. */
export function spawnChild(ns: string | null, file: string, args: readonly string[]): Child {
  const [cmd, argv] = ns === null ? [file, [...args]] : ['ip', ['netns', 'exec', ns, file, ...args]]
  const proc = execa(cmd, argv, { reject: false, buffer: false, stdin: 'pipe', stdout: 'pipe', stderr: 'pipe', env: { LC_ALL: 'C' } })
  live.add(proc)
  let out = ''
  let lineBuf = ''
  const waiters: Array<{ re: RegExp; resolve(l: string): void }> = []
  proc.stdout?.on('data', (d: Buffer) => {
    out += d.toString()
    lineBuf += d.toString()
    let i: number
    while ((i = lineBuf.indexOf('\n')) >= 0) {
      const line = lineBuf.slice(0, i)
      lineBuf = lineBuf.slice(i + 1)
      for (const w of [...waiters]) {
        if (w.re.test(line)) {
          waiters.splice(waiters.indexOf(w), 1)
          w.resolve(line)
        }
      }
    }
  })
  proc.stderr?.on('data', (d: Buffer) => { out += d.toString() })
  const exited = proc.then((r) => r.exitCode ?? null, () => null).finally(() => live.delete(proc))
  return {
    pid: proc.pid ?? -1,
    output: () => out,
    waitLine(re, timeoutMs) {
      return new Promise((resolve, reject) => {
        const w = { re, resolve: (l: string) => { clearTimeout(timer); resolve(l) } }
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(w), 1)
          reject(new Error(`${file}: no line matching ${re} within ${timeoutMs} ms; output:\n${out.slice(-2000)}`))
        }, timeoutMs)
        waiters.push(w)
        void exited.then(() => setTimeout(() => {
          if (waiters.includes(w)) {
            waiters.splice(waiters.indexOf(w), 1)
            clearTimeout(timer)
            reject(new Error(`${file} exited before printing a line matching ${re}; output:\n${out.slice(-2000)}`))
          }
        }, 50))
      })
    },
    write: (text) => { proc.stdin?.write(text) },
    async stop(signal = 'SIGTERM') {
      proc.kill(signal)
      const t = setTimeout(() => proc.kill('SIGKILL'), 20000)
      await exited
      clearTimeout(t)
    },
    exited,
  }
}

/** Kills every child still running (SIGKILL) and waits for them. */
export async function killAll(): Promise<void> {
  const all = [...live]
  for (const p of all) p.kill('SIGKILL')
  await Promise.allSettled(all)
}

/**
 * For signal handlers, which must not depend on the event loop: SIGKILLs every child at once and
 * runs `file args` synchronously for each argument list (e.g. `ip netns del NS`), ignoring failures.
 */
export function killAllAndRunSync(commands: ReadonlyArray<readonly [string, readonly string[]]>): void {
  for (const p of live) p.kill('SIGKILL')
  for (const [file, args] of commands) {
    try {
      execaSync(file, [...args], { reject: false, timeout: 10000 })
    } catch {
      // best effort: the process is exiting
    }
  }
}
