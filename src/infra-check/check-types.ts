/**
 * Holds Bicep files against Azure's published type data, the way the Bicep compiler would:
 * every `resource` type and API version must exist, every key written in an object literal must
 * be a property of the type at that place (with the exact casing), and no read-only property may
 * be set. Module references are followed, so a module's own file is checked too, and the keys
 * passed in a module's `params` must be parameters that the module declares.
 *
 * What it cannot see, it leaves alone: values computed by functions, loop variables, and object
 * types that do not constrain keys (`any`, free-form `settings`). Identifiers that name a `var`
 * are followed, so an object built in a variable is checked where it is used.
 */
import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { parseBicep, positionOf, syntaxErrors, type Diagnostic, type Node } from './bicep-parser.js'
import { childOfType, childrenOf, declarationParts, literalString, nestedResources, objectEntries, resolveResourceType } from './bicep-syntax.js'
import { PropertyFlags, TypeIndex, discriminatorOf, itemTypeOf, objectShapeOf, type TypeHandle } from './type-index.js'

/** Keys Bicep itself adds to every resource body; they are not in the type data. */
const RESOURCE_LANGUAGE_KEYS = new Set(['parent', 'scope', 'dependsOn'])
/** The only keys an `existing` resource may carry. */
const EXISTING_KEYS = new Set(['name', 'parent', 'scope'])
/** The keys of a module body. */
const MODULE_KEYS = new Set(['name', 'params', 'scope', 'dependsOn'])

/** Options for {@link checkBicepFiles}. */
export interface CheckOptions {
  /** Diagnostics name files relative to this folder (default: the working directory). */
  baseDir?: string
}

/**
 * Checks files and every local module they reference, each file once. Returns the diagnostics in
 * file order, then by position; an empty array means every file passed.
 */
export async function checkBicepFiles(files: string[], types: TypeIndex, options: CheckOptions = {}): Promise<Diagnostic[]> {
  const baseDir = options.baseDir ?? process.cwd()
  const queue = files.map((f) => path.resolve(f))
  const seen = new Set<string>()
  const out: Diagnostic[] = []
  while (queue.length > 0) {
    const abs = queue.shift() as string
    if (seen.has(abs)) continue
    seen.add(abs)
    const checker = new FileChecker(abs, path.relative(baseDir, abs) || abs, types)
    out.push(...(await checker.run()))
    queue.push(...checker.modules)
  }
  return out
}

/** Checks one file; `modules` lists the local module files it references, for the caller to check. */
class FileChecker {
  readonly modules: string[] = []
  private readonly diagnostics = new Map<string, Diagnostic>()
  private readonly vars = new Map<string, Node>()

  constructor(private readonly abs: string, private readonly display: string, private readonly types: TypeIndex) {}

  async run(): Promise<Diagnostic[]> {
    const tree = await parseBicep(readFileSync(this.abs, 'utf8'))
    for (const d of syntaxErrors(tree, this.display)) this.report(d.line, d.column, d.message)
    const statements = childrenOf(tree.rootNode)
    for (const s of statements) {
      if (s.type !== 'variable_declaration') continue
      const [id, value] = childrenOf(s)
      if (id && value) this.vars.set(id.text, value)
    }
    for (const s of statements) {
      if (s.type === 'resource_declaration') this.checkResource(s, undefined)
      else if (s.type === 'module_declaration') this.checkModule(s)
    }
    return [...this.diagnostics.values()].sort((a, b) => a.line - b.line || a.column - b.column)
  }

  private report(line: number, column: number, message: string): void {
    const d = { file: this.display, line, column, message }
    this.diagnostics.set(`${line}:${column}:${message}`, d)
  }

  private reportAt(node: Node, message: string): void {
    const p = positionOf(node)
    this.report(p.line, p.column, message)
  }

  private checkResource(decl: Node, parent: { type: string; version: string } | undefined): void {
    const parts = declarationParts(decl)
    if (parts === undefined) return
    const written = literalString(parts.target)
    if (written === undefined) {
      this.reportAt(parts.target, `resource "${parts.name}": the type must be a plain string 'Namespace/type@version'`)
      return
    }
    const { type, version } = resolveResourceType(written, parent)
    if (version === undefined) {
      this.reportAt(parts.target, `resource "${parts.name}": "${written}" has no API version; write '${type}@<version>'`)
      return
    }
    const found = this.types.lookup(type, version)
    if (!found.found) {
      this.reportAt(parts.target, `resource "${parts.name}": ${found.message}`)
      return
    }
    if (parts.body === undefined) return
    if (parts.existing) {
      for (const e of objectEntries(parts.body)) {
        if (e.key !== undefined && !EXISTING_KEYS.has(e.key)) {
          this.reportAt(e.keyNode, `resource "${parts.name}": an existing resource takes only name, parent and scope, not "${e.key}"`)
        }
      }
    } else {
      this.checkObject(parts.body, found.body, '', RESOURCE_LANGUAGE_KEYS)
    }
    for (const child of nestedResources(parts.body)) this.checkResource(child, { type: found.canonicalType, version })
  }

  private checkModule(decl: Node): void {
    const parts = declarationParts(decl)
    if (parts === undefined) return
    const rel = literalString(parts.target)
    if (rel === undefined || /^(br|ts)[:/]/.test(rel)) return // registry modules are not ours to check
    const moduleAbs = path.resolve(path.dirname(this.abs), rel)
    if (!existsSync(moduleAbs)) {
      this.reportAt(parts.target, `module "${parts.name}": file "${rel}" not found`)
      return
    }
    this.modules.push(moduleAbs)
    if (parts.body === undefined) return
    const declared = declaredParams(readFileSync(moduleAbs, 'utf8'))
    for (const e of objectEntries(parts.body)) {
      if (e.key === undefined) continue
      if (!MODULE_KEYS.has(e.key)) {
        this.reportAt(e.keyNode, `module "${parts.name}": unknown module property "${e.key}" (allowed: ${[...MODULE_KEYS].join(', ')})`)
        continue
      }
      if (e.key !== 'params' || e.value.type !== 'object') continue
      for (const p of objectEntries(e.value)) {
        if (p.key === undefined || declared.has(p.key)) continue
        const hint = closest(p.key, [...declared])
        this.reportAt(p.keyNode, `module "${parts.name}": "${rel}" declares no parameter "${p.key}"${hint ? `; did you mean "${hint}"?` : ''}`)
      }
    }
  }

  /** Checks a value written where type `t` is expected; `where` is the property path, for messages. */
  private checkValue(node: Node, t: TypeHandle, where: string, seenVars: Set<string> = new Set()): void {
    switch (node.type) {
      case 'object':
        this.checkObject(node, t, where)
        return
      case 'array': {
        const item = itemTypeOf(t)
        if (item) for (const el of childrenOf(node)) if (el.type !== 'decorators') this.checkValue(el, item, `${where}[]`, seenVars)
        return
      }
      case 'for_statement': {
        const item = itemTypeOf(t)
        let body = node.childForFieldName('body')
        if (body?.type === 'if_statement') body = childOfType(body, 'object') ?? null
        if (item && body) this.checkValue(body, item, `${where}[]`, seenVars)
        return
      }
      case 'ternary_expression':
        for (const field of ['consequence', 'alternative']) {
          const branch = node.childForFieldName(field)
          if (branch) this.checkValue(branch, t, where, seenVars)
        }
        return
      case 'parenthesized_expression':
        for (const inner of childrenOf(node)) this.checkValue(inner, t, where, seenVars)
        return
      case 'binary_expression':
        if (node.childForFieldName('operator')?.type === '??') {
          for (const side of ['left', 'right']) {
            const operand = node.childForFieldName(side)
            if (operand) this.checkValue(operand, t, where, seenVars)
          }
        }
        return
      case 'identifier': {
        const value = this.vars.get(node.text)
        if (value !== undefined && !seenVars.has(node.text)) this.checkValue(value, t, where, new Set([...seenVars, node.text]))
        return
      }
      default:
        return // a computed value: its shape is only known at deployment
    }
  }

  /** Checks the keys of an object literal against type `t`, then each value against its property's type. */
  private checkObject(obj: Node, t: TypeHandle, where: string, languageKeys: Set<string> = new Set()): void {
    const entries = objectEntries(obj)
    const discriminator = discriminatorOf(t)
    const discriminatorEntry = discriminator === undefined ? undefined : entries.find((e) => e.key === discriminator)
    const shape = objectShapeOf(t, discriminatorEntry ? literalString(discriminatorEntry.value) : undefined)
    if (shape === undefined) return
    for (const e of entries) {
      if (e.key === undefined || languageKeys.has(e.key)) continue
      const path = where === '' ? e.key : `${where}.${e.key}`
      const exact = shape.properties.get(e.key)
      if (exact !== undefined) {
        if ((exact.flags & PropertyFlags.ReadOnly) !== 0) {
          this.reportAt(e.keyNode, `${path}: "${e.key}" is read-only on ${shape.typeName}; Azure sets it, remove it`)
        }
        this.checkValue(e.value, exact.type, path)
        continue
      }
      const differentCase = [...shape.properties.values()].find((p) => p.name.toLowerCase() === e.key?.toLowerCase())
      if (differentCase !== undefined) {
        this.reportAt(e.keyNode, `${path}: wrong casing, ${shape.typeName} spells it "${differentCase.name}"`)
        this.checkValue(e.value, differentCase.type, path)
        continue
      }
      if (shape.additional !== undefined) {
        this.checkValue(e.value, shape.additional, path)
        continue
      }
      const hint = closest(e.key, [...shape.properties.keys()])
      this.reportAt(e.keyNode, `${path}: unknown property "${e.key}" on ${shape.typeName}${hint ? `; did you mean "${hint}"?` : ''}`)
    }
  }
}

/** The parameter names a Bicep file declares (read textually: the checker runs on that file too). */
function declaredParams(text: string): Set<string> {
  return new Set([...text.matchAll(/^\s*param\s+([A-Za-z_][A-Za-z0-9_]*)/gm)].map((m) => m[1] as string))
}

/** The candidate within edit distance 2 of `word`, if any: a typo hint, never a guess across words. */
function closest(word: string, candidates: string[]): string | undefined {
  let best: { name: string; d: number } | undefined
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase())
    if (d <= 2 && (best === undefined || d < best.d)) best = { name: c, d }
  }
  return best?.name
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i)
  for (let i = 1; i <= a.length; i++) {
    const cur = [i]
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      cur[j] = Math.min((prev[j] as number) + 1, (cur[j - 1] as number) + 1, (prev[j - 1] as number) + cost)
    }
    prev = cur
  }
  return prev[b.length] as number
}
