/**
 * A complete, correct forwarder deployment in the fake ARM: scale set → LB (probe and rule per
 * listener) → PLS on the LB frontend with one approved private endpoint. Doctor tests build it and
 * then break exactly one thing.
 */
import type { FakeArm } from './fake-arm.js'
import { INSTANCE, rid } from './harness.js'
import {
  loadBalancerBody, privateLinkServiceBody, scaleSetBody, scaleSetNicBody,
  type LoadBalancerSpec, type PlsSpec,
} from './arm-bodies.js'

/** The listeners and health port the deployment is built for. */
export const HEALTH_PORT = 8080
export const LISTENERS = [
  { name: 'http', protocol: 'tcp' as const, port: 8000 },
  { name: 'syslog', protocol: 'udp' as const, port: 514 },
]

/** Ids of the deployment's resources. */
export const subnetId = rid('Microsoft.Network/virtualNetworks', 'vnet') + '/subnets/fwd'
export const lbId = rid('Microsoft.Network/loadBalancers', 'fwd-lb')
export const poolId = `${lbId}/backendAddressPools/pool`
export const frontendId = `${lbId}/frontendIPConfigurations/fe`
export const plsId = rid('Microsoft.Network/privateLinkServices', 'fwd-pls')
export const scaleSetId = INSTANCE.resourceId.split('/virtualMachines/')[0]!
export const nicId = `${INSTANCE.resourceId}/networkInterfaces/nic`

/** The mutable description of the deployment. */
export interface Deployment {
  lb: LoadBalancerSpec
  pls: PlsSpec
  scaleSetPools: string[]
  nicPools: string[]
}

/** The correct deployment; callers mutate the returned specs and then `apply`. */
export function goodDeployment(): Deployment {
  return {
    lb: {
      id: lbId,
      subnetId,
      frontends: [{ name: 'fe', privateIp: '10.0.0.10' }, { name: 'fe-other', privateIp: '10.0.0.11' }],
      pools: [{ name: 'pool', members: [`${nicId}/ipConfigurations/ipconfig`] }],
      probes: [
        { name: 'probe-http', protocol: 'Http', port: HEALTH_PORT, requestPath: '/lb/http' },
        { name: 'probe-syslog', protocol: 'Http', port: HEALTH_PORT, requestPath: '/lb/syslog' },
      ],
      rules: [
        { name: 'rule-http', protocol: 'Tcp', frontendPort: 8000, backendPort: 8000, probe: 'probe-http' },
        { name: 'rule-syslog', protocol: 'Udp', frontendPort: 514, backendPort: 514, probe: 'probe-syslog' },
      ],
    },
    pls: {
      id: plsId,
      frontendIds: [frontendId],
      natIps: ['10.0.1.4', '10.0.1.5'],
      subnetId,
      connections: [{ name: 'pe-consumer', status: 'Approved' }],
    },
    scaleSetPools: [poolId],
    nicPools: [poolId],
  }
}

/** Puts the deployment's resources into the fake ARM, replacing earlier ones. */
export function applyDeployment(arm: FakeArm, d: Deployment): void {
  arm.put(loadBalancerBody(d.lb))
  arm.put(privateLinkServiceBody(d.pls))
  arm.put(scaleSetBody(scaleSetId, d.scaleSetPools, subnetId))
  arm.put(scaleSetNicBody(nicId, INSTANCE.resourceId, d.nicPools, '10.0.0.4', subnetId))
}
