/**
 * Reads `nft -s list table ip fwdd` text back into blocks, the form the nft renderer writes, so
 * drift is a block-by-block comparison. Pure. Counter blocks are parsed too: a table written by
 * an older fwdd had them, and the next apply deletes them.
 */
import { blockKey, type BlockKind, type NftBlock, type NftModel } from './nft-render.js'

const KINDS = new Set<BlockKind>(['counter', 'set', 'map', 'chain'])

/** Splits an elements list `a, b : c, d` at top-level commas (anonymous maps inside keep theirs). */
function splitElements(text: string): string[] {
  const out: string[] = []
  let depth = 0
  let cur = ''
  for (const ch of text) {
    if (ch === '{') depth++
    if (ch === '}') depth--
    if (ch === ',' && depth === 0) {
      out.push(cur.trim())
      cur = ''
    } else cur += ch
  }
  if (cur.trim() !== '') out.push(cur.trim())
  return out
}

export function parseNftTable(text: string): NftModel {
  const model: NftModel = new Map()
  const lines = text.split('\n').map((l) => l.trim())
  let cur: NftBlock | null = null
  let elements: string | null = null
  for (const line of lines) {
    if (line === '' || line.startsWith('table ')) continue
    if (elements !== null) {
      elements += ` ${line}`
      if (/}\s*$/.test(line) && balanced(elements)) {
        cur!.elements = splitElements(elements.replace(/^elements = \{/, '').replace(/}\s*$/, ''))
        elements = null
      }
      continue
    }
    const head = /^(counter|set|map|chain) (\S+) \{$/.exec(line)
    if (head && KINDS.has(head[1] as BlockKind)) {
      cur = { kind: head[1] as BlockKind, name: head[2]!, decl: [], elements: [], rules: [] }
      model.set(blockKey(cur.kind, cur.name), cur)
      continue
    }
    if (line === '}') {
      // A dynamic set's elements are added by traffic (passive health's per-port limits), not by fwdd.
      if (cur?.decl.some((d) => /^flags .*\bdynamic\b/.test(d))) cur.elements = []
      cur = null
      continue
    }
    if (!cur) continue
    if (line.startsWith('elements = {')) {
      if (balanced(line)) cur.elements = splitElements(line.replace(/^elements = \{/, '').replace(/}\s*$/, ''))
      else elements = line
    } else if (cur.kind === 'chain' && !line.startsWith('type ')) cur.rules.push(line)
    else if (cur.kind !== 'counter') cur.decl.push(line)
  }
  return model
}

function balanced(s: string): boolean {
  let d = 0
  for (const ch of s) d += ch === '{' ? 1 : ch === '}' ? -1 : 0
  return d === 0
}
