/**
 * Where the daemon's config comes from (a file, or the instance's userData in IMDS) and the Azure
 * sets (IP Group targets, Private Link Service sources) when the config names any. Nothing here
 * contacts Azure unless the config or `--config-from imds` asks for it.
 */
import type { Logger } from 'pino'
import { formatProblems } from '../config/load.js'
import { loadConfigBounded } from '../config/load-worker.js'
import type { ConfigSource, LoadResult } from './config-source.js'
import type { Config } from '../config/types.js'
import { azureEndpointsFromEnv } from '../azure/endpoints.js'
import { ImdsClient } from '../azure/imds.js'
import { ImdsConfigSource } from '../azure/imds-config.js'
import { createManagedIdentityCredential } from '../azure/credential.js'
import { createNetworkClients } from '../azure/network.js'
import { createAzureSetsReader } from '../azure/reader.js'
import { AzureSetsRefresher } from '../azure/sets.js'
import type { AzureView } from '../reconcile/reconciler.js'
import { messageOf } from '../errors.js'

/**
 * The config from the instance's userData, polled every `azure.refreshSeconds` (60 until a config
 * names it). `watch` calls `changed` whenever the polled text differs from the text last loaded;
 * the daemon then reloads, so an invalid text is rejected exactly like a bad file and the last
 * good config stays. `problems()` says why the last userData read failed, if it did.
 */
export function imdsSource(logger: Logger, env: NodeJS.ProcessEnv): ConfigSource {
  const imds = new ImdsClient({ endpoint: azureEndpointsFromEnv(env).imds })
  let latest: string | undefined
  let readError: string | undefined
  let refreshSeconds = 60
  let poller: ImdsConfigSource | undefined
  // Off the event loop, like a file (config-source.ts): userData may be as large as a file.
  const parse = async (text: string, opts?: { loopIdle?: boolean }): Promise<LoadResult> => {
    const r = await loadConfigBounded({ text, file: 'imds:userData' }, opts)
    return r.ok ? r : { ok: false, problems: formatProblems(r.problems) }
  }
  return {
    async load(opts) {
      try {
        latest = await imds.getUserData()
        readError = undefined
      } catch (err: unknown) {
        readError = messageOf(err)
        if (latest === undefined) return { ok: false, problems: `imds:userData:1:1: (userData): reading it failed: ${readError}` }
        logger.warn({ err: readError }, 'reading userData failed; using the last text read')
      }
      const r = await parse(latest ?? '', opts)
      if (r.ok) {
        refreshSeconds = r.config.azure?.refreshSeconds ?? 60
        poller?.setRefreshSeconds(refreshSeconds)
      }
      return r
    },
    watch(changed) {
      poller = new ImdsConfigSource({
        imds,
        refreshSeconds,
        // Compared with the text last loaded, not the last polled: a change that landed between
        // the first load and the first poll is still noticed.
        onText: (text) => {
          if (text !== latest) changed()
        },
        logger: logger.child({ component: 'imds-config' }),
      })
      poller.start()
    },
    stop: () => poller?.stop(),
    describe: () => 'imds:userData',
    problems: () => {
      const error = poller ? poller.lastError?.message : readError
      return error ? [`${error}; keeping the current config`] : []
    },
  }
}

/** The running Azure sets: what the reconciler reads, plus reconfigure/stop for the daemon. */
export interface AzureSets {
  view: AzureView
  /** Restarts the refresher when the config names other resources, another interval or identity. */
  reconfigure(config: Config): Promise<void>
  /** Why reads last failed (one line per failing resource) and notes about good reads, for the status. */
  problems(): { errors: string[]; warnings: string[] }
  stop(): void
}

function idsOf(config: Config): { ipGroups: string[]; privateLinkServices: string[] } {
  return {
    ipGroups: config.listeners.flatMap((l) => l.targets.flatMap((t) => (t.kind === 'ipGroup' ? [t.resourceId] : []))),
    privateLinkServices: config.sources.flatMap((s) => (s.kind === 'privateLinkService' ? [s.resourceId] : [])),
  }
}

/** Starts the Azure refresher when the config names Azure resources; returns undefined otherwise. */
export async function startAzureSets(config: Config, logger: Logger, env: NodeJS.ProcessEnv, changed: () => void): Promise<AzureSets | undefined> {
  const ids = idsOf(config)
  if (ids.ipGroups.length + ids.privateLinkServices.length === 0 && !config.azure) return undefined
  const endpoints = azureEndpointsFromEnv(env)
  const log = logger.child({ component: 'azure' })
  let refresher: AzureSetsRefresher | undefined
  let unsubscribe: (() => void) | undefined
  const start = async (c: Config): Promise<void> => {
    const credential = createManagedIdentityCredential({ ...(c.azure?.identityClientId ? { clientId: c.azure.identityClientId } : {}), imdsEndpoint: endpoints.imds, maxRetries: 0, env })
    const clients = createNetworkClients({ credential, armEndpoint: endpoints.arm })
    // A reconfigured refresher starts from the old one's last good sets (a failing first read keeps
    // them), and the old one stays in place until the new one's first read is done: the reconciler
    // never sees an IP Group or Private Link Service that it knew as unknown in between.
    const r = new AzureSetsRefresher({
      ...idsOf(c), refreshSeconds: c.azure?.refreshSeconds ?? 60, reader: createAzureSetsReader(clients), logger: log,
      ...(c.azure?.identityClientId ? { identityClientId: c.azure.identityClientId } : {}),
      ...(refresher ? { seed: refresher.snapshot() } : {}),
    })
    r.start()
    await r.refreshNow()
    unsubscribe?.()
    refresher?.stop()
    refresher = r
    // Subscribed only after the first read: its sets are in the snapshot the reconciler reads when it
    // starts, and the daemon's reconciler does not exist yet while the first start runs.
    // Errors too: a target's lastError shows why its IP Group set is stale.
    const offSets = r.onChange(() => changed())
    const offProblems = r.onProblemsChange(() => changed())
    unsubscribe = () => {
      offSets()
      offProblems()
    }
  }
  await start(config)
  const entry = (map: 'ipGroups' | 'privateLinkServices', id: string): { addresses: string[]; error: string | null } | undefined => {
    const snap = refresher?.snapshot()
    if (!snap) return undefined
    const addresses = snap[map].get(id)
    const error = snap.errors.get(id)?.message ?? null
    if (addresses === undefined && error === null) return undefined
    return { addresses: addresses ?? [], error }
  }
  return {
    view: { ipGroup: (id) => entry('ipGroups', id), privateLinkService: (id) => entry('privateLinkServices', id) },
    async reconfigure(c) {
      const key = (x: Config) => JSON.stringify([idsOf(x), x.azure?.refreshSeconds, x.azure?.identityClientId])
      if (key(c) === key(config)) return
      config = c
      await start(c)
      changed()
    },
    problems() {
      const snap = refresher?.snapshot()
      return { errors: [...(snap?.errors.values() ?? [])].map((e) => e.message), warnings: [...(snap?.warnings.values() ?? [])] }
    },
    stop() {
      unsubscribe?.()
      refresher?.stop()
    },
  }
}
