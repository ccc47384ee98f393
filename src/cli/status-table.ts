/**
 * The human form of `fwdctl status` (the `--json` form is the `Status` object itself), in the manner
 * of `ipvsadm -Ln --stats` and `tailscale status`: one node line, then each listener with one line per
 * target. Pure: the CLI passes `now` and whether stdout is a terminal, so output is testable text.
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

/** How the configured host is shown next to the address, when it says something the address does not. */
function hostNote(t: TargetStatus): string {
  if (t.host === t.address) return ''
  const ipGroup = /\/ipGroups\/([^/]+)$/i.exec(t.host)
  return ipGroup ? ` (ipGroup ${ipGroup[1]})` : ` (${t.host})`
}

function stateCell(t: TargetStatus): Cell {
  return cell(t.state, t.state === 'healthy' ? 'green' : t.state === 'unhealthy' ? 'red' : 'yellow')
}

function targetRow(t: TargetStatus, now: Date): Cell[] {
  return [
    cell(`${t.address}:${t.port}${hostNote(t)}`),
    stateCell(t),
    cell(`${formatAge(t.since, now)} ago`),
    cell(t.connections === undefined ? '- conns' : `${t.connections} conns`),
    cell(formatBytes(t.bytes)),
    t.inRotation === undefined ? cell('') : t.inRotation ? cell('in rotation') : cell('out of rotation', 'dim'),
    cell(t.lastError ?? '', t.lastError ? 'red' : null),
  ]
}

function paint(c: Cell, color: boolean, width = 0): string {
  const padded = c.text.padEnd(width)
  if (!color || !c.paint || c.text === '') return padded
  // Colour the text only, not the padding, so trailing-space trimming still works.
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

function nodeLine(status: Status, now: Date, color: boolean): string[] {
  const n = status.node
  const cells = [
    cell('node'),
    n.ready ? cell('ready', 'green') : cell('NOT READY', 'red'),
    n.draining ? cell('draining', 'yellow') : cell('not draining'),
    n.inSync ? cell('in sync') : cell('NOT IN SYNC', 'red'),
    cell(n.lastSyncAt ? `synced ${formatAge(n.lastSyncAt, now)} ago` : 'never synced', n.lastSyncAt ? null : 'yellow'),
    cell(`fwdd ${n.version}`),
  ]
  const lines = [joinRow(cells, [], color)]
  if (n.lastError) lines.push(`  ${paint(cell(`last error: ${n.lastError}`, 'red'), color)}`)
  for (const e of n.azure?.errors ?? []) lines.push(`  ${paint(cell(`azure: ${e}`, 'red'), color)}`)
  return lines
}

function listenerLine(l: ListenerStatus, color: boolean): string {
  const cells = [cell(l.name), cell(`${l.protocol}/${l.port}`), l.serving ? cell('serving', 'green') : cell('NOT SERVING', 'red')]
  return joinRow(cells, [], color)
}

/**
 * The whole table, lines joined by `\n` with a final newline. Target columns are aligned across
 * every listener; colour never changes the visible text or its alignment.
 */
export function formatStatusTable(status: Status, opts: StatusTableOptions): string {
  const lines = nodeLine(status, opts.now, opts.color)
  const rows = status.listeners.map((l) => l.targets.map((t) => targetRow(t, opts.now)))
  const widths: number[] = []
  for (const row of rows.flat()) row.forEach((c, i) => { widths[i] = Math.max(widths[i] ?? 0, c.text.length) })
  if (status.listeners.length === 0) lines.push('', 'no listeners configured')
  status.listeners.forEach((l, i) => {
    lines.push('', listenerLine(l, opts.color))
    const targetRows = rows[i] ?? []
    if (targetRows.length === 0) lines.push('  (no targets)')
    for (const row of targetRows) lines.push(`  ${joinRow(row, widths, opts.color)}`)
  })
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
