/**
 * The only module that runs processes (STYLE.md: "one place runs processes"). Everything else is
 * handed a `Runner` so the core can be tested with a strict fake and the adapters against the real
 * kernel.
 */
import { existsSync } from 'node:fs'
import { execa } from 'execa'
import type { ErrorCode } from '../errors.js'

export interface RunOptions {
  /** Text written to the process's standard input. */
  input?: string
  /** Kill the process after this many milliseconds. */
  timeoutMs?: number
}

export interface RunResult {
  exitCode: number
  stdout: string
  stderr: string
}

/** Runs a program and returns its exit code and output; never throws for a non-zero exit. */
export interface Runner {
  run(file: string, args: readonly string[], options?: RunOptions): Promise<RunResult>
  /**
   * Starts a long-running program (e.g. `nft monitor`) and calls onLine for every line it prints,
   * onExit when it ends (or could not start). `onStderrLine`, when given, gets its standard error
   * line by line (else it is discarded). Optional: fakes without it mean "nothing to watch".
   */
  stream?(file: string, args: readonly string[], onLine: (line: string) => void, onExit: (code: number | null) => void, onStderrLine?: (line: string) => void): { stop(): void }
  /**
   * Whether this runner started process `pid` (with `run`) within the last OWN_PID_TTL_MS. The
   * ruleset watch asks it of the writer `nft monitor` names for each transaction, so fwdd's own
   * writes are told from another tool's by who made them, not by when. Optional: fakes without it
   * own nothing.
   */
  ownsPid?(pid: number): boolean
}

/** How long a started process's pid counts as fwdd's own (its write's events arrive within ms; pids wrap far slower). */
export const OWN_PID_TTL_MS = 5 * 60_000

/** Thrown by `Runner.run` only when the program could not be started at all (ENOENT, EACCES). */
export class SpawnError extends Error {
  /** Its code in the catalogue (src/errors.ts). */
  readonly code: ErrorCode = 'FWD_ERR_SPAWN'
  constructor(readonly file: string, options: { cause: unknown }) {
    super(`starting ${file}: ${options.cause instanceof Error ? options.cause.message : String(options.cause)}`, options)
    this.name = 'SpawnError'
  }
}

/**
 * util-linux's setpriv, to give a streamed child a parent-death signal: `nft monitor` and
 * `conntrack -E` write only when an event comes, so when the daemon dies by SIGKILL (or OOM) they
 * would live on, orphaned, holding their network namespace. The tests found 87 such orphans after
 * a day of runs. util-linux is essential on Debian; without setpriv the child starts as before.
 */
const SETPRIV = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p))

/** The real runner, backed by execa. Output is not stripped of its final newline. */
export function createProcessRunner(): Runner {
  /** pid -> when it was started (ms), pruned as it grows. */
  const started = new Map<number, number>()
  const remember = (pid: number | undefined): void => {
    if (pid === undefined) return
    const now = performance.now()
    if (started.size >= 256) for (const [p, at] of started) if (now - at > OWN_PID_TTL_MS) started.delete(p)
    started.set(pid, now)
  }
  return {
    async run(file, args, options = {}) {
      const child = execa(file, [...args], {
        input: options.input,
        timeout: options.timeoutMs,
        reject: false,
        stripFinalNewline: false,
        env: { LC_ALL: 'C' },
      })
      remember(child.pid)
      const result = await child
      if (result.exitCode === undefined) {
        throw new SpawnError(file, { cause: result.cause ?? result.originalMessage ?? 'failed to start' })
      }
      return { exitCode: result.exitCode, stdout: String(result.stdout), stderr: String(result.stderr) }
    },
    stream(file, args, onLine, onExit, onStderrLine) {
      const [cmd, argv] = SETPRIV ? [SETPRIV, ['--pdeathsig', 'TERM', '--', file, ...args]] : [file, [...args]]
      const child = execa(cmd, argv, { reject: false, buffer: false, stdin: 'ignore', stderr: onStderrLine ? 'pipe' : 'ignore', env: { LC_ALL: 'C' } })
      const splitter = (each: (line: string) => void) => {
        let rest = ''
        return (chunk: Buffer): void => {
          rest += chunk.toString('utf8')
          const lines = rest.split('\n')
          rest = lines.pop() ?? ''
          for (const l of lines) each(l)
        }
      }
      child.stdout?.on('data', splitter(onLine))
      if (onStderrLine) child.stderr?.on('data', splitter(onStderrLine))
      void child.then((r) => onExit(r.exitCode ?? null), () => onExit(null))
      return { stop: () => void child.kill('SIGTERM') }
    },
    ownsPid(pid) {
      const at = started.get(pid)
      return at !== undefined && performance.now() - at <= OWN_PID_TTL_MS
    },
  }
}
