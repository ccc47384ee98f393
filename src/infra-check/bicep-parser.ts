/**
 * Loads the tree-sitter Bicep grammar and parses `.bicep` text.
 *
 * No Bicep compiler can be installed where this project is built, so the grammar published as
 * the npm package `tree-sitter-bicep` is what tells us a template is well-formed. The grammar
 * ships as WebAssembly and is loaded once per process through `web-tree-sitter`.
 */
import { createRequire } from 'node:module'
import path from 'node:path'
import { Language, Parser, type Node, type Tree } from 'web-tree-sitter'

export type { Node, Tree }

/** A problem found in a file, with a 1-based line and column. */
export interface Diagnostic {
  file: string
  line: number
  column: number
  message: string
}

/** `file:line:col: message`, the shape compilers and editors understand. */
export function formatDiagnostic(d: Diagnostic): string {
  return `${d.file}:${d.line}:${d.column}: ${d.message}`
}

/** The 1-based position of a node's first character. */
export function positionOf(node: Node): { line: number; column: number } {
  return { line: node.startPosition.row + 1, column: node.startPosition.column + 1 }
}

let loading: Promise<Parser> | undefined

/**
 * The shared parser. The first call initialises the WebAssembly runtime and loads the grammar;
 * later calls return the same parser (parsing is synchronous, so sharing it is safe).
 */
export function loadBicepParser(): Promise<Parser> {
  loading ??= (async () => {
    await Parser.init()
    const require = createRequire(import.meta.url)
    const packageDir = path.dirname(require.resolve('tree-sitter-bicep/package.json'))
    const language = await Language.load(path.join(packageDir, 'tree-sitter-bicep.wasm'))
    return new Parser().setLanguage(language)
  })()
  return loading
}

/** Parses Bicep text; throws only if the parser itself fails, never for a syntax error. */
export async function parseBicep(text: string): Promise<Tree> {
  const parser = await loadBicepParser()
  const tree = parser.parse(text)
  if (tree === null) throw new Error('parsing bicep: tree-sitter returned no tree')
  return tree
}

/**
 * Every syntax error in a tree: `ERROR` nodes (text the grammar could not place) and `MISSING`
 * nodes (a token the parser had to invent, such as a closing brace). Only the outermost error of
 * a broken region is reported, so one mistake gives one line.
 */
export function syntaxErrors(tree: Tree, file: string): Diagnostic[] {
  const found: Diagnostic[] = []
  const visit = (node: Node): void => {
    if (!node.hasError && !node.isMissing) return
    if (node.isError) {
      const snippet = node.text.split('\n')[0]?.slice(0, 40) ?? ''
      found.push({ file, ...positionOf(node), message: `syntax error: unexpected "${snippet}"` })
      return
    }
    if (node.isMissing) {
      found.push({ file, ...positionOf(node), message: `syntax error: missing "${node.type}"` })
      return
    }
    for (const child of node.children) if (child) visit(child)
  }
  visit(tree.rootNode)
  return found
}
