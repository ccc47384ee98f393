/**
 * The target labels legend that `fwdctl rules` prints after the rule set: each metrics label
 * (`fwdd_target_*{target="..."}`) with the address it names on this node, as `#` comment lines,
 * which iptables-restore ignores, so the output can still be fed back to it.
 */
import type { Status } from '../status.js'

export function labelLegend(status: Status): string {
  const rows = status.listeners.flatMap((l) => l.targets.map((t) => ({ label: t.label ?? '-', where: `${l.protocol}/${l.port} -> ${t.address}:${t.port}`, host: t.host })))
  if (rows.length === 0) return ''
  const width = Math.max(...rows.map((r) => r.label.length))
  const lines = rows.map((r) => `# ${r.label.padEnd(width)}  ${r.where}${r.host !== r.where.split(' -> ')[1]!.split(':')[0] ? ` (${r.host})` : ''}`)
  return `# target labels (metrics target="..." -> this node's target):\n${lines.join('\n')}\n`
}
