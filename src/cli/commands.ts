/**
 * fwdctl's commands, their flags and usage lines, in one table: the parser (src/cli/main.ts) refuses
 * anything not listed here, so a flag works only where it is written, and `-h` prints the entry.
 */
import type { ParseArgsConfig } from 'node:util'

type Options = NonNullable<ParseArgsConfig['options']>

export interface CommandSpec {
  /** Flags besides the global `--socket PATH` and `-h/--help`. */
  options: Options
  /** The usage line (after `fwdctl `) and what it does. */
  usage: string
  summary: string
  /** Parsed by the command itself (cloud-init keeps its own parser). */
  ownParser?: boolean
}

export const COMMANDS: Record<string, CommandSpec> = {
  status: { options: { json: { type: 'boolean' } }, usage: 'status [--json]', summary: 'listeners, targets and node state (exit 0 ok, 1 degraded, 2 daemon unreachable)' },
  rules: { options: {}, usage: 'rules', summary: 'the rule set as applied (iptables-save text of fwdd\'s chains), then the target labels' },
  reload: { options: {}, usage: 'reload', summary: 're-read the config (same as SIGHUP); prints what changed; exit 3 when some of it waits for a restart' },
  drain: { options: {}, usage: 'drain', summary: 'make /lb* answer 503 so the LB stops sending new flows (forwarding goes on)' },
  undrain: { options: {}, usage: 'undrain', summary: 'answer /lb* normally again' },
  cleanup: { options: { 'dry-run': { type: 'boolean' } }, usage: 'cleanup [--dry-run]', summary: 'remove every chain and jump fwdd created (works with the daemon stopped); --dry-run lists them' },
  doctor: { options: { config: { type: 'string' }, azure: { type: 'boolean' } }, usage: 'doctor [--config PATH] [--azure]', summary: 'local (and Azure) checks, one verdict per line; exit 1 when any fails' },
  'cloud-init': { options: {}, usage: 'cloud-init --config PATH --deb-url URL [--output PATH]', summary: 'render the scale set\'s user-data with the config embedded', ownParser: true },
  help: { options: {}, usage: 'help [COMMAND]', summary: 'this text, or one command\'s' },
}

/** The usage text of one command. */
export function commandUsage(name: string): string {
  const c = COMMANDS[name]
  return c ? `usage: fwdctl [--socket PATH] ${c.usage}\n  ${c.summary}\n` : ''
}

/** The whole usage text. */
export function usageText(): string {
  const width = Math.max(...Object.values(COMMANDS).map((c) => c.usage.length))
  const lines = Object.values(COMMANDS).map((c) => (c.usage.length > 34 ? `  ${c.usage}\n  ${' '.repeat(36)}${c.summary}` : `  ${c.usage.padEnd(Math.min(width, 34))}  ${c.summary}`))
  return `usage: fwdctl [--socket PATH] COMMAND [FLAGS]
       fwdctl --version | --help | COMMAND --help
commands:
${lines.join('\n')}
--socket PATH (env FWDD_SOCKET) is the daemon's control socket, default /run/fwdd/fwdd.sock.
exit codes: 0 ok, 1 degraded or failed, 2 daemon unreachable, 3 reload needs a restart, 64 usage error
`
}
