/**
 * Azure's published resource type data (the `bicep-types-az` JSON the Bicep compiler embeds),
 * indexed by resource type and API version.
 *
 * Each file is an array of type nodes that point at each other with `{"$ref": "#/N"}`; a ref is
 * only meaningful inside its own file, so every resolved type carries the file it came from.
 */
import { readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'

/** Property flag bits, as bicep-types defines them. */
export const PropertyFlags = { Required: 1, ReadOnly: 2, WriteOnly: 4, DeployTimeConstant: 8, Identifier: 16 } as const

interface Ref { $ref: string }
interface RawProperty { type: Ref; flags: number; description?: string }
/** One raw node of a type file; only the fields the checker reads are typed. */
export interface RawTypeNode {
  $type: string
  name?: string
  body?: Ref
  properties?: Record<string, RawProperty>
  additionalProperties?: Ref
  itemType?: Ref
  elements?: Ref[] | Record<string, Ref>
  discriminator?: string
  baseProperties?: Record<string, RawProperty>
  value?: unknown
}

/** A type node together with the file whose refs it uses. */
export interface TypeHandle { file: RawTypeNode[]; node: RawTypeNode }

/** A property as the checker sees it: its resolved type and flags. */
export interface PropertyInfo { name: string; type: TypeHandle; flags: number }

/** Follows a `#/N` ref inside the file it belongs to. */
export function deref(file: RawTypeNode[], ref: Ref): TypeHandle {
  const index = Number(ref.$ref.replace('#/', ''))
  const node = file[index]
  if (node === undefined) throw new Error(`type data: dangling ref ${ref.$ref}`)
  return { file, node }
}

/** The outcome of looking up `Type@version`. */
export type ResourceLookup =
  | { found: true; body: TypeHandle; canonicalType: string }
  | { found: false; message: string }

/** Every resource type and API version found in a folder of type files. */
export class TypeIndex {
  /** Keyed by the lower-cased resource type; ARM type names are case-insensitive. */
  private readonly resources = new Map<string, Map<string, { file: RawTypeNode[]; node: RawTypeNode; type: string }>>()

  /** Reads every `*.json` file of `dir`; throws if the folder holds none. */
  static load(dir: string): TypeIndex {
    const index = new TypeIndex()
    const files = readdirSync(dir).filter((f) => f.endsWith('.json'))
    if (files.length === 0) throw new Error(`loading type data: no .json files in ${dir}`)
    for (const f of files) {
      const nodes = JSON.parse(readFileSync(path.join(dir, f), 'utf8')) as RawTypeNode[]
      index.add(nodes)
    }
    return index
  }

  private add(file: RawTypeNode[]): void {
    for (const node of file) {
      if (node.$type !== 'ResourceType' || node.name === undefined) continue
      const at = node.name.lastIndexOf('@')
      const type = node.name.slice(0, at)
      const version = node.name.slice(at + 1)
      const key = type.toLowerCase()
      const versions = this.resources.get(key) ?? new Map()
      versions.set(version, { file, node, type })
      this.resources.set(key, versions)
    }
  }

  /** Finds a resource body type; on failure says whether the type or only the version is unknown. */
  lookup(type: string, version: string): ResourceLookup {
    const versions = this.resources.get(type.toLowerCase())
    if (versions === undefined) return { found: false, message: `unknown resource type "${type}" (not in the type data)` }
    const entry = versions.get(version)
    if (entry === undefined) {
      const known = [...versions.keys()].sort().join(', ')
      return { found: false, message: `unknown API version "${version}" for "${type}" (the type data has: ${known})` }
    }
    if (entry.node.body === undefined) return { found: false, message: `type data for "${type}@${version}" has no body` }
    return { found: true, body: deref(entry.file, entry.node.body), canonicalType: entry.type }
  }
}

/**
 * The properties an object literal may carry when it is of type `t`, or `undefined` when `t`
 * does not constrain keys (strings, `any`, unions of scalars...).
 *
 * - `ObjectType`: its properties, plus `additionalProperties` for free-form maps such as tags.
 * - `DiscriminatedObjectType`: the base properties plus those of the element selected by the
 *   discriminator value when it is written as a literal; otherwise every element's properties,
 *   because the checker cannot know which one applies.
 * - `UnionType`: the object-like members merged, for the same reason.
 * - `ArrayType` is not object-like; callers unwrap it with `itemTypeOf`.
 */
export interface ObjectShape {
  properties: Map<string, PropertyInfo>
  additional?: TypeHandle
  /** Name of the type, for messages. */
  typeName: string
}

function collect(into: Map<string, PropertyInfo>, file: RawTypeNode[], props: Record<string, RawProperty> | undefined): void {
  for (const [name, p] of Object.entries(props ?? {})) into.set(name, { name, type: deref(file, p.type), flags: p.flags })
}

/** See {@link ObjectShape}; `discriminatorValue` selects a discriminated element when known. */
export function objectShapeOf(t: TypeHandle, discriminatorValue?: string): ObjectShape | undefined {
  const { file, node } = t
  const typeName = node.name ?? node.$type
  if (node.$type === 'ObjectType') {
    const properties = new Map<string, PropertyInfo>()
    collect(properties, file, node.properties)
    const shape: ObjectShape = { properties, typeName }
    if (node.additionalProperties !== undefined) shape.additional = deref(file, node.additionalProperties)
    return shape
  }
  if (node.$type === 'DiscriminatedObjectType') {
    const properties = new Map<string, PropertyInfo>()
    collect(properties, file, node.baseProperties)
    const elements = (node.elements ?? {}) as Record<string, Ref>
    const chosen = discriminatorValue !== undefined && elements[discriminatorValue] !== undefined
      ? [elements[discriminatorValue] as Ref]
      : Object.values(elements)
    for (const ref of chosen) {
      const el = objectShapeOf(deref(file, ref))
      if (el) for (const [k, v] of el.properties) properties.set(k, v)
    }
    return { properties, typeName }
  }
  if (node.$type === 'UnionType') {
    const shapes = ((node.elements ?? []) as Ref[])
      .map((r) => objectShapeOf(deref(file, r), discriminatorValue))
      .filter((s): s is ObjectShape => s !== undefined)
    if (shapes.length === 0) return undefined
    const properties = new Map<string, PropertyInfo>()
    for (const s of shapes) for (const [k, v] of s.properties) properties.set(k, v)
    return { properties, typeName }
  }
  return undefined
}

/** The element type of an array type, or `undefined` if `t` is not an array. */
export function itemTypeOf(t: TypeHandle): TypeHandle | undefined {
  if (t.node.$type === 'ArrayType' && t.node.itemType !== undefined) return deref(t.file, t.node.itemType)
  return undefined
}

/** The discriminator property name of a discriminated type, if `t` is one. */
export function discriminatorOf(t: TypeHandle): string | undefined {
  return t.node.$type === 'DiscriminatedObjectType' ? t.node.discriminator : undefined
}
