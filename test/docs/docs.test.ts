/**
 * Defect 8, the repository was not self-contained: the README and docs/ link nothing outside the
 * repository (no ../shared), and every relative link in them names a file that exists. Defect 10:
 * the Node versions the README declares are the ones package.json's engines says.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { ROOT } from '../helpers/daemon.js'

const files = ['README.md', ...readdirSync(path.join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)]

t.test('defect 8: no link leaves the repository, and every relative link resolves', async (t) => {
  for (const f of files) {
    const text = readFileSync(path.join(ROOT, f), 'utf8')
    t.notMatch(text, /\.\.\/shared/, `${f} does not point at ../shared`)
    for (const m of text.matchAll(/\]\(([^)#\s]+)(#[^)]*)?\)/g)) {
      const target = m[1]!
      if (/^[a-z]+:/.test(target)) continue
      const resolved = path.resolve(path.dirname(path.join(ROOT, f)), target)
      t.ok(resolved.startsWith(ROOT + path.sep) && existsSync(resolved), `${f}: ${target} exists inside the repository`)
    }
  }
})

t.test('defect 10: the README declares the Node versions engines allows', async (t) => {
  const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { engines: { node: string } }
  t.equal(pkg.engines.node, '>=22')
  const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8')
  t.match(readme, /supports Node\.js 22 and 24 \(`engines: ">=22"`/)
  t.notMatch(readme, /Node\.js 20\.5 or later/)
})
