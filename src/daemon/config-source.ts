/**
 * Where the daemon's config comes from. A file is re-read on reload (SIGHUP, `fwdctl reload`);
 * IMDS userData (azure-wiring.ts, loaded only when asked for) is also polled for changes.
 */
import { formatProblems } from '../config/load.js'
import { loadConfigBounded } from '../config/load-worker.js'
import type { Config } from '../config/types.js'

export type LoadResult = { ok: true; config: Config } | { ok: false; problems: string }

export interface ConfigSource {
  /**
   * Reads and validates the config now. `loopIdle`: nothing else needs the event loop yet (the first
   * load, before anything listens), so even a large config is parsed on it (loadConfigBounded).
   */
  load(opts?: { loopIdle?: boolean }): Promise<LoadResult>
  /** Calls `changed` when the source has a new version (IMDS polling); files change by reload. */
  watch(changed: () => void): void
  stop(): void
  describe(): string
  /** Why the source could not be read lately (IMDS userData), for the status; absent for files. */
  problems?(): string[]
}

/**
 * The config from a file; on a reload a large one is read and parsed on a worker thread
 * (load-worker.ts): a config near the size limit takes a second or more to parse, and the LB probes
 * must keep their answers. The first load (`loopIdle`) parses on the event loop: nothing listens yet.
 */
export function fileSource(file: string): ConfigSource {
  return {
    async load(opts) {
      const r = await loadConfigBounded({ file }, opts)
      return r.ok ? r : { ok: false, problems: formatProblems(r.problems) }
    },
    watch() {},
    stop() {},
    describe: () => `file:${file}`,
  }
}

/** Whether a config names Azure resources (so the Azure module must be loaded). */
export function needsAzure(config: Config): boolean {
  return config.azure !== undefined || config.sources.some((s) => s.kind === 'privateLinkService') || config.listeners.some((l) => l.targets.some((t) => t.kind === 'ipGroup'))
}

/**
 * The status object's `node.azure` (status.ts): the Azure sets' read errors and warnings plus the
 * config source's (userData) read errors. Undefined when the daemon uses no Azure at all, so a
 * plain node's status has no `azure` field.
 */
export function azureStatus(
  sets: { problems(): { errors: string[]; warnings: string[] } } | undefined,
  source: ConfigSource,
): { errors: string[]; warnings: string[] } | undefined {
  if (!sets && !source.problems) return undefined
  const p = sets?.problems() ?? { errors: [], warnings: [] }
  return { errors: [...(source.problems?.() ?? []), ...p.errors], warnings: p.warnings }
}
