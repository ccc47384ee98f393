// Shared parameter types. `listener` is fwdd's listener (CONTRACT.md) with every key it takes, so
// one parameter drives the load balancer, the NSG and the agents: the template reads `name`,
// `protocol` and `port`, and passes each listener to fwdd's config unchanged.

@export()
@sealed()
@description('Where a listener forwards to: `host` (an on-premises address or DNS name) or `ipGroup` (every address of an Azure IP Group), on `port`.')
type target = {
  @description('IPv4 address or DNS name (re-resolved) of the server. Give this or ipGroup.')
  host: string?
  @description('Resource ID of an IP Group; each address in it becomes a target on `port`. Give this or host.')
  ipGroup: string?
  @minValue(1)
  @maxValue(65535)
  port: int
  @description('Relative share of new flows; default 1.')
  @minValue(1)
  @maxValue(1000)
  weight: int?
}

@export()
@sealed()
@description('Health check settings of a listener; fwdd\'s defaults apply to what is left out.')
type check = {
  @minValue(50)
  @maxValue(3600000)
  intervalMs: int?
  @minValue(20)
  @maxValue(60000)
  timeoutMs: int?
  @description('Consecutive failures before a target leaves rotation.')
  @minValue(1)
  @maxValue(100)
  fall: int?
  @description('Consecutive successes before it comes back.')
  @minValue(1)
  @maxValue(100)
  rise: int?
  @description('TCP port to check instead of the target port (the only check for udp targets).')
  @minValue(1)
  @maxValue(65535)
  port: int?
}

@export()
@sealed()
@description('One forwarded service: a load balancer rule and probe, an NSG rule pair, and an fwdd listener.')
type listener = {
  @description('[a-z0-9-]{1,16}, unique; names the LB rule, the probe and the fwdd listener.')
  @minLength(1)
  @maxLength(16)
  name: string
  @description('Default tcp.')
  protocol: ('tcp' | 'udp')?
  @description('Port of the LB frontend and of the listener on each forwarder.')
  @minValue(1)
  @maxValue(65535)
  port: int
  @minLength(1)
  targets: target[]
  check: check?
  @description('When no target is healthy: reject new flows (default) or send them to all targets.')
  whenAllDown: ('reject' | 'all')?
}

@export()
@sealed()
@description('fwdd settings beyond the listeners; the template fills in health.port, sources and azure.identityClientId.')
type fwddSettings = {
  @description('Address of the health endpoints; default 0.0.0.0.')
  healthAddress: string?
  @description('health.probeSources: addresses the health port never rate-limits besides the LB\'s 168.63.129.16 and loopback.')
  healthProbeSources: string[]?
  @description('Where /metrics is served (metrics.address, metrics.port); fwdd\'s default otherwise.')
  metrics: {
    address: string?
    @minValue(1)
    @maxValue(65535)
    port: int?
  }?
  @description('Sources allowed besides the Private Link Service NAT subnet: IPv4 CIDRs.')
  extraSourcePrefixes: string[]?
  @description('Sources allowed besides the NAT subnet: resource IDs of Private Link Services whose NAT IPs fwdd reads from Azure.')
  extraSourcePrivateLinkServices: string[]?
  sync: {
    @minValue(1)
    @maxValue(3600)
    resyncSeconds: int?
    @minValue(0)
    @maxValue(60000)
    minIntervalMs: int?
  }?
  @description('How often Azure-sourced sets (IP Groups, Private Link Services) and the userData config are re-read.')
  @minValue(5)
  @maxValue(86400)
  azureRefreshSeconds: int?
}

@export()
@description('The fwdd config (CONTRACT.md) for the forwarders, from the template\'s parameters: the listeners as given, the NAT subnet (and any extra sources) as `sources`, the identity filled in. JSON is YAML, so `string()` of it is a config file.')
func fwddConfig(listeners listener[], healthPort int, natSubnetPrefix string, identityClientId string, settings fwddSettings) object => union(
  {
    health: union(
      { port: healthPort },
      settings.?healthAddress == null ? {} : { address: settings.?healthAddress },
      settings.?healthProbeSources == null ? {} : { probeSources: settings.?healthProbeSources }
    )
    sources: concat(
      [natSubnetPrefix],
      settings.?extraSourcePrefixes ?? [],
      map(settings.?extraSourcePrivateLinkServices ?? [], id => { privateLinkService: id })
    )
    listeners: listeners
    azure: union({ identityClientId: identityClientId }, settings.?azureRefreshSeconds == null ? {} : { refreshSeconds: settings.?azureRefreshSeconds })
  },
  settings.?sync == null ? {} : { sync: settings.?sync },
  settings.?metrics == null ? {} : { metrics: settings.?metrics }
)
