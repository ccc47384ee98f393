/**
 * `fwdctl`: the operator's CLI. It asks the daemon over the control socket (a typed client) and
 * prints; it never reads iptables itself, except `cleanup`, which must work with the daemon stopped
 * (it removes what fwdd made on both backends: the iptables chains and jumps, and the nft table).
 * Strict: an unknown command, flag or stray word is a usage error (exit 64, with that command's
 * usage), never ignored. Returns an exit code (src/defaults.ts, docs/exit-codes.md); only the bin
 * file exits.
 */
import { readFile } from 'node:fs/promises'
import { parseArgs } from 'node:util'
import { DEFAULT_SOCKET, EXIT } from '../defaults.js'
import { ControlClient, ControlReplyError, DaemonUnreachableError } from '../control/control-client.js'
import { describeChanges, isUnchanged, type ReloadReply } from '../control/reload-reply.js'
import { formatStatusTable, statusExitCode } from './status-table.js'
import { COMMANDS, commandUsage, usageText } from './commands.js'
import { cloudInitCommand } from './cloud-init-command.js'
import { runDoctorCommand } from './doctor-command.js'
import { runCleanup } from './cleanup-command.js'
import { labelLegend } from './labels.js'
import { messageOf } from '../errors.js'
import { VERSION } from '../version.js'
import type { ErrorCode } from '../errors.js'

export interface CliIo {
  stdout(text: string): void
  stderr(text: string): void
  isTty: boolean
  env: NodeJS.ProcessEnv
}

/** The whole usage text (kept as an export for callers of the old name). */
export const USAGE = usageText()

class UsageError extends Error {
  /** Its code in the catalogue (src/errors.ts). */
  readonly code: ErrorCode = 'FWD_ERR_USAGE'
  constructor(message: string, readonly command?: string) {
    super(message)
  }
}

interface Parsed {
  command: string | undefined
  socket?: string
  help: boolean
  version: boolean
  /** The words after the command, without `--socket PATH`. */
  rest: string[]
}

/** Splits global flags from the command; `--socket` may stand before or after the command. */
function splitArgv(argv: string[]): Parsed {
  const out: Parsed = { command: undefined, help: false, version: false, rest: [] }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!
    if (a === '--socket' || a.startsWith('--socket=')) {
      const v = a === '--socket' ? argv[++i] : a.slice('--socket='.length)
      if (v === undefined || v === '' || v.startsWith('-')) throw new UsageError('--socket needs a path, e.g. --socket /run/fwdd/fwdd.sock', out.command)
      out.socket = v
    } else if (out.command !== undefined) {
      out.rest.push(a)
    } else if (a === '-h' || a === '--help') {
      out.help = true
    } else if (a === '-V' || a === '--version') {
      out.version = true
    } else if (a.startsWith('-')) {
      throw new UsageError(`unknown option "${a}"`)
    } else {
      out.command = a
    }
  }
  return out
}

/** Parses a command's words strictly against its table entry. */
function commandFlags(command: string, rest: string[]): { values: Record<string, string | boolean | undefined>; positionals: string[] } {
  const spec = COMMANDS[command]!
  try {
    const r = parseArgs({ args: rest, options: { ...spec.options, help: { type: 'boolean', short: 'h' } }, strict: true, allowPositionals: command === 'help' })
    if (command === 'help' && r.positionals.length > 1) throw new Error(`unexpected argument "${r.positionals[1]}"`)
    return { values: r.values as Record<string, string | boolean | undefined>, positionals: r.positionals }
  } catch (err: unknown) {
    throw new UsageError(messageOf(err).replace(/\. To specify a positional argument.*$/s, ''), command)
  }
}

export async function runCli(argv: string[], io: CliIo): Promise<number> {
  let parsed: Parsed
  try {
    parsed = splitArgv(argv)
    if (parsed.command !== undefined && !(parsed.command in COMMANDS)) throw new UsageError(`unknown command "${parsed.command}"`)
  } catch (err: unknown) {
    return usageError(err, io)
  }
  if (parsed.version) {
    io.stdout(`fwdctl ${VERSION}\n`)
    return EXIT.ok
  }
  const command = parsed.command
  if (command === undefined) {
    if (parsed.help) {
      io.stdout(usageText())
      return EXIT.ok
    }
    io.stderr(`fwdctl: a command is needed\n${usageText()}`)
    return EXIT.usage
  }
  if (COMMANDS[command]!.ownParser) {
    if (command === 'cloud-init') return cloudInitCommand(parsed.help ? ['--help'] : parsed.rest, { stdout: io.stdout, stderr: io.stderr, readFile: (p) => readFile(p, 'utf8') })
  }
  let flags: ReturnType<typeof commandFlags>
  try {
    flags = commandFlags(command, parsed.rest)
  } catch (err: unknown) {
    return usageError(err, io)
  }
  if (parsed.help || flags.values.help === true) {
    io.stdout(commandUsage(command))
    return EXIT.ok
  }
  const socket = parsed.socket ?? io.env.FWDD_SOCKET ?? DEFAULT_SOCKET
  const client = new ControlClient(socket)
  try {
    switch (command) {
      case 'status': {
        const s = await client.status()
        io.stdout(flags.values.json === true ? `${JSON.stringify(s, null, 2)}\n` : formatStatusTable(s, { color: io.isTty && !io.env.NO_COLOR, now: new Date() }))
        return statusExitCode(s)
      }
      case 'rules': {
        const text = await client.rules()
        const legend = await client.status().then(labelLegend, () => '')
        io.stdout(text + legend)
        return EXIT.ok
      }
      case 'reload': return printReload(await client.reload(), io)
      case 'drain':
        await client.setDraining(true)
        io.stdout('draining: /lb answers 503; established and arriving traffic is still forwarded\n')
        return EXIT.ok
      case 'undrain':
        await client.setDraining(false)
        io.stdout('undrained: /lb answers normally again\n')
        return EXIT.ok
      case 'cleanup': return await cleanup(flags.values['dry-run'] === true, client, io)
      case 'doctor': return await runDoctorCommand({ ...(typeof flags.values.config === 'string' ? { config: flags.values.config } : {}), azure: flags.values.azure === true }, { socket, io })
      case 'help': {
        const topic = flags.positionals[0]
        if (topic !== undefined && !(topic in COMMANDS)) return usageError(new UsageError(`unknown command "${topic}"`), io)
        io.stdout(topic ? commandUsage(topic) : usageText())
        return EXIT.ok
      }
      default:
        return usageError(new UsageError(`unknown command "${command}"`), io)
    }
  } catch (err: unknown) {
    if (err instanceof DaemonUnreachableError) {
      io.stderr(`fwdctl: ${err.message}\n`)
      return EXIT.unreachable
    }
    io.stderr(`fwdctl: ${err instanceof ControlReplyError ? err.message : `${command}: ${messageOf(err)}`}\n`)
    return EXIT.failed
  }
}

function usageError(err: unknown, io: CliIo): number {
  const command = err instanceof UsageError ? err.command : undefined
  io.stderr(`fwdctl: ${messageOf(err)}\n${command ? commandUsage(command) : usageText()}`)
  return EXIT.usage
}

/** Prints a reload reply: what changed, and (exit 3) what waits for a restart. */
export function printReload(reply: ReloadReply, io: Pick<CliIo, 'stdout' | 'stderr'>): number {
  if (!reply.ok) {
    io.stderr(`fwdctl: reload rejected; the last good config and rules stay in force:\n${reply.error}\n`)
    return EXIT.failed
  }
  if (!reply.changes) {
    io.stdout('reloaded (this fwdd does not report what changed; see journalctl -u fwdd)\n')
    return EXIT.ok
  }
  if (isUnchanged(reply.changes)) {
    io.stdout('reloaded: nothing changed\n')
    return EXIT.ok
  }
  io.stdout(`reloaded:\n${describeChanges(reply.changes).map((l) => `  ${l}\n`).join('')}`)
  if (reply.changes.restartNeeded.length > 0) {
    io.stderr('fwdctl: reloaded, but not everything is in force: the lines "waits for a restart" apply only after systemctl restart fwdd (exit 3)\n')
    return EXIT.restartNeeded
  }
  return EXIT.ok
}

async function cleanup(dryRun: boolean, client: ControlClient, io: CliIo): Promise<number> {
  // Loaded here: only cleanup touches the kernel, and only it needs the process runner.
  const [{ Applier }, { detectBackend }, { createDataplane }, { createProcessRunner, SpawnError }] = await Promise.all([
    import('../dataplane/applier.js'), import('../dataplane/backend.js'), import('../dataplane/dataplane.js'), import('../process/runner.js'),
  ])
  const runner = createProcessRunner()
  const applier = new Applier(runner, await detectBackend(runner, io.env.FWDD_IPTABLES))
  // Both backends, whichever the config names: a node may have been switched. The nftables
  // dataplane's cleanup deletes only fwdd's table; without nft installed there is no table.
  const nft = await createDataplane(runner, { backend: 'nftables' })
  const nftables = { cleanup: (o?: { dryRun?: boolean }) => nft.cleanup(o).catch((e: unknown) => { if (e instanceof SpawnError) return { removed: [] }; throw e }) }
  const probe = new ControlClient(client.socketPath, 1000)
  return runCleanup(dryRun, {
    applier,
    nftables,
    daemonRuns: () => probe.status().then(() => true, (e: unknown) => !(e instanceof DaemonUnreachableError)),
    stdout: io.stdout,
    stderr: io.stderr,
  })
}
