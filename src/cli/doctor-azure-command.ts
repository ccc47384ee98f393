/**
 * The `--azure` half of `fwdctl doctor`: builds the IMDS and ARM clients from the environment
 * (FWDD_IMDS_ENDPOINT, FWDD_ARM_ENDPOINT) and runs the checks against the live resources
 * (src/azure/doctor.ts). The Azure SDKs load only when --azure is given.
 */
import type { Config } from '../config/types.js'
import { messageOf } from '../errors.js'
import type { Verdict } from './verdict.js'

export async function runAzureDoctorChecks(config: Config | null, env: NodeJS.ProcessEnv): Promise<Verdict[]> {
  if (!config) return [{ check: 'azure', ok: false, detail: 'the config is invalid, so the listeners to check are unknown', fix: 'fix the config first (fwdd --check)' }]
  try {
    const [{ azureEndpointsFromEnv }, { ImdsClient }, { createManagedIdentityCredential }, { createNetworkClients }, { createAzureDoctorReader }, { runAzureDoctor }] = await Promise.all([
      import('../azure/endpoints.js'), import('../azure/imds.js'), import('../azure/credential.js'),
      import('../azure/network.js'), import('../azure/doctor-reader.js'), import('../azure/doctor.js'),
    ])
    const endpoints = azureEndpointsFromEnv(env)
    const clientId = config.azure?.identityClientId
    const credential = createManagedIdentityCredential({ ...(clientId ? { clientId } : {}), imdsEndpoint: endpoints.imds, maxRetries: 0, env })
    const clients = createNetworkClients({ credential, armEndpoint: endpoints.arm })
    return await runAzureDoctor(
      {
        listeners: config.listeners.map((l) => ({ name: l.name, protocol: l.protocol, port: l.port })),
        healthPort: config.health.port,
        privateLinkServices: config.sources.flatMap((s) => (s.kind === 'privateLinkService' ? [s.resourceId] : [])),
      },
      { imds: new ImdsClient({ endpoint: endpoints.imds }), reader: createAzureDoctorReader(clients), ...(clientId ? { identityClientId: clientId } : {}) },
    )
  } catch (err: unknown) {
    return [{ check: 'azure', ok: false, detail: `could not set up the Azure checks: ${messageOf(err)}`, fix: 'check FWDD_ARM_ENDPOINT / FWDD_IMDS_ENDPOINT and the managed identity' }]
  }
}
