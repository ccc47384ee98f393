/** Writes the report files. (Markdown rendering is filled in by report-markdown.ts.) */
import { mkdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import type { MachineDescription } from './machine.js'

export interface BenchReport {
  date: string
  quick: boolean
  machine: MachineDescription
  results: Record<string, unknown>
  errors: Record<string, string>
  durationSeconds: number
}

export function writeReport(report: BenchReport, dir: string): string[] {
  mkdirSync(dir, { recursive: true })
  const day = report.date.slice(0, 10)
  const json = path.join(dir, `${day}.json`)
  writeFileSync(json, `${JSON.stringify(report, null, 2)}\n`)
  return [json]
}
