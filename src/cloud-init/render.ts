/**
 * Turns the shipped cloud-init template (`cloud-init/user-data.yaml`) into a scale set's customData:
 * the node's config is embedded (base64) and the URL of the release .deb filled in. The template is
 * also used as-is by Bicep's `replace()`, so rendering is nothing but plain string replacement of
 * the two placeholders; this module adds the checks a string replacement cannot make.
 */
import { existsSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import type { ErrorCode } from '../errors.js'

/** The placeholder for the Debian package's URL. It sits inside a double-quoted YAML string. */
export const DEB_URL_PLACEHOLDER = '{{FWDD_DEB_URL}}'
/** The placeholder for the base64 of the config YAML. It sits inside a double-quoted YAML string. */
export const CONFIG_B64_PLACEHOLDER = '{{FWDD_CONFIG_B64}}'

/**
 * Where the template is at run time: `cloud-init/` at the package root. This file runs as
 * `dist/cloud-init/render.js` or `src/cloud-init/render.ts` (two levels down from the root), or
 * inside the Debian package's bundle `/usr/lib/fwdd/bin/fwdctl.mjs` (one level down).
 */
export const defaultTemplatePath: string = [
  fileURLToPath(new URL('../../cloud-init/user-data.yaml', import.meta.url)),
  fileURLToPath(new URL('../cloud-init/user-data.yaml', import.meta.url)),
].find((p) => existsSync(p)) ?? fileURLToPath(new URL('../../cloud-init/user-data.yaml', import.meta.url))

/** A template or package URL that cannot make valid user-data. */
export class UserDataError extends Error {
  /** Its code in the catalogue (src/errors.ts). */
  readonly code: ErrorCode = 'FWD_ERR_USER_DATA'
  constructor(message: string) {
    super(message)
    this.name = 'UserDataError'
  }
}

export interface RenderUserDataOptions {
  /** The config YAML, embedded byte for byte (validate it before; see `cloudInitCommand`). */
  configText: string
  /** Where nodes download `fwdd_<version>_amd64.deb` from (https; a storage blob is read with the managed identity). */
  debUrl: string
  /** Template text; the shipped `cloud-init/user-data.yaml` when omitted. */
  template?: string
}

/**
 * Returns the `#cloud-config` user-data for one scale set. Deterministic; the only I/O is reading
 * the shipped template when `template` is omitted. Throws `UserDataError` when the URL is not a
 * plain https URL, or when the template lacks a placeholder or has one left over afterwards.
 */
export function renderUserData(opts: RenderUserDataOptions): string {
  const template = opts.template ?? readFileSync(defaultTemplatePath, 'utf8')
  checkDebUrl(opts.debUrl)
  for (const p of [DEB_URL_PLACEHOLDER, CONFIG_B64_PLACEHOLDER]) {
    if (!template.includes(p)) throw new UserDataError(`rendering cloud-init user-data: the template has no ${p} placeholder`)
  }
  const configB64 = Buffer.from(opts.configText, 'utf8').toString('base64')
  // Replacer functions, so a `$&` or `$1` in the URL is not read as a replacement pattern.
  const out = template.replaceAll(DEB_URL_PLACEHOLDER, () => opts.debUrl).replaceAll(CONFIG_B64_PLACEHOLDER, () => configB64)
  const left = /\{\{[A-Z0-9_]+\}\}/.exec(out)
  if (left) throw new UserDataError(`rendering cloud-init user-data: the template has an unknown placeholder ${left[0]}`)
  return out
}

/**
 * The URL lands inside a double-quoted YAML string and a shell argument, so it must not carry
 * quotes, backslashes, whitespace or control characters (a valid URL percent-encodes them).
 */
function checkDebUrl(url: string): void {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    throw new UserDataError(`rendering cloud-init user-data: package URL "${url}" is not a URL; give the https:// URL of fwdd_<version>_amd64.deb`)
  }
  // https only: cloud-init's download is `curl --proto =https`, and a package that runs as root
  // must not come over a channel anyone on the path can rewrite.
  if (parsed.protocol !== 'https:') {
    throw new UserDataError(`rendering cloud-init user-data: package URL must be https, not ${parsed.protocol}`)
  }
  // eslint-disable-next-line no-control-regex
  if (/["\\\s\u0000-\u001f\u007f]/.test(url)) {
    throw new UserDataError('rendering cloud-init user-data: package URL has a quote, backslash, space or control character; percent-encode it')
  }
}
