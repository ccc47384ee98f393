/**
 * The status object shared by the daemon (which builds it) and `fwdctl status --json` (which prints
 * it). Its shape is fixed by CONTRACT.md; fields may be added, never renamed. This module imports
 * nothing so the CLI can depend on it without pulling in the daemon.
 */

export type TargetState = 'unknown' | 'healthy' | 'unhealthy'

export interface TargetStatus {
  /** As written in the config (address or DNS name, or the IP Group's resource id). */
  host: string
  /**
   * Stable name of this target in metrics (`fwdd_target_*{target="..."}`): `<listener>/<index>` by
   * config position, `<listener>/<name>` when the target has a `name:`, plus `-<k>` per address
   * of a DNS name or IP Group. The same on every node and after restarts.
   */
  label?: string
  /** The resolved IPv4 address this entry forwards to. */
  address: string
  port: number
  state: TargetState
  /** When `state` last changed (ISO-8601). */
  since: string
  /** Why the last check failed (or the resolver's error), null when fine. */
  lastError: string | null
  /** Whether new connections are sent to it right now. */
  inRotation?: boolean
  weight?: number
  /** Conntrack entries to this target (tcp established or udp); absent when they could not be read. */
  connections?: number
  /**
   * Concurrent flows this node can hold to this address:port (masquerade's source ports of one
   * node address, 1024-65535): `connections` against it is the source-port use; new flows to the
   * target fail when it is reached. Present with `connections`.
   */
  sourcePortCeiling?: number
  /** Bytes and packets that the DNAT rule for this target matched (new flows' first packets only count for packets). */
  bytes?: number
  packets?: number
  /**
   * Passive health (issue 17): set while the target is out of rotation on evidence from its own
   * forwarded traffic, null when it is not ejected; absent when the listener does not use passive
   * health. `reason` says what the traffic showed; `until` is when its ejection time ends (then
   * it needs `check.rise` active successes); `ejections` counts recent ejections (the multiplier
   * of the ejection time).
   */
  ejected?: { reason: string; since: string; until: string; ejections: number } | null
  /** Why an ejection the traffic called for was held back (passive.maxEjectionPercent), absent when none. */
  ejectionHeld?: string
}

export interface ListenerStatus {
  name: string
  protocol: 'tcp' | 'udp'
  port: number
  /** True when this node can serve the listener now (what `/lb/<name>` answers). */
  serving: boolean
  /**
   * Why it does not serve (null when it does), the reason code `/lb/<name>` answers with:
   * `draining`, `not-in-sync`, `no-target-in-rotation` (whenAllDown: reject, none healthy),
   * `no-healthy-target` (whenAllDown: all: flows still spread, but nothing is known healthy),
   * `no-targets` (nothing resolved).
   */
  reason?: string | null
  whenAllDown?: 'reject' | 'all'
  /** Why some DNS or IP Group answers are not targets (forbidden addresses); absent when none. */
  problems?: string[]
  targets: TargetStatus[]
}

export interface NodeStatus {
  /** Rules applied and in sync, not draining, every listener serving. */
  ready: boolean
  /**
   * The node's own health, as `/health` reports it to the VMSS health extension: never the targets'.
   * `reasons` are short codes (`not-in-sync`, `ip-forwarding-off`, `apply-failing`), empty when healthy.
   */
  health?: { healthy: boolean; reasons: string[] }
  /** Why syncs fail, by kind (`read`, `apply`, `reload`); absent kinds are fine. */
  errors?: Partial<Record<'read' | 'apply' | 'reload', string>>
  /** True while drained for any reason in `drainReasons`. */
  draining: boolean
  /** Why the node drains: `operator` (fwdctl drain, persisted) and/or `scheduled-event`; empty when not. */
  drainReasons?: string[]
  /**
   * The Azure Scheduled Event this node drains for (Terminate, Reboot, Redeploy, Preempt naming this
   * instance), null when none. `flowsLeft`: forwarded flows at the last reading (null: unreadable);
   * `approved`: fwdd has sent the early StartRequests approval.
   */
  scheduledEvent?: { id: string; type: string; notBefore: string | null; status: string; flowsLeft: number | null; approved: boolean } | null
  /** Why the last read of Scheduled Events failed (IMDS down: a warning, never a drain); null when fine. Absent when the feature is off. */
  scheduledEventsError?: string | null
  inSync: boolean
  lastSyncAt: string | null
  lastError: string | null
  version: string
  ipForwarding?: boolean
  /** Times the periodic resync found the kernel different from the desired rules and repaired it. */
  driftRepairs?: number
  backend?: string
  configSource?: string
  /**
   * Present when the daemon uses Azure (ipGroup targets, privateLinkService sources, or
   * `--config-from imds`). `errors`: why a read of an Azure resource or of userData last failed
   * (the last good set or config stays in force meanwhile); cleared by the next good read.
   * `warnings`: notes about good reads, e.g. IP Group entries that cannot be targets.
   */
  azure?: { errors: string[]; warnings: string[] }
  /**
   * Passive health's conntrack event watch: `watching`; `fallback` (the kernel dropped events:
   * active checks only for a while); `unavailable` (conntrack -E cannot run: active checks only);
   * `off` (no listener uses passive health). `lostEvents` counts the kernel's drop reports.
   */
  passive?: { mode: 'watching' | 'fallback' | 'unavailable' | 'off'; lostEvents: number; reason: string | null }
}

export interface Status {
  node: NodeStatus
  listeners: ListenerStatus[]
}
