// Shared parameter types. The listener shape is the fwdd config's (CONTRACT.md), minus the
// optional fields, so one parameter can drive both the load balancer and the agents.

@export()
@sealed()
@description('Where a listener forwards to: an on-premises address (or DNS name) and port.')
type target = {
  @description('IPv4 address or DNS name of the on-premises server.')
  host: string
  @minValue(1)
  @maxValue(65535)
  port: int
}

@export()
@sealed()
@description('One forwarded service: a load balancer rule and probe, and an fwdd listener.')
type listener = {
  @description('[a-z0-9-]{1,16}, unique; names the LB rule, the probe and the fwdd listener.')
  @minLength(1)
  @maxLength(16)
  name: string
  protocol: 'tcp' | 'udp'
  @description('Port of the LB frontend and of the listener on each forwarder.')
  @minValue(1)
  @maxValue(65535)
  port: int
  @minLength(1)
  targets: target[]
}
