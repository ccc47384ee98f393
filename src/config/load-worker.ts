/**
 * Parses a config on a worker thread, so a large file (up to the limits in limits.ts) does not
 * stall the daemon's event loop: `/lb` and `/health` keep answering while it parses (issue 13
 * item 6). Same result type as loadConfigFile / parseConfig; the worker ends after one config.
 * The module is its own worker script: loaded as a worker it parses `workerData` and posts back.
 * In the release bundle (tools/release/build.mjs) the daemon is one file, so the worker is
 * bundled on its own as CONFIG_WORKER_BUNDLE next to it; configWorkerUrl finds either.
 */
import { stat } from 'node:fs/promises'
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads'
import { loadConfigFile, parseConfig, type ConfigResult } from './load.js'

/** What to parse: a file (read in the worker) or text such as IMDS userData, labelled `file`. */
export type ConfigInput = { file: string } | { text: string; file: string }

interface Job { fwddConfigJob: ConfigInput }

/** File name of this module's own bundle, beside fwdd.mjs in the release (build.mjs writes it). */
export const CONFIG_WORKER_BUNDLE = 'config-worker.mjs'

/**
 * The script a config worker runs, given the URL of the module this code was loaded from: in dist/
 * (and from src/ under a TypeScript loader) that is this module itself; in a bundle, where this
 * code sits inside fwdd.mjs, it is CONFIG_WORKER_BUNDLE in the same directory.
 */
export function configWorkerUrl(moduleUrl: string): URL {
  const here = new URL(moduleUrl)
  return /\/load-worker\.[cm]?[jt]s$/.test(here.pathname) ? here : new URL(`./${CONFIG_WORKER_BUNDLE}`, here)
}

/**
 * Loads a config off the event loop. Never rejects: a worker that cannot start or dies (out of
 * memory) becomes one problem at 1:1 naming what happened.
 */
export function loadConfigOffThread(input: ConfigInput): Promise<ConfigResult> {
  return new Promise((resolve) => {
    let settled = false
    const done = (r: ConfigResult): void => { if (!settled) { settled = true; resolve(r) } }
    const fail = (why: string): void => done({ ok: false, problems: [{ file: input.file, line: 1, col: 1, path: '(internal)', message: `the config parser stopped (${why}); check the file's size and structure` }] })
    let worker: Worker
    try {
      // Heap bounded so a pathological config cannot take the daemon's memory with it.
      worker = new Worker(configWorkerUrl(import.meta.url), { workerData: { fwddConfigJob: input } satisfies Job, resourceLimits: { maxOldGenerationSizeMb: 512 } })
    } catch (err: unknown) {
      fail(err instanceof Error ? err.message : String(err))
      return
    }
    worker.once('message', (r: ConfigResult) => done(r))
    worker.once('error', (err) => fail(err.message))
    worker.once('exit', (code) => fail(`exit code ${code}`))
  })
}

/**
 * Size from which a config is parsed on a worker: below it a parse takes tens of milliseconds, and
 * a worker costs more than it saves (a V8 isolate: ~50 ms to start, and ~18 MB of RSS that the
 * allocator keeps after it ends).
 */
export const OFF_THREAD_MIN_BYTES = 64 * 1024

/**
 * Loads a config where it costs least: small ones on the event loop, large ones (from
 * OFF_THREAD_MIN_BYTES up to the limits) on a worker so the probes keep answering while they parse.
 * `loopIdle`: nothing else needs the event loop yet (the daemon's first load, before it serves
 * anything), so a large config parses on it too: the worker's start (its own copy of the modules
 * and of the schema's compile, ~0.3-0.5 s at 10,000 listeners) would only delay the start.
 * Never rejects. A file whose size cannot be read goes to the worker, which reports why.
 */
export async function loadConfigBounded(input: ConfigInput, opts: { loopIdle?: boolean } = {}): Promise<ConfigResult> {
  if (!opts.loopIdle) {
    const bytes = 'text' in input ? Buffer.byteLength(input.text) : await stat(input.file).then((st) => st.size, () => Infinity)
    if (bytes >= OFF_THREAD_MIN_BYTES) return loadConfigOffThread(input)
  }
  return 'text' in input ? parseConfig(input.text, input.file) : loadConfigFile(input.file)
}

if (!isMainThread && parentPort && (workerData as Partial<Job> | null)?.fwddConfigJob) {
  const job = (workerData as Job).fwddConfigJob
  const port = parentPort
  const run = async (): Promise<ConfigResult> => ('text' in job ? parseConfig(job.text, job.file) : loadConfigFile(job.file))
  void run().then((r) => port.postMessage(r))
}
