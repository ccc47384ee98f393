/**
 * IPv4 parsing and the address rules of the config: what a CIDR is, and which destinations fwdd
 * must never forward to. Pure; no DNS, no sockets.
 */

/** Parses dotted-quad IPv4 (no leading zeros, no shorthand) to a 32-bit unsigned number, or null. */
export function parseIpv4(text: string): number | null {
  const parts = text.split('.')
  if (parts.length !== 4) return null
  let value = 0
  for (const part of parts) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(part)) return null
    const n = Number(part)
    if (n > 255) return null
    value = value * 256 + n
  }
  return value
}

export function formatIpv4(value: number): string {
  return [value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255].join('.')
}

export function isIpv4(text: string): boolean {
  return parseIpv4(text) !== null
}

export interface Cidr {
  base: number
  prefix: number
}

/** Parses `a.b.c.d/len` or a bare address (as /32); rejects host bits set below the prefix. */
export function parseCidr(text: string): { cidr: Cidr } | { error: string } {
  const [addr = '', len, ...rest] = text.split('/')
  if (rest.length > 0) return { error: 'has more than one "/"' }
  const base = parseIpv4(addr)
  if (base === null) return { error: `"${addr}" is not an IPv4 address` }
  const prefix = len === undefined ? 32 : /^[0-9]{1,2}$/.test(len) ? Number(len) : NaN
  if (!(prefix >= 0 && prefix <= 32)) return { error: `prefix length "${len}" must be 0 to 32` }
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0
  if ((base & ~mask) >>> 0 !== 0) {
    return { error: `host bits are set; the network is ${formatIpv4((base & mask) >>> 0)}/${prefix}` }
  }
  return { cidr: { base, prefix } }
}

export function formatCidr(c: Cidr): string {
  return `${formatIpv4(c.base)}/${c.prefix}`
}

export function cidrContains(c: Cidr, address: number): boolean {
  const mask = c.prefix === 0 ? 0 : (0xffffffff << (32 - c.prefix)) >>> 0
  return ((address & mask) >>> 0) === c.base
}

/**
 * Destinations that would hand a spoke client the node's own identity or the platform's services:
 * loopback, link-local (IMDS lives there), Azure's WireServer/probe source, "this network",
 * multicast, and broadcast. Returns why an address is forbidden, or null when it may be a target.
 */
export function forbiddenTargetReason(address: string): string | null {
  const a = parseIpv4(address)
  if (a === null) return null
  const rules: Array<[string, string]> = [
    ['127.0.0.0/8', 'is loopback'],
    ['169.254.0.0/16', 'is link-local (the instance metadata service lives there)'],
    ['168.63.129.16/32', "is Azure's WireServer and health probe source"],
    ['0.0.0.0/8', 'is in 0.0.0.0/8 ("this network")'],
    ['224.0.0.0/4', 'is multicast'],
    ['255.255.255.255/32', 'is the broadcast address'],
  ]
  for (const [range, why] of rules) {
    const parsed = parseCidr(range)
    if ('cidr' in parsed && cidrContains(parsed.cidr, a)) return `${address} ${why}; forwarding there would expose the node itself`
  }
  return null
}

/** A DNS name as fwdd accepts it for targets: letters, digits, hyphens, dots; not all-numeric. */
export function isDnsName(text: string): boolean {
  if (text.length > 253 || isIpv4(text) || /^[0-9.]+$/.test(text)) return false
  return text.split('.').every((label) => /^[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$/.test(label))
}
