/**
 * `fwdctl`: the operator's CLI. It asks the daemon over the control socket and prints; it never
 * reads iptables itself, except `cleanup`, which must work with the daemon stopped. Returns an exit
 * code (CONTRACT.md: status 0 ok, 1 degraded, 2 daemon unreachable); only the bin file exits.
 */
import { readFile } from 'node:fs/promises'
import { parseArgs } from 'node:util'
import { DEFAULT_SOCKET } from '../daemon/args.js'
import { controlRequest, DaemonUnreachableError } from '../control/control-client.js'
import { formatStatusTable, statusExitCode } from './status-table.js'
import { cloudInitCommand } from './cloud-init-command.js'
import { runDoctorCommand } from './doctor-command.js'
import { Applier } from '../dataplane/applier.js'
import { detectBackend } from '../dataplane/backend.js'
import { createProcessRunner } from '../process/runner.js'
import { messageOf } from '../errors.js'
import type { Status } from '../status.js'

export interface CliIo {
  stdout(text: string): void
  stderr(text: string): void
  isTty: boolean
  env: NodeJS.ProcessEnv
}

export const USAGE = `usage: fwdctl [--socket PATH] COMMAND
commands:
  status [--json]     listeners, targets and node state (exit 0 ok, 1 degraded, 2 daemon unreachable)
  rules               the rule set as applied (iptables-save text of fwdd's chains)
  reload              re-read the config (same as SIGHUP); a bad config keeps the last good rules
  drain | undrain     make /lb* answer 503 (forwarding goes on) / answer normally again
  cleanup             remove every chain and jump fwdd created (works with the daemon stopped)
  doctor [--azure]    local checks, one verdict per line; non-zero exit when any fails
  cloud-init --config PATH --deb-url URL [--output PATH]
                      render the scale set's user-data with the config embedded
`

export async function runCli(argv: string[], io: CliIo): Promise<number> {
  const [command, rest] = splitGlobal(argv)
  const socket = rest.socket ?? io.env.FWDD_SOCKET ?? DEFAULT_SOCKET
  const args = rest.args
  try {
    switch (command) {
      case 'status': return await status(socket, args, io)
      case 'rules': return await simple(socket, 'GET', '/rules', io, (b) => b)
      case 'reload': return await simple(socket, 'POST', '/reload', io, () => 'reloaded\n')
      case 'drain': return await simple(socket, 'POST', '/drain', io, () => 'draining: /lb answers 503; established and arriving traffic is still forwarded\n')
      case 'undrain': return await simple(socket, 'POST', '/undrain', io, () => 'undrained\n')
      case 'cleanup': return await cleanup(socket, io)
      case 'doctor': return await runDoctorCommand(args, { socket, io })
      case 'cloud-init': return await cloudInitCommand(args, { stdout: io.stdout, stderr: io.stderr, readFile: (p) => readFile(p, 'utf8') })
      case undefined:
      case 'help':
      case '--help':
        io.stdout(USAGE)
        return command === undefined ? 64 : 0
      default:
        io.stderr(`fwdctl: unknown command "${command}"\n${USAGE}`)
        return 64
    }
  } catch (err: unknown) {
    if (err instanceof DaemonUnreachableError) {
      io.stderr(`fwdctl: ${err.message}\n`)
      return 2
    }
    io.stderr(`fwdctl: ${messageOf(err)}\n`)
    return 1
  }
}

/** Pulls `--socket PATH` from anywhere in argv; returns the command and the remaining args. */
function splitGlobal(argv: string[]): [string | undefined, { socket?: string; args: string[] }] {
  const out: string[] = []
  let socket: string | undefined
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!
    if (a === '--socket') socket = argv[++i]
    else if (a.startsWith('--socket=')) socket = a.slice('--socket='.length)
    else out.push(a)
  }
  const [command, ...args] = out
  return [command, { ...(socket ? { socket } : {}), args }]
}

async function status(socket: string, args: string[], io: CliIo): Promise<number> {
  const { values } = parseArgs({ args, options: { json: { type: 'boolean', default: false } }, strict: true })
  const res = await controlRequest(socket, 'GET', '/status')
  if (res.statusCode !== 200) throw new Error(`the daemon answered ${res.statusCode}: ${res.body}`)
  const s = JSON.parse(res.body) as Status
  io.stdout(values.json ? `${JSON.stringify(s, null, 2)}\n` : formatStatusTable(s, { color: io.isTty && !io.env.NO_COLOR, now: new Date() }))
  return statusExitCode(s)
}

async function simple(socket: string, method: 'GET' | 'POST', path: string, io: CliIo, ok: (body: string) => string): Promise<number> {
  const res = await controlRequest(socket, method, path)
  if (res.statusCode === 200) {
    io.stdout(ok(res.body))
    return 0
  }
  let message = res.body
  try {
    message = (JSON.parse(res.body) as { error?: string }).error ?? res.body
  } catch { /* plain text */ }
  io.stderr(`fwdctl: ${path.slice(1)} failed:\n${message}\n`)
  return 1
}

async function cleanup(socket: string, io: CliIo): Promise<number> {
  const runner = createProcessRunner()
  const applier = new Applier(runner, await detectBackend(runner, io.env.FWDD_IPTABLES))
  const r = await applier.cleanup()
  io.stdout(`removed ${r.chainsDeleted} chains and ${r.jumpsDeleted} jump rules\n`)
  try {
    await controlRequest(socket, 'GET', '/status', 1000)
    io.stderr('fwdctl: warning: fwdd is still running and will write its rules again at its next sync; stop it first (systemctl stop fwdd)\n')
  } catch { /* daemon stopped, as expected */ }
  return 0
}
