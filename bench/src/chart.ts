/**
 * A hand-written SVG line chart (no dependency): sync times against listener count, both axes
 * logarithmic. Series with missing points (null) are drawn only where they have values.
 */

export interface Series { name: string; color: string; points: Array<{ x: number; y: number | null }> }

const W = 720
const H = 420
const M = { left: 70, right: 200, top: 40, bottom: 50 }

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
}

/** Renders the chart; `title` goes on top, axes are labelled "listeners" and `yLabel`. */
export function lineChartSvg(title: string, yLabel: string, series: readonly Series[]): string {
  const xs = series.flatMap((s) => s.points.map((p) => p.x))
  const ys = series.flatMap((s) => s.points.flatMap((p) => (p.y !== null && p.y > 0 ? [p.y] : [])))
  const x0 = Math.log10(Math.min(...xs))
  const x1 = Math.log10(Math.max(...xs))
  const y0 = Math.floor(Math.log10(Math.min(...ys, 1)))
  const y1 = Math.ceil(Math.log10(Math.max(...ys, 10)))
  const px = (x: number): number => M.left + ((Math.log10(x) - x0) / (x1 - x0 || 1)) * (W - M.left - M.right)
  const py = (y: number): number => H - M.bottom - ((Math.log10(y) - y0) / (y1 - y0 || 1)) * (H - M.top - M.bottom)
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2 - M.right / 2}" y="22" text-anchor="middle" font-size="15">${esc(title)}</text>`,
  ]
  for (let e = y0; e <= y1; e++) {
    const y = py(10 ** e)
    out.push(`<line x1="${M.left}" x2="${W - M.right}" y1="${y}" y2="${y}" stroke="#ddd"/>`, `<text x="${M.left - 8}" y="${y + 4}" text-anchor="end">${10 ** e >= 1 ? 10 ** e : (10 ** e).toFixed(-e)}</text>`)
  }
  for (const x of [...new Set(xs)].sort((a, b) => a - b)) {
    const X = px(x)
    out.push(`<line x1="${X}" x2="${X}" y1="${M.top}" y2="${H - M.bottom}" stroke="#eee"/>`, `<text x="${X}" y="${H - M.bottom + 18}" text-anchor="middle">${x}</text>`)
  }
  out.push(
    `<line x1="${M.left}" x2="${M.left}" y1="${M.top}" y2="${H - M.bottom}" stroke="black"/>`,
    `<line x1="${M.left}" x2="${W - M.right}" y1="${H - M.bottom}" y2="${H - M.bottom}" stroke="black"/>`,
    `<text x="${(M.left + W - M.right) / 2}" y="${H - 12}" text-anchor="middle">listeners (2 targets each, log scale)</text>`,
    `<text x="18" y="${(M.top + H - M.bottom) / 2}" text-anchor="middle" transform="rotate(-90 18 ${(M.top + H - M.bottom) / 2})">${esc(yLabel)}</text>`,
  )
  series.forEach((s, i) => {
    const pts = s.points.filter((p): p is { x: number; y: number } => p.y !== null && p.y > 0)
    if (pts.length > 0) {
      out.push(`<polyline fill="none" stroke="${s.color}" stroke-width="2" points="${pts.map((p) => `${px(p.x).toFixed(1)},${py(p.y).toFixed(1)}`).join(' ')}"/>`)
      for (const p of pts) out.push(`<circle cx="${px(p.x).toFixed(1)}" cy="${py(p.y).toFixed(1)}" r="3" fill="${s.color}"/>`)
    }
    const ly = M.top + 10 + i * 20
    out.push(`<line x1="${W - M.right + 15}" x2="${W - M.right + 35}" y1="${ly}" y2="${ly}" stroke="${s.color}" stroke-width="2"/>`, `<text x="${W - M.right + 40}" y="${ly + 4}">${esc(s.name)}</text>`)
  })
  out.push('</svg>', '')
  return out.join('\n')
}
