/**
 * The daemon's side of the Scheduled Events drain (azure/scheduled-events.ts): when it runs, and
 * how its drain reaches the reconciler. Loads no Azure SDK: IMDS is plain HTTP.
 */
import type { Logger } from 'pino'
import type { Clock } from '../clock.js'
import type { Config } from '../config/types.js'
import { azureEndpointsFromEnv } from '../azure/endpoints.js'
import { ImdsClient } from '../azure/imds.js'
import { httpScheduledEventsApi, ScheduledEventsWatcher } from '../azure/scheduled-events.js'
import type { EventDrainState } from '../reconcile/state.js'

/**
 * On by default when the node is on Azure (an `azure:` section, or the config from IMDS userData);
 * `azure.scheduledEvents: false` turns it off. Decided at start: a reload does not start or stop it.
 */
export function wantsScheduledEvents(config: Config, configFrom: string | undefined): boolean {
  if (config.azure?.scheduledEvents === false) return false
  return config.azure !== undefined || configFrom === 'imds'
}

/** Starts the poller; its drain goes to `reconciler.setEventDrain`. */
export function startScheduledEvents(o: {
  env: NodeJS.ProcessEnv
  clock: Clock
  logger: Logger
  reconciler: { setEventDrain(d: EventDrainState | null): void }
  flows: () => Promise<number | undefined>
}): ScheduledEventsWatcher {
  const endpoint = azureEndpointsFromEnv(o.env).imds
  const imds = new ImdsClient({ endpoint })
  const watcher = new ScheduledEventsWatcher({
    api: httpScheduledEventsApi(endpoint),
    instanceName: async () => (await imds.getInstance()).name,
    flows: o.flows,
    onChange: (d) => o.reconciler.setEventDrain(d),
    clock: o.clock,
    logger: o.logger.child({ component: 'scheduled-events' }),
  })
  watcher.start()
  return watcher
}
