/**
 * Command-line flags of `fwdd` (CONTRACT.md: --config, --check, --socket / FWDD_SOCKET,
 * --config-from imds) plus --state-dir (drain state) and --log-level.
 */
import { parseArgs } from 'node:util'

export const DEFAULT_CONFIG = '/etc/fwdd/config.yaml'
export const DEFAULT_SOCKET = '/run/fwdd/fwdd.sock'
export const DEFAULT_STATE_DIR = '/var/lib/fwdd'

export interface DaemonArgs {
  config: string
  configFrom: 'file' | 'imds'
  check: boolean
  socket: string
  stateDir: string
  logLevel: string
  help: boolean
  /** `--version`: print the version and exit 0 (the package's smoke test runs it). */
  version: boolean
}

export function parseDaemonArgs(argv: string[], env: NodeJS.ProcessEnv): DaemonArgs {
  const { values } = parseArgs({
    args: argv,
    options: {
      config: { type: 'string' },
      'config-from': { type: 'string' },
      check: { type: 'boolean', default: false },
      socket: { type: 'string' },
      'state-dir': { type: 'string' },
      'log-level': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
      version: { type: 'boolean', default: false },
    },
    strict: true,
    allowPositionals: false,
  })
  const from = values['config-from'] ?? 'file'
  if (from !== 'file' && from !== 'imds') throw new Error(`--config-from must be "file" or "imds", not "${from}"`)
  return {
    config: values.config ?? DEFAULT_CONFIG,
    configFrom: from,
    check: values.check ?? false,
    socket: values.socket ?? env.FWDD_SOCKET ?? DEFAULT_SOCKET,
    stateDir: values['state-dir'] ?? env.FWDD_STATE_DIR ?? DEFAULT_STATE_DIR,
    logLevel: values['log-level'] ?? env.FWDD_LOG_LEVEL ?? 'info',
    help: values.help ?? false,
    version: values.version ?? false,
  }
}

export const DAEMON_USAGE = `usage: fwdd [--config PATH | --config-from imds] [--socket PATH] [--state-dir DIR] [--log-level LEVEL]
       fwdd --check --config PATH
       fwdd --version
  --config PATH       the config file (default ${DEFAULT_CONFIG})
  --config-from imds  read the config from the instance's userData in Azure IMDS
  --check             validate the config and exit: 0 valid, 1 invalid
  --socket PATH       control socket (default ${DEFAULT_SOCKET}; env FWDD_SOCKET)
  --state-dir DIR     where drain state is kept (default ${DEFAULT_STATE_DIR}; env FWDD_STATE_DIR)
`
