/**
 * A small evaluator for the part of Bicep our templates use to turn parameters into resource
 * bodies: literals, interpolated strings, objects, arrays, `for` expressions, ternaries,
 * member and index access, arithmetic and comparisons, and a handful of functions.
 *
 * It exists so a test can say what the templates *produce* for given parameters (the LB
 * probes, the rules, the fwdd config in userData) instead of trusting how they read. Anything
 * only known at deployment (resource ids, `resourceGroup()`, unknown functions) evaluates to an
 * {@link Unresolved} value carrying its source text, which never equals a concrete value, so a
 * check that depends on it fails rather than passes by accident.
 */
import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { parseBicep, syntaxErrors, type Node } from './bicep-parser.js'
import { childOfType, childrenOf, declarationParts, literalString, nestedResources, objectEntries, resolveResourceType, unescape } from './bicep-syntax.js'

/** A value known only at deployment; `text` is the Bicep source that would produce it. */
export class Unresolved {
  constructor(readonly text: string) {}
}

/** What a Bicep expression evaluates to here. */
export type Value = null | boolean | number | string | Unresolved | Value[] | { [key: string]: Value }

/** True for plain objects (not arrays, not {@link Unresolved}). */
export function isObject(v: Value | undefined): v is { [key: string]: Value } {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Unresolved)
}

/** A parsed Bicep file with its top-level declarations indexed by name. */
export interface BicepProgram {
  file: string
  params: Map<string, Node>
  vars: Map<string, Node>
  resources: Map<string, Node>
  modules: Map<string, Node>
}

/** Parses a file for evaluation; throws on syntax errors, since nothing sound follows from them. */
export async function loadProgram(file: string, text = readFileSync(file, 'utf8')): Promise<BicepProgram> {
  const tree = await parseBicep(text)
  const errors = syntaxErrors(tree, file)
  if (errors.length > 0) throw new Error(`evaluating ${file}: ${errors.length} syntax error(s), first at ${errors[0]?.line}:${errors[0]?.column}`)
  const program: BicepProgram = { file, params: new Map(), vars: new Map(), resources: new Map(), modules: new Map() }
  const tables: Record<string, Map<string, Node>> = {
    parameter_declaration: program.params,
    variable_declaration: program.vars,
    resource_declaration: program.resources,
    module_declaration: program.modules,
  }
  for (const s of childrenOf(tree.rootNode)) {
    const name = childrenOf(s)[0]?.text
    if (name !== undefined) tables[s.type]?.set(name, s)
  }
  return program
}

/** One resource instance set as evaluated: a `for` resource gives one body per item. */
export interface EvaluatedResource {
  symbol: string
  type: string
  bodies: Value[]
}

type Locals = ReadonlyMap<string, Value>

/** Evaluates expressions of one program, given values for its parameters. */
export class Evaluator {
  private readonly varCache = new Map<string, Value>()

  constructor(readonly program: BicepProgram, private readonly paramValues: Record<string, Value>) {}

  /** A parameter's value: the given one, else its default, else {@link Unresolved}. */
  param(name: string): Value {
    if (Object.hasOwn(this.paramValues, name)) return this.paramValues[name] as Value
    const decl = this.program.params.get(name)
    const parts = decl ? childrenOf(decl) : []
    const fallback = parts.length >= 3 ? parts[parts.length - 1] : undefined
    return fallback ? this.evaluate(fallback) : new Unresolved(`param ${name}`)
  }

  /** A variable's value, evaluated once. */
  variable(name: string): Value {
    const cached = this.varCache.get(name)
    if (cached !== undefined) return cached
    const decl = this.program.vars.get(name)
    const expr = decl ? childrenOf(decl)[1] : undefined
    const v = expr ? this.evaluate(expr) : new Unresolved(name)
    this.varCache.set(name, v)
    return v
  }

  /** The `params` a module declaration passes, evaluated in this program. */
  moduleParams(name: string): Record<string, Value> {
    const decl = this.program.modules.get(name)
    const body = decl ? declarationParts(decl)?.body : undefined
    const params = body ? objectEntries(body).find((e) => e.key === 'params')?.value : undefined
    const v = params ? this.evaluate(params) : {}
    return isObject(v) ? v : {}
  }

  /** Whether a conditional declaration (`= if (...)`) is deployed; true when unconditional. */
  isDeployed(decl: Node): boolean {
    const condition = declarationParts(decl)?.condition
    return condition === undefined || this.evaluate(condition) === true
  }

  /** Every deployed resource declared in this program, nested children included. */
  resources(): EvaluatedResource[] {
    const out: EvaluatedResource[] = []
    const visit = (decl: Node, parent: { type: string; version: string } | undefined): void => {
      const parts = declarationParts(decl)
      const written = parts ? literalString(parts.target) : undefined
      if (!parts || written === undefined || parts.body === undefined || !this.isDeployed(decl)) return
      const { type, version } = resolveResourceType(written, parent)
      out.push({ symbol: parts.name, type, bodies: parts.existing ? [] : this.instances(parts.loop, parts.body) })
      for (const child of nestedResources(parts.body)) visit(child, { type, version: version ?? '' })
    }
    for (const decl of this.program.resources.values()) visit(decl, undefined)
    return out
  }

  private instances(loop: Node | undefined, body: Node): Value[] {
    if (loop === undefined) return [this.evaluate(body)]
    const v = this.evaluate(loop)
    return Array.isArray(v) ? v : [v]
  }

  /** Evaluates one expression node. */
  evaluate(node: Node, locals: Locals = new Map()): Value {
    switch (node.type) {
      case 'number': return Number(node.text)
      case 'boolean': return node.text === 'true'
      case 'null': return null
      case 'string': return this.stringValue(node, locals)
      case 'identifier': return this.identifier(node.text, locals)
      case 'parenthesized_expression': {
        const inner = childrenOf(node)
        return inner.length === 1 ? this.evaluate(inner[0] as Node, locals) : new Unresolved(node.text)
      }
      case 'object': {
        const out: { [key: string]: Value } = {}
        for (const e of objectEntries(node)) {
          const key = e.key ?? this.stringValue(e.keyNode, locals)
          if (typeof key !== 'string') return new Unresolved(node.text)
          out[key] = this.evaluate(e.value, locals)
        }
        return out
      }
      case 'array': return childrenOf(node).filter((c) => c.type !== 'decorators').map((c) => this.evaluate(c, locals))
      case 'for_statement': return this.forExpression(node, locals)
      case 'if_statement': {
        const cond = childOfType(node, 'parenthesized_expression')
        const body = childOfType(node, 'object')
        return cond && body && this.evaluate(cond, locals) === true ? this.evaluate(body, locals) : null
      }
      case 'ternary_expression': {
        const cond = this.evaluate(node.childForFieldName('condition') as Node, locals)
        if (typeof cond !== 'boolean') return new Unresolved(node.text)
        return this.evaluate(node.childForFieldName(cond ? 'consequence' : 'alternative') as Node, locals)
      }
      case 'member_expression': {
        const obj = this.evaluate(node.childForFieldName('object') as Node, locals)
        const prop = node.childForFieldName('property')?.text ?? ''
        return isObject(obj) && Object.hasOwn(obj, prop) ? (obj[prop] as Value) : new Unresolved(node.text)
      }
      case 'subscript_expression': {
        const obj = this.evaluate(node.childForFieldName('object') as Node, locals)
        const index = this.evaluate(node.childForFieldName('index') as Node, locals)
        if (Array.isArray(obj) && typeof index === 'number' && index >= 0 && index < obj.length) return obj[index] as Value
        if (isObject(obj) && typeof index === 'string' && Object.hasOwn(obj, index)) return obj[index] as Value
        return new Unresolved(node.text)
      }
      case 'unary_expression': {
        const arg = this.evaluate(node.childForFieldName('argument') as Node, locals)
        const op = node.childForFieldName('operator')?.type
        if (op === '!' && typeof arg === 'boolean') return !arg
        if (op === '-' && typeof arg === 'number') return -arg
        return new Unresolved(node.text)
      }
      case 'binary_expression': return this.binary(node, locals)
      case 'call_expression': return this.call(node, locals)
      default: return new Unresolved(node.text)
    }
  }

  private identifier(name: string, locals: Locals): Value {
    if (locals.has(name)) return locals.get(name) as Value
    if (this.program.params.has(name)) return this.param(name)
    if (this.program.vars.has(name)) return this.variable(name)
    return new Unresolved(name) // a resource or module symbol: its properties are known at deployment
  }

  private stringValue(node: Node, locals: Locals): Value {
    let out = ''
    let unresolved = false
    for (const c of node.children) {
      if (c.type === 'interpolation') {
        const inner = childrenOf(c)[0]
        const v = inner ? this.evaluate(inner, locals) : null
        if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') out += String(v)
        else unresolved = true
      } else if (c.type === 'string_content') out += c.text
      else if (c.type === 'escape_sequence' || c.text.startsWith('\\')) out += unescape(c.text)
    }
    return unresolved ? new Unresolved(node.text) : out
  }

  private forExpression(node: Node, locals: Locals): Value {
    const params = childOfType(node, 'for_loop_parameters')
    const itemName = params ? childOfType(params, 'loop_variable')?.text : node.childForFieldName('initializer')?.text
    const indexName = params ? childOfType(params, 'loop_enumerator')?.text : undefined
    const body = node.childForFieldName('body')
    // The iterated expression is the named child that is neither the loop variables nor the body.
    const skip = new Set([params?.id, node.childForFieldName('initializer')?.id, body?.id])
    const source = childrenOf(node).find((c) => !skip.has(c.id))
    const items = source ? this.evaluate(source, locals) : null
    if (!Array.isArray(items) || body === null) return new Unresolved(node.text)
    const out: Value[] = []
    items.forEach((item, i) => {
      const scope = new Map(locals)
      if (itemName) scope.set(itemName, item)
      if (indexName) scope.set(indexName, i)
      if (body.type === 'if_statement') {
        const cond = childOfType(body, 'parenthesized_expression')
        if (cond && this.evaluate(cond, scope) !== true) return
      }
      out.push(this.evaluate(body.type === 'if_statement' ? (childOfType(body, 'object') as Node) : body, scope))
    })
    return out
  }

  private binary(node: Node, locals: Locals): Value {
    const op = node.childForFieldName('operator')?.type
    const l = this.evaluate(node.childForFieldName('left') as Node, locals)
    if (op === '??') return l === null ? this.evaluate(node.childForFieldName('right') as Node, locals) : l
    const r = this.evaluate(node.childForFieldName('right') as Node, locals)
    if (l instanceof Unresolved || r instanceof Unresolved) return new Unresolved(node.text)
    switch (op) {
      case '==': return JSON.stringify(l) === JSON.stringify(r)
      case '!=': return JSON.stringify(l) !== JSON.stringify(r)
      case '&&': return l === true && r === true
      case '||': return l === true || r === true
    }
    if (typeof l !== 'number' || typeof r !== 'number') return new Unresolved(node.text)
    switch (op) {
      case '+': return l + r
      case '-': return l - r
      case '*': return l * r
      case '/': return Math.trunc(l / r)
      case '%': return l % r
      case '<': return l < r
      case '>': return l > r
      case '<=': return l <= r
      case '>=': return l >= r
      default: return new Unresolved(node.text)
    }
  }

  private call(node: Node, locals: Locals): Value {
    const fn = node.childForFieldName('function')?.text ?? ''
    const argsNode = node.childForFieldName('arguments')
    const args = argsNode ? childrenOf(argsNode).map((a) => this.evaluate(a, locals)) : []
    const unresolved = new Unresolved(node.text)
    const f = FUNCTIONS[fn]
    if (f === undefined || args.some((a) => a instanceof Unresolved && fn !== 'resourceId')) return unresolved
    return f(args, this.program.file) ?? unresolved
  }
}

/** The functions the templates use; each returns `undefined` when it cannot give a value. */
const FUNCTIONS: Record<string, (args: Value[], file: string) => Value | undefined> = {
  string: ([v]) => (typeof v === 'string' ? v : JSON.stringify(v)),
  base64: ([v]) => (typeof v === 'string' ? Buffer.from(v, 'utf8').toString('base64') : undefined),
  base64ToString: ([v]) => (typeof v === 'string' ? Buffer.from(v, 'base64').toString('utf8') : undefined),
  length: ([v]) => (typeof v === 'string' || Array.isArray(v) ? v.length : isObject(v) ? Object.keys(v).length : undefined),
  toLower: ([v]) => (typeof v === 'string' ? v.toLowerCase() : undefined),
  toUpper: ([v]) => (typeof v === 'string' ? v.toUpperCase() : undefined),
  empty: ([v]) => (v === null || v === '' || (Array.isArray(v) && v.length === 0) || (isObject(v) && Object.keys(v).length === 0)),
  concat: (args) => (args.every(Array.isArray) ? (args as Value[][]).flat(1) : args.every((a) => typeof a === 'string') ? args.join('') : undefined),
  replace: ([s, from, to]) => (typeof s === 'string' && typeof from === 'string' && typeof to === 'string' ? s.split(from).join(to) : undefined),
  range: ([start, count]) => (typeof start === 'number' && typeof count === 'number' ? Array.from({ length: count }, (_, i) => start + i) : undefined),
  // The last segments of the id are what a reference to a sibling (a probe, a pool) is matched by.
  resourceId: (args) => `/resourceId/${args.map((a) => (a instanceof Unresolved ? `{${a.text}}` : String(a))).join('/')}`,
  loadTextContent: ([p], file) => {
    if (typeof p !== 'string') return undefined
    const abs = path.resolve(path.dirname(file), p)
    return existsSync(abs) ? readFileSync(abs, 'utf8') : undefined
  },
}
