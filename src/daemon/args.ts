/**
 * Command-line flags of `fwdd` (CONTRACT.md: --config, --check, --socket / FWDD_SOCKET,
 * --config-from imds) plus --state-dir (drain state), --log-level, --log-format and --version.
 * Strict: an unknown flag, a stray word or a bad value throws `UsageError`, which the daemon
 * reports with the usage text and exit code 64 (src/defaults.ts).
 */
import { parseArgs } from 'node:util'
import { DEFAULT_CONFIG, DEFAULT_SOCKET, DEFAULT_STATE_DIR } from '../defaults.js'
import type { ErrorCode } from '../errors.js'

export { DEFAULT_CONFIG, DEFAULT_SOCKET, DEFAULT_STATE_DIR }

/** pino's levels; `--log-level` takes one of them. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const
export type LogLevel = (typeof LOG_LEVELS)[number]

export interface DaemonArgs {
  config: string
  configFrom: 'file' | 'imds'
  check: boolean
  socket: string
  stateDir: string
  logLevel: LogLevel
  /** `json` (one object a line, for journald and log shippers) or `pretty` (one readable line). */
  logFormat: 'json' | 'pretty'
  help: boolean
  version: boolean
}

/** A wrong command line: the message names the flag and what to write instead. */
export class UsageError extends Error {
  /** Its code in the catalogue (src/errors.ts). */
  readonly code: ErrorCode = 'FWD_ERR_USAGE'
  constructor(message: string) {
    super(message)
    this.name = 'UsageError'
  }
}

export function parseDaemonArgs(argv: string[], env: NodeJS.ProcessEnv): DaemonArgs {
  let values
  try {
    ;({ values } = parseArgs({
      args: argv,
      options: {
        config: { type: 'string' },
        'config-from': { type: 'string' },
        check: { type: 'boolean', default: false },
        socket: { type: 'string' },
        'state-dir': { type: 'string' },
        'log-level': { type: 'string' },
        'log-format': { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
        version: { type: 'boolean', short: 'V', default: false },
      },
      strict: true,
      allowPositionals: false,
    }))
  } catch (err: unknown) {
    throw new UsageError(err instanceof Error ? err.message : String(err))
  }
  const from = values['config-from'] ?? 'file'
  if (from !== 'file' && from !== 'imds') throw new UsageError(`--config-from must be "file" or "imds", not "${from}"`)
  if (from === 'imds' && values.config !== undefined) throw new UsageError('--config and --config-from imds exclude each other; give one')
  const logLevel = values['log-level'] ?? env.FWDD_LOG_LEVEL ?? 'info'
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(', ')}, not "${logLevel}"`)
  const logFormat = values['log-format'] ?? env.FWDD_LOG_FORMAT ?? 'json'
  if (logFormat !== 'json' && logFormat !== 'pretty') throw new UsageError(`--log-format must be "json" or "pretty", not "${logFormat}"`)
  return {
    config: values.config ?? DEFAULT_CONFIG,
    configFrom: from,
    check: values.check ?? false,
    socket: values.socket ?? env.FWDD_SOCKET ?? DEFAULT_SOCKET,
    stateDir: values['state-dir'] ?? env.FWDD_STATE_DIR ?? DEFAULT_STATE_DIR,
    logLevel: logLevel as LogLevel,
    logFormat,
    help: values.help ?? false,
    version: values.version ?? false,
  }
}

export const DAEMON_USAGE = `usage: fwdd [--config PATH | --config-from imds] [--socket PATH] [--state-dir DIR]
            [--log-level LEVEL] [--log-format json|pretty]
       fwdd --check --config PATH
       fwdd --version | --help
  --config PATH       the config file (default ${DEFAULT_CONFIG})
  --config-from imds  read the config from the instance's userData in Azure IMDS
  --check             validate the config and exit: 0 valid, 1 invalid
  --socket PATH       control socket (default ${DEFAULT_SOCKET}; env FWDD_SOCKET)
  --state-dir DIR     where drain state is kept (default ${DEFAULT_STATE_DIR}; env FWDD_STATE_DIR)
  --log-level LEVEL   ${LOG_LEVELS.join(' | ')} (default info; env FWDD_LOG_LEVEL)
  --log-format FMT    json (default; env FWDD_LOG_FORMAT) or pretty (one readable line per entry)
  -V, --version       print the version and exit
exit codes: 0 ok, 1 invalid config or failed start, 64 usage error (docs/exit-codes.md)
`
