/**
 * The human form of `fwdctl status` (the `--json` form is the `Status` object itself), in the manner
 * of `systemctl status` (the verdict first) and `kubectl get` (a header row): a summary line, then a
 * table with each listener and one row per target, labelled as in the metrics. Pure: the CLI passes `now` and whether stdout is a terminal, so output is testable text.
 */
import type { ListenerStatus, Status, TargetStatus } from '../status.js'

export interface StatusTableOptions {
  /** ANSI colour; the CLI sets it only when stdout is a TTY (and NO_COLOR is unset). */
  color: boolean
  /** Reference time for ages such as `3s ago`. */
  now: Date
}

type Paint = 'green' | 'red' | 'yellow' | 'dim' | null
const CODES: Record<Exclude<Paint, null>, string> = { green: '32', red: '31', yellow: '33', dim: '2' }

/** A cell: its visible text and colour. Widths are measured on `text`, so escapes never misalign. */
interface Cell {
  text: string
  paint: Paint
}

const cell = (text: string, paint: Paint = null): Cell => ({ text, paint })

/** `3s`, `5m`, `2h`, `4d` since `iso` (never negative); `?` when unparseable. */
export function formatAge(iso: string, now: Date): string {
  const then = Date.parse(iso)
  if (Number.isNaN(then)) return '?'
  const s = Math.max(0, Math.floor((now.getTime() - then) / 1000))
  if (s < 60) return `${s}s`
  if (s < 3600) return `${Math.floor(s / 60)}m`
  if (s < 86400) return `${Math.floor(s / 3600)}h`
  return `${Math.floor(s / 86400)}d`
}

/** `0 B`, `999 B`, `1.5 KiB`, `12 MiB` (one decimal below 10 of a unit); `-` when unknown. */
export function formatBytes(bytes: number | undefined): string {
  if (bytes === undefined || !Number.isFinite(bytes)) return '-'
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB']
  let v = bytes
  let i = 0
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024
    i++
  }
  if (i === 0) return `${bytes} B`
  return `${v < 10 ? v.toFixed(1) : Math.round(v).toString()} ${units[i]}`
}

/** Where a target came from, when the address alone does not say it (a DNS name, an IP Group). */
function hostNote(t: TargetStatus): string | null {
  if (t.host === t.address) return null
  const ipGroup = /\/ipGroups\/([^/]+)$/i.exec(t.host)
  return ipGroup ? `from ipGroup ${ipGroup[1]}` : `from ${t.host}`
}

function stateCell(t: TargetStatus): Cell {
  // Out of rotation on evidence from its own traffic (passive health), whatever the active check says.
  if (t.ejected) return cell('ejected', 'red')
  return cell(t.state, t.state === 'healthy' ? 'green' : t.state === 'unhealthy' ? 'red' : 'yellow')
}

/** Colours `c.text`, resetting before any padding (and so before every newline). */
function paint(c: Cell, color: boolean, width = 0): string {
  const padded = c.text.padEnd(width)
  if (!color || !c.paint || c.text === '') return padded
  return `\u001b[${CODES[c.paint]}m${c.text}\u001b[0m${padded.slice(c.text.length)}`
}

/** Joins cells two spaces apart, padding each column to `widths`; trailing blanks are trimmed. */
function joinRow(cells: Cell[], widths: number[], color: boolean): string {
  const last = cells.reduce((n, c, i) => (c.text === '' ? n : i), -1)
  return cells
    .slice(0, last + 1)
    .map((c, i) => paint(c, color, i === last ? 0 : widths[i] ?? 0))
    .join('  ')
}

/** Splits `text` into lines of at most `width` characters, at spaces where it can. */
function wrap(text: string, width: number): string[] {
  const out: string[] = []
  for (const para of text.split('\n')) {
    let rest = para
    while (rest.length > width) {
      const cut = rest.lastIndexOf(' ', width)
      const at = cut > width / 2 ? cut : width
      out.push(rest.slice(0, at))
      rest = rest.slice(at).trimStart()
    }
    out.push(rest)
  }
  return out
}

/** Indented detail lines (reasons, where a target came from), each painted on its own line. */
function details(indent: string, texts: Array<[string, Paint]>, color: boolean): string[] {
  return texts.flatMap(([text, p]) => wrap(text, WIDTH - indent.length).map((l) => `${indent}${paint(cell(l, p), color)}`))
}

/** The table is meant for 80 columns; reasons wrap to it. */
const WIDTH = 80

/** ROT: in rotation (gets new connections); W: weight; LABEL: the metrics label of the target. */
const HEADER = ['LISTENER/LABEL', 'ADDRESS', 'STATE', 'SINCE', 'W', 'ROT', 'CONNS', 'BYTES']

function targetRow(t: TargetStatus, now: Date): Cell[] {
  return [
    cell(`  ${t.label ?? '-'}`),
    cell(`${t.address}:${t.port}`),
    stateCell(t),
    cell(formatAge(t.since, now)),
    cell(t.weight === undefined ? '-' : String(t.weight)),
    t.inRotation === undefined ? cell('-') : t.inRotation ? cell('yes') : cell('no', 'dim'),
    cell(t.connections === undefined ? '-' : String(t.connections)),
    cell(formatBytes(t.bytes)),
  ]
}

function listenerRow(l: ListenerStatus): Cell[] {
  return [cell(l.name), cell(`${l.protocol}/${l.port}`), l.serving ? cell('serving', 'green') : cell('NOT SERVING', 'red')]
}

/** The node's word: draining is its own state (its /health may well be Healthy), not NOT READY. */
function nodeState(n: Status['node']): Cell {
  if (n.draining) return cell('draining', 'yellow')
  return n.ready ? cell('ready', 'green') : cell('NOT READY', 'red')
}

/** The summary line, first, as `systemctl status` puts the verdict first. */
function summaryLine(status: Status, now: Date, color: boolean): string {
  const n = status.node
  const targets = status.listeners.flatMap((l) => l.targets)
  const healthy = targets.filter((t) => t.state === 'healthy').length
  const serving = status.listeners.filter((l) => l.serving).length
  const sync = n.inSync
    ? cell(n.lastSyncAt ? `synced ${formatAge(n.lastSyncAt, now)} ago` : 'in sync')
    : cell(n.lastSyncAt ? `NOT IN SYNC (last synced ${formatAge(n.lastSyncAt, now)} ago)` : 'NOT IN SYNC (never synced)', 'red')
  return `fwdd ${n.version} ${paint(nodeState(n), color)}, ${paint(sync, color)}; ` +
    `${paint(cell(`${serving}/${status.listeners.length} listeners serving`, serving < status.listeners.length ? 'red' : null), color)}, ` +
    `${paint(cell(`${healthy}/${targets.length} targets healthy`, healthy < targets.length ? 'yellow' : null), color)}`
}

/**
 * The whole table, lines joined by `\n` with a final newline: a summary line, the node's errors,
 * a header row, then each listener with one row per target and its reasons on lines of their own.
 * Columns align across every listener; colour never changes the visible text or its alignment.
 */
export function formatStatusTable(status: Status, opts: StatusTableOptions): string {
  const n = status.node
  const lines = [summaryLine(status, opts.now, opts.color)]
  const nodeNotes: Array<[string, Paint]> = []
  if (n.lastError) nodeNotes.push([`last error: ${n.lastError}`, 'red'])
  for (const e of n.azure?.errors ?? []) nodeNotes.push([`azure: ${e}`, 'red'])
  for (const w of n.azure?.warnings ?? []) nodeNotes.push([`azure warning: ${w}`, 'yellow'])
  if (n.ipForwarding === false) nodeNotes.push(['IP forwarding is off (net.ipv4.ip_forward = 0)', 'red'])
  if (n.passive && (n.passive.mode === 'fallback' || n.passive.mode === 'unavailable')) nodeNotes.push([`passive health ${n.passive.mode}: ${n.passive.reason ?? 'active checks only'}`, 'yellow'])
  lines.push(...details('  ', nodeNotes, opts.color))
  if (status.listeners.length === 0) {
    lines.push('', 'no listeners configured')
    return lines.join('\n') + '\n'
  }
  const rows = status.listeners.flatMap((l) => [listenerRow(l), ...l.targets.map((t) => targetRow(t, opts.now))])
  const widths: number[] = []
  for (const row of [HEADER.map((h) => cell(h)), ...rows]) row.forEach((c, i) => { widths[i] = Math.max(widths[i] ?? 0, c.text.length) })
  lines.push('', joinRow(HEADER.map((h) => cell(h)), widths, false))
  for (const l of status.listeners) {
    lines.push(joinRow(listenerRow(l), widths, opts.color))
    if (l.targets.length === 0) lines.push('  (no targets)')
    for (const t of l.targets) {
      lines.push(joinRow(targetRow(t, opts.now), widths, opts.color))
      const notes: Array<[string, Paint]> = []
      const from = hostNote(t)
      if (from) notes.push([from, null])
      if (t.lastError) notes.push([`reason: ${t.lastError}`, 'red'])
      if (t.ejected) notes.push([`may return from ${t.ejected.until} after check.rise active successes (recent ejections: ${t.ejected.ejections})`, null])
      if (t.ejectionHeld) notes.push([`not ejected: ${t.ejectionHeld}`, 'yellow'])
      lines.push(...details('      ', notes, opts.color))
    }
  }
  return lines.join('\n') + '\n'
}

/**
 * `fwdctl status` exit code (CONTRACT.md): 0 when the node is ready (rules in sync, not draining,
 * every listener serving, as the daemon decided it: node-status.ts); 1 otherwise, including when
 * there are no listeners (as `/lb` answers 503 then). Code 2 (daemon unreachable) is the caller's.
 * It reads the daemon's verdicts and never re-derives them.
 */
export function statusExitCode(status: Status): 0 | 1 {
  return status.node.ready && status.listeners.length > 0 && status.listeners.every((l) => l.serving) ? 0 : 1
}
