/**
 * `fwdd --config-from imds`: the config is the instance's userData, re-read every refresh. This
 * module only fetches and notices changes; the caller parses and validates the text exactly as a
 * reloaded file, and keeps its last good config when the new text is invalid.
 */
import type { ImdsReader } from './imds.js'
import { realTimers, type AzureLogger, type RefresherTimers } from './timers.js'

/** Where userData comes from, how often, and who gets it. */
export interface ImdsConfigSourceOptions {
  imds: Pick<ImdsReader, 'getUserData'>
  /** Poll interval; the caller updates it with `setRefreshSeconds` once a config is loaded. Default 60. */
  refreshSeconds?: number
  /**
   * Called with the decoded userData the first time and then only when it differs from the last
   * text passed. A throw (or rejection) is logged and does not stop polling; the text still counts
   * as seen, so an invalid config is not re-reported every poll.
   */
  onText: (text: string) => void | Promise<void>
  timers?: RefresherTimers
  logger?: AzureLogger
}

/** Polls userData. `start()` reads at once; `refreshNow()` reads now; errors never stop the polling. */
export class ImdsConfigSource {
  private readonly timers: RefresherTimers
  private refreshMs: number
  private timer: unknown
  private running = false
  private lastText: string | undefined
  private error: Error | undefined
  private inFlight: Promise<void> | undefined

  constructor(private readonly options: ImdsConfigSourceOptions) {
    this.timers = options.timers ?? realTimers
    this.refreshMs = (options.refreshSeconds ?? 60) * 1000
  }

  /** Starts polling; the first read happens now. Idempotent. */
  start(): void {
    if (this.running) return
    this.running = true
    void this.poll()
  }

  /** Stops polling; a read in flight still completes but schedules nothing. Idempotent. */
  stop(): void {
    this.running = false
    if (this.timer !== undefined) this.timers.clearTimeout(this.timer)
    this.timer = undefined
  }

  /** Changes the poll interval from the next poll on (e.g. after the config's `azure.refreshSeconds` is known). */
  setRefreshSeconds(seconds: number): void {
    if (!(seconds > 0)) throw new RangeError('refreshSeconds must be positive')
    this.refreshMs = seconds * 1000
    if (this.running && this.timer !== undefined) {
      this.timers.clearTimeout(this.timer)
      this.timer = this.timers.setTimeout(() => void this.poll(), this.refreshMs)
    }
  }

  /** Reads userData now (joining a read in flight); resolves after `onText` ran, never rejects. */
  refreshNow(): Promise<void> {
    return this.poll()
  }

  /** The error of the last read, or undefined when it succeeded. IMDS errors only; `onText` errors are the caller's. */
  get lastError(): Error | undefined {
    return this.error
  }

  /** The last text passed to `onText`. */
  get currentText(): string | undefined {
    return this.lastText
  }

  private poll(): Promise<void> {
    this.inFlight ??= this.readOnce().finally(() => {
      this.inFlight = undefined
      if (this.running) {
        if (this.timer !== undefined) this.timers.clearTimeout(this.timer)
        this.timer = this.timers.setTimeout(() => void this.poll(), this.refreshMs)
      }
    })
    return this.inFlight
  }

  private async readOnce(): Promise<void> {
    let text: string
    try {
      text = await this.options.imds.getUserData()
      if (this.error) this.options.logger?.info({}, 'reading userData from IMDS recovered')
      this.error = undefined
    } catch (error) {
      this.error = error instanceof Error ? error : new Error(String(error))
      this.options.logger?.warn({ err: this.error }, `${this.error.message}; keeping the current config`)
      return
    }
    if (text === this.lastText) return
    this.lastText = text
    try {
      await this.options.onText(text)
    } catch (error) {
      this.options.logger?.warn({ err: error }, 'handling new userData failed')
    }
  }
}
