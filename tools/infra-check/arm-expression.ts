/**
 * Evaluates what `bicep snapshot` leaves as ARM template expressions (`[fn(...)]`): the parts of
 * a predicted resource that depend on a value known only at deployment, such as the identity's
 * client ID inside the fwdd config. Only the functions those parts use are implemented; any other
 * function is an error naming it, so a template change that needs more fails loudly here.
 * `reference(id, apiVersion)` reads from the `references` the caller supplies (stand-in values).
 */

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json }

/** Stand-in runtime properties, keyed by resource ID (case-insensitive). */
export type References = Record<string, Record<string, Json>>

type Token = { kind: 'str' | 'num' | 'id' | 'punct'; text: string }

function tokenize(src: string): Token[] {
  const out: Token[] = []
  let i = 0
  while (i < src.length) {
    const c = src[i] as string
    if (c === ' ' || c === '\n' || c === '\t' || c === '\r') { i++; continue }
    if (c === "'") {
      let s = ''
      i++
      for (;;) {
        if (i >= src.length) throw new Error('unterminated string literal in ARM expression')
        if (src[i] === "'") {
          if (src[i + 1] === "'") { s += "'"; i += 2; continue }
          i++
          break
        }
        s += src[i++]
      }
      out.push({ kind: 'str', text: s })
    } else if (/[0-9-]/.test(c)) {
      const m = /^-?[0-9]+/.exec(src.slice(i)) as RegExpExecArray
      out.push({ kind: 'num', text: m[0] }); i += m[0].length
    } else if (/[A-Za-z_]/.test(c)) {
      const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(src.slice(i)) as RegExpExecArray
      out.push({ kind: 'id', text: m[0] }); i += m[0].length
    } else if ('(),.[]'.includes(c)) {
      out.push({ kind: 'punct', text: c }); i++
    } else throw new Error(`unexpected character ${JSON.stringify(c)} in ARM expression`)
  }
  return out
}

function lookup(v: Json, key: string | number): Json {
  if (Array.isArray(v) && typeof key === 'number') return v[key] ?? null
  if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
    const found = Object.keys(v).find((k) => k.toLowerCase() === String(key).toLowerCase())
    if (found !== undefined) return v[found] as Json
  }
  throw new Error(`ARM expression reads ${JSON.stringify(key)} of a value that has none`)
}

/** Evaluates one expression (without the surrounding brackets). */
export function evaluateExpression(src: string, references: References = {}): Json {
  const tokens = tokenize(src)
  let pos = 0
  const peek = (): Token | undefined => tokens[pos]
  const expect = (text: string): void => {
    const t = tokens[pos++]
    if (t?.text !== text) throw new Error(`expected "${text}" in ARM expression, found ${t?.text ?? 'the end'}`)
  }
  const call = (name: string, args: Json[]): Json => {
    switch (name.toLowerCase()) {
      case 'createobject': {
        const o: Record<string, Json> = {}
        for (let k = 0; k < args.length; k += 2) o[String(args[k])] = args[k + 1] ?? null
        return o
      }
      case 'createarray': return args
      case 'string': return typeof args[0] === 'string' ? args[0] : JSON.stringify(args[0])
      case 'base64': return Buffer.from(String(args[0]), 'utf8').toString('base64')
      case 'replace': return String(args[0]).split(String(args[1])).join(String(args[2]))
      case 'concat': return args.every(Array.isArray) ? (args as Json[][]).flat() : args.map(String).join('')
      case 'true': return true
      case 'false': return false
      case 'null': return null
      case 'reference': {
        const id = String(args[0]).toLowerCase()
        const key = Object.keys(references).find((k) => k.toLowerCase() === id)
        if (key === undefined) throw new Error(`ARM expression references ${String(args[0])}, which has no stand-in value`)
        return references[key] as Json
      }
      default: throw new Error(`ARM function ${name}() is not supported by infra-check`)
    }
  }
  const primary = (): Json => {
    const t = tokens[pos++]
    if (t === undefined) throw new Error('ARM expression ends early')
    let v: Json
    if (t.kind === 'str') v = t.text
    else if (t.kind === 'num') v = Number(t.text)
    else if (t.kind === 'id') {
      const args: Json[] = []
      if (peek()?.text === '(') {
        expect('(')
        while (peek()?.text !== ')') {
          args.push(primary())
          if (peek()?.text === ',') pos++
        }
        expect(')')
      }
      v = call(t.text, args)
    } else throw new Error(`unexpected "${t.text}" in ARM expression`)
    for (;;) {
      if (peek()?.text === '.') { pos++; v = lookup(v, (tokens[pos++] as Token).text) }
      else if (peek()?.text === '[') { pos++; const k = primary(); expect(']'); v = lookup(v, k as string | number) }
      else return v
    }
  }
  const value = primary()
  if (pos !== tokens.length) throw new Error(`trailing text in ARM expression after token ${pos}`)
  return value
}

/**
 * Replaces every `[expression]` string in a JSON value by its value where it can be computed;
 * one that cannot (an unsupported function, a reference without a stand-in) stays as it was, for
 * the reader of that property to report. `[[` escapes become text.
 */
export function evaluateDeep(v: Json, references: References = {}): Json {
  if (typeof v === 'string') {
    if (v.startsWith('[[')) return v.slice(1)
    if (!(v.startsWith('[') && v.endsWith(']'))) return v
    try {
      return evaluateExpression(v.slice(1, -1), references)
    } catch {
      return v
    }
  }
  if (Array.isArray(v)) return v.map((x) => evaluateDeep(x, references))
  if (v !== null && typeof v === 'object') {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, evaluateDeep(x, references)]))
  }
  return v
}
