/**
 * A runner whose programs run inside a network namespace (`ip netns exec NS ...`): the dataplane
 * adapters are tested against the real kernel in a namespace the test made, never the host's.
 */
import { execFileSync } from 'node:child_process'
import { createProcessRunner, type Runner } from '../../src/process/runner.js'

export function nsRunner(ns: string): Runner {
  const real = createProcessRunner()
  return {
    run: (file, args, options) => real.run('ip', ['netns', 'exec', ns, file, ...args], options),
    stream: (file, args, onLine, onExit) => real.stream!('ip', ['netns', 'exec', ns, file, ...args], onLine, onExit),
    // `ip netns exec` execs the program in place: the pid the runner saw is the writer nft names.
    ownsPid: (pid) => real.ownsPid!(pid),
  }
}

/** Makes an empty namespace with a random suffix; returns its name and a synchronous remover. */
export function emptyNs(prefix: string): { ns: string; remove: () => void } {
  const ns = `${prefix}${Math.random().toString(36).slice(2, 8)}`
  execFileSync('ip', ['netns', 'add', ns])
  execFileSync('ip', ['netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up'])
  return { ns, remove: () => execFileSync('ip', ['netns', 'del', ns]) }
}
