/**
 * `fwdctl cloud-init --config PATH --deb-url URL [--output PATH]`: prints (or writes) the
 * scale set's customData, the shipped cloud-init template with the config embedded. The config is
 * validated first, so a typo fails here, at deploy time, and not on every node at boot.
 */
import { writeFile as fsWriteFile } from 'node:fs/promises'
import { parseArgs } from 'node:util'
import { formatProblems, parseConfig } from '../config/load.js'
import { renderUserData, UserDataError } from '../cloud-init/render.js'
import { EXIT } from '../defaults.js'

export interface CloudInitIo {
  stdout: (s: string) => void
  stderr: (s: string) => void
  readFile: (p: string) => Promise<string>
  /** Used for `--output`; defaults to writing the file with node:fs. */
  writeFile?: (p: string, data: string) => Promise<void>
  /** Template text instead of the shipped `cloud-init/user-data.yaml` (tests). */
  template?: string
}

const USAGE = 'usage: fwdctl cloud-init --config PATH --deb-url URL [--output PATH]\n'

/**
 * Runs the subcommand; `args` are the words after `cloud-init`. Returns the exit code: 0 written,
 * 1 the config is invalid (one problem a line, as `fwdd --check` prints them) or cannot be read,
 * 64 (EXIT.usage, like every other fwdctl usage error) wrong usage or a package URL that cannot
 * go into user-data. Writes nothing on failure.
 */
export async function cloudInitCommand(args: string[], io: CloudInitIo): Promise<number> {
  let values: { config?: string; 'deb-url'?: string; output?: string; help?: boolean }
  try {
    ;({ values } = parseArgs({
      args,
      options: {
        config: { type: 'string' },
        'deb-url': { type: 'string' },
        output: { type: 'string', short: 'o' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }))
  } catch (err: unknown) {
    io.stderr(`fwdctl cloud-init: ${err instanceof Error ? err.message : String(err)}\n${USAGE}`)
    return EXIT.usage
  }
  if (values.help === true) {
    io.stdout(USAGE)
    return 0
  }
  const configPath = values.config
  const debUrl = values['deb-url']
  if (configPath === undefined || debUrl === undefined) {
    io.stderr(`fwdctl cloud-init: --config and --deb-url are required\n${USAGE}`)
    return EXIT.usage
  }

  let configText: string
  try {
    configText = await io.readFile(configPath)
  } catch (err: unknown) {
    const code = err instanceof Error && 'code' in err ? String(err.code) : 'error'
    io.stderr(`${configPath}:1:1: (file): cannot read the config (${code}); check the path given to --config\n`)
    return 1
  }
  const checked = parseConfig(configText, configPath)
  if (!checked.ok) {
    io.stderr(`${formatProblems(checked.problems)}\n`)
    return 1
  }

  let userData: string
  try {
    userData = renderUserData({ configText, debUrl, ...(io.template !== undefined ? { template: io.template } : {}) })
  } catch (err: unknown) {
    if (!(err instanceof UserDataError)) throw err
    io.stderr(`fwdctl cloud-init: ${err.message}\n${USAGE}`)
    return EXIT.usage
  }

  if (values.output === undefined) {
    io.stdout(userData)
    return 0
  }
  const write = io.writeFile ?? ((p: string, data: string) => fsWriteFile(p, data, 'utf8'))
  try {
    await write(values.output, userData)
  } catch (err: unknown) {
    io.stderr(`fwdctl cloud-init: writing ${values.output}: ${err instanceof Error ? err.message : String(err)}\n`)
    return 1
  }
  return 0
}
