/**
 * The JSON Schema of the config file (CONTRACT.md plus fwdd's extensions: `whenAllDown`,
 * `check.port`, `sync`). `additionalProperties: false` everywhere: a typo must be an error, never a
 * silently ignored key. Semantic rules that a schema cannot say well (uniqueness, address ranges,
 * one of host/ipGroup) live in semantic.ts.
 */

const port = { type: 'integer', minimum: 1, maximum: 65535 } as const

const target = {
  type: 'object',
  additionalProperties: false,
  required: ['port'],
  properties: {
    host: { type: 'string', minLength: 1 },
    ipGroup: { type: 'string', minLength: 1 },
    port,
    weight: { type: 'number', exclusiveMinimum: 0, maximum: 1000 },
    // The target's label in metrics and `fwdctl status` (`<listener>/<name>`); no dots, so never an address.
    name: { type: 'string', pattern: '^[a-z0-9][a-z0-9_-]{0,31}$' },
  },
} as const

const check = {
  type: 'object',
  additionalProperties: false,
  properties: {
    intervalMs: { type: 'integer', minimum: 50, maximum: 3600000 },
    timeoutMs: { type: 'integer', minimum: 20, maximum: 60000 },
    fall: { type: 'integer', minimum: 1, maximum: 100 },
    rise: { type: 'integer', minimum: 1, maximum: 100 },
    port,
  },
} as const

/** Passive health (issue 17): ejection of targets on evidence from forwarded traffic (conntrack events). */
const passive = {
  type: 'object',
  additionalProperties: false,
  properties: {
    enabled: { type: 'boolean' },
    unansweredMs: { type: 'integer', minimum: 20, maximum: 60000 },
    minUnansweredMs: { type: 'integer', minimum: 20, maximum: 60000 },
    fall: { type: 'integer', minimum: 1, maximum: 100 },
    resetFall: { type: 'integer', minimum: 1, maximum: 100 },
    baseEjectionMs: { type: 'integer', minimum: 100, maximum: 3600000 },
    maxEjectionMs: { type: 'integer', minimum: 100, maximum: 3600000 },
    maxEjectionPercent: { type: 'integer', minimum: 0, maximum: 100 },
    maxFlowsPerSecond: { type: 'integer', minimum: 1, maximum: 100000 },
  },
} as const

const listener = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'port', 'targets'],
  properties: {
    name: { type: 'string', pattern: '^[a-z0-9-]{1,16}$' },
    protocol: { enum: ['tcp', 'udp'] },
    port,
    targets: { type: 'array', minItems: 1, items: target },
    check,
    whenAllDown: { enum: ['reject', 'all'] },
    passive,
  },
} as const

export const configSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['listeners'],
  properties: {
    health: {
      type: 'object',
      additionalProperties: false,
      properties: { port, address: { type: 'string' }, probeSources: { type: 'array', items: { type: 'string' } } },
    },
    metrics: {
      type: 'object',
      additionalProperties: false,
      properties: { port, address: { type: 'string' } },
    },
    sources: {
      type: 'array',
      items: {
        anyOf: [
          { type: 'string' },
          {
            type: 'object',
            additionalProperties: false,
            required: ['privateLinkService'],
            properties: { privateLinkService: { type: 'string', minLength: 1 } },
          },
        ],
      },
    },
    listeners: { type: 'array', minItems: 1, items: listener },
    passive,
    sync: {
      type: 'object',
      additionalProperties: false,
      properties: {
        resyncSeconds: { type: 'integer', minimum: 1, maximum: 3600 },
        minIntervalMs: { type: 'integer', minimum: 0, maximum: 60000 },
      },
    },
    dataplane: {
      type: 'object',
      additionalProperties: false,
      properties: {
        backend: { enum: ['iptables', 'nftables'] },
      },
    },
    azure: {
      type: 'object',
      additionalProperties: false,
      properties: {
        identityClientId: { type: 'string', pattern: '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$' },
        refreshSeconds: { type: 'integer', minimum: 5, maximum: 86400 },
        scheduledEvents: { type: 'boolean' },
      },
    },
  },
} as const

/** Keys each object may hold, for "did you mean" suggestions on unknown keys. */
export const knownKeys: Record<string, readonly string[]> = {
  '': Object.keys(configSchema.properties),
  health: Object.keys(configSchema.properties.health.properties),
  metrics: Object.keys(configSchema.properties.metrics.properties),
  listener: Object.keys(listener.properties),
  target: Object.keys(target.properties),
  check: Object.keys(check.properties),
  passive: Object.keys(passive.properties),
  sync: Object.keys(configSchema.properties.sync.properties),
  azure: Object.keys(configSchema.properties.azure.properties),
  dataplane: Object.keys(configSchema.properties.dataplane.properties),
  source: ['privateLinkService'],
}
