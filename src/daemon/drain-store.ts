/**
 * Keeps the operator's drain flag on disk so `fwdctl drain` survives a daemon restart or crash
 * (issue "Health endpoints, metrics and the operator's CLI", item 3). A restart must never quietly
 * put a drained node back into the LB's rotation.
 */
import { randomBytes } from 'node:crypto'
import { mkdir, open, readFile, rename, unlink } from 'node:fs/promises'
import path from 'node:path'
import type { Logger } from 'pino'

/** File content for each state; anything else found on disk is treated as draining (see `load`). */
const DRAINING = 'draining\n'
const SERVING = 'serving\n'

/** Persistence of the draining flag in `<stateDir>/draining`. */
export class DrainStore {
  /** Absolute or relative path of the flag file, for log lines and `fwdctl doctor`. */
  readonly file: string
  private queue: Promise<void> = Promise.resolve()

  constructor(readonly stateDir: string, private readonly logger?: Logger) {
    this.file = path.join(stateDir, 'draining')
  }

  /**
   * Whether the node was left draining. A missing file (first start, or a fresh disk after a
   * reimage) is `false`. Unexpected content is `true` with a warning: keeping an operator's drain by
   * mistake costs capacity and shows in `fwdctl status`, undoing one by mistake sends traffic to a
   * node under maintenance. Other read errors (EACCES, EISDIR) are thrown, with the path in the message.
   */
  async load(): Promise<boolean> {
    let text: string
    try {
      text = await readFile(this.file, 'utf8')
    } catch (error: unknown) {
      if (isErrnoException(error) && error.code === 'ENOENT') return false
      throw new Error(`reading drain state from ${this.file}: ${errorMessage(error)}`, { cause: error })
    }
    if (text === DRAINING) return true
    if (text === SERVING) return false
    this.logger?.warn({ file: this.file, content: text.slice(0, 40) }, 'unexpected drain state file content; staying drained')
    return true
  }

  /**
   * Records the flag durably: the new content is written to a temporary file in the same directory,
   * flushed, then renamed over the old one (mode 0644), so a crash leaves either the old or the new
   * state, never a torn file. Creates `stateDir` if missing. Calls are applied in call order; when
   * the returned promise resolves, the state is on disk. On failure the old file is untouched and
   * the error (with the path) is thrown.
   */
  save(draining: boolean): Promise<void> {
    const run = this.queue.then(() => this.write(draining ? DRAINING : SERVING))
    this.queue = run.catch(() => undefined)
    return run
  }

  private async write(content: string): Promise<void> {
    const tmp = path.join(this.stateDir, `.draining.${process.pid}.${randomBytes(4).toString('hex')}.tmp`)
    try {
      await mkdir(this.stateDir, { recursive: true, mode: 0o755 })
      const handle = await open(tmp, 'w', 0o644)
      try {
        await handle.writeFile(content, 'utf8')
        await handle.chmod(0o644) // the umask may have narrowed the create mode
        await handle.sync()
      } finally {
        await handle.close()
      }
      await rename(tmp, this.file)
    } catch (error: unknown) {
      await unlink(tmp).catch(() => undefined)
      throw new Error(`saving drain state to ${this.file}: ${errorMessage(error)}`, { cause: error })
    }
    await syncDirectory(this.stateDir)
  }
}

/** Flushes the rename itself; best effort, since some filesystems refuse fsync on a directory. */
async function syncDirectory(dir: string): Promise<void> {
  try {
    const handle = await open(dir, 'r')
    try {
      await handle.sync()
    } finally {
      await handle.close()
    }
  } catch {
    // The file content is already durable; only the directory entry may be lost on power failure.
  }
}

function isErrnoException(error: unknown): error is NodeJS.ErrnoException {
  return error instanceof Error && 'code' in error
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}
