/**
 * What the reconciler is built from and reports to: the rule writer (a dataplane), the hooks for
 * metrics and logs, the Azure-sourced sets, and the options that inject everything it touches.
 * Apart from reconciler.ts so that the class holds behaviour, and its wiring reads in one place.
 */
import type { Logger } from 'pino'
import type { Clock } from '../clock.js'
import type { Config } from '../config/types.js'
import type { ApplyResult } from '../dataplane/applier.js'
import type { RenderInput } from '../dataplane/render.js'
import type { CheckedTarget } from '../health/checker.js'
import type { TargetHealth } from '../health/target-health.js'
import type { CheckResult, TcpCheck } from '../health/tcp-check.js'
import type { ResolveFn } from '../targets/dns-resolver.js'
import type { FlowOutcome } from '../passive/flow-tracker.js'
import type { TrafficWatcherHandlers, WatchReport } from '../passive/traffic-watcher.js'
import type { ResolvedTarget } from './desired.js'
import type { FlowDeleter } from './flow-cutter.js'
import type { TrafficWatch } from './passive-link.js'
import type { Verify } from './sync-runner.js'

/** What the reconciler writes rules through (the iptables or nftables dataplane). */
export interface RuleWriter {
  apply(input: RenderInput, opts: { verify: boolean; entries?: boolean }): Promise<ApplyResult>
  /** See Dataplane.renewEventMask. */
  renewEventMask?(): void
}

/** Notifications for metrics and logs; none of them may throw. */
export interface ReconcilerHooks {
  onSynced?(result: ApplyResult, seconds: number, verify: Verify): void
  onApplyFailed?(err: unknown): void
  onTransition?(target: ResolvedTarget, from: TargetHealth, to: TargetHealth): void
  onCheck?(target: CheckedTarget, result: CheckResult): void
  onQueued?(): void
  /** A target left rotation on traffic evidence (passive health), with the ejection's reason. */
  onEjected?(target: ResolvedTarget, reason: 'unanswered' | 'reset', ejectionMs: number): void
  /** An ejected target's ejection ended (after its time and `rise` active successes). */
  onRestored?(target: ResolvedTarget): void
  /** Passive health's flow verdicts, for the counters of evidence. */
  onFlowOutcomes?(outcomes: readonly FlowOutcome[]): void
  onWatchReport?(report: WatchReport): void
}

/** Azure-sourced sets, when configured; absent means none. */
export interface AzureView {
  ipGroup(resourceId: string): { addresses: string[]; error: string | null } | undefined
  privateLinkService(resourceId: string): { addresses: string[]; error: string | null } | undefined
}

export interface ReconcilerOptions {
  config: Config
  clock: Clock
  dataplane: RuleWriter
  conntrack: FlowDeleter
  check: TcpCheck
  resolve: ResolveFn
  logger: Logger
  hooks?: ReconcilerHooks
  azure?: AzureView
  draining?: boolean
  /** Uniform in [0, 1): the spread of the health checks (tests fix it). */
  random?: () => number
  /** Starts a conntrack event watch for passive health; absent: passive health is off. */
  watchTraffic?: (handlers: TrafficWatcherHandlers) => TrafficWatch
}
