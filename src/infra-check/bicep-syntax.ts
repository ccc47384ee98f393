/**
 * Small readers over the tree-sitter Bicep syntax tree, shared by the type checker and the
 * evaluator, so that both agree on what a declaration, a key or a literal is.
 */
import type { Node } from './bicep-parser.js'

/** Named children, minus comments (the grammar allows them anywhere). */
export function childrenOf(node: Node): Node[] {
  return node.namedChildren.filter((c) => c.type !== 'comment' && c.type !== 'diagnostic_comment')
}

/** The first named child of a given type. */
export function childOfType(node: Node, type: string): Node | undefined {
  return childrenOf(node).find((c) => c.type === type)
}

/** True when the node has an anonymous child token with this text (such as `existing`). */
export function hasToken(node: Node, token: string): boolean {
  return node.children.some((c) => !c.isNamed && c.type === token)
}

/**
 * The value of a string literal without interpolation, or `undefined` when the string contains
 * `${...}` (its value is only known at deployment).
 */
export function literalString(node: Node): string | undefined {
  if (node.type !== 'string') return undefined
  let out = ''
  for (const c of node.children) {
    if (c.type === 'interpolation') return undefined
    if (c.type === 'string_content') out += c.text
    else if (c.type === 'escape_sequence' || c.text.startsWith('\\')) out += unescape(c.text)
  }
  return out
}

/** Bicep's escapes: `\'`, `\\`, `\n`, `\r`, `\t`, `\$`, `\u{...}`. */
export function unescape(text: string): string {
  const body = text.slice(1)
  if (body === 'n') return '\n'
  if (body === 'r') return '\r'
  if (body === 't') return '\t'
  const unicode = /^u\{([0-9a-fA-F]+)\}$/.exec(body)
  if (unicode?.[1] !== undefined) return String.fromCodePoint(parseInt(unicode[1], 16))
  return body
}

/** One `key: value` entry of an object literal. */
export interface ObjectEntry {
  keyNode: Node
  /** The key text, or `undefined` for an interpolated quoted key. */
  key: string | undefined
  value: Node
}

/** The `key: value` entries of an object literal, skipping nested resource declarations. */
export function objectEntries(obj: Node): ObjectEntry[] {
  const entries: ObjectEntry[] = []
  for (const prop of childrenOf(obj)) {
    if (prop.type !== 'object_property') continue
    const parts = childrenOf(prop)
    const keyNode = parts[0]
    const value = parts[parts.length - 1]
    if (keyNode === undefined || value === undefined || keyNode.type === 'resource_declaration') continue
    let key: string | undefined
    if (keyNode.type === 'string') key = literalString(keyNode)
    else if (keyNode.type === 'compatible_identifier') key = keyNode.text.replace(/\?$/, '')
    else key = keyNode.text
    entries.push({ keyNode, key, value })
  }
  return entries
}

/** Resource declarations written inside an object literal (nested child resources). */
export function nestedResources(obj: Node): Node[] {
  return childrenOf(obj)
    .filter((p) => p.type === 'object_property')
    .map((p) => childrenOf(p)[0])
    .filter((n): n is Node => n?.type === 'resource_declaration')
}

/** Looks up a key in an object literal. */
export function entryOf(obj: Node, key: string): ObjectEntry | undefined {
  return objectEntries(obj).find((e) => e.key === key)
}

/**
 * The parts shared by `resource` and `module` declarations: the symbolic name, the quoted type
 * or path, and the body object. A body behind `if (...)` or inside `[for ...: ...]` is unwrapped,
 * since the object written there is what each instance gets.
 */
export interface DeclarationParts {
  name: string
  target: Node
  body: Node | undefined
  existing: boolean
  loop: Node | undefined
  condition: Node | undefined
}

/** See {@link DeclarationParts}. */
export function declarationParts(decl: Node): DeclarationParts | undefined {
  const parts = childrenOf(decl)
  const id = parts[0]
  const target = parts[1]
  let value = parts[parts.length - 1]
  if (id === undefined || target === undefined || value === undefined) return undefined
  let loop: Node | undefined
  let condition: Node | undefined
  if (value.type === 'for_statement') {
    loop = value
    value = value.childForFieldName('body') ?? value
  }
  if (value.type === 'if_statement') {
    condition = childOfType(value, 'parenthesized_expression')
    value = childOfType(value, 'object') ?? value
  }
  return {
    name: id.text,
    target,
    body: value.type === 'object' ? value : undefined,
    existing: hasToken(decl, 'existing'),
    loop,
    condition,
  }
}

/**
 * The full type and API version a resource declaration names. A nested declaration writes its
 * type relative to the parent (`'subnets'`) and may leave out the version, which it then
 * inherits; `version` is `undefined` when none is written or inherited.
 */
export function resolveResourceType(written: string, parent?: { type: string; version: string }): { type: string; version: string | undefined } {
  const at = written.lastIndexOf('@')
  let type = at < 0 ? written : written.slice(0, at)
  let version = at < 0 ? undefined : written.slice(at + 1)
  if (parent !== undefined) {
    if (!type.includes('.')) type = `${parent.type}/${type}`
    version ??= parent.version
  }
  return { type, version }
}
