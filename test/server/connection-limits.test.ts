// The health port's connection caps, on a real socket on loopback: idle connections from anyone
// cannot exhaust the daemon's file descriptors, and the LB probe's address is always answered.
import net from 'node:net'
import t from 'tap'
import { buildServer } from '../../src/server/build-server.js'
import type { Status } from '../../src/status.js'

const status: Status = {
  node: { ready: true, draining: false, inSync: true, lastSyncAt: null, lastError: null, version: 't', health: { healthy: true, reasons: [] } },
  listeners: [{ name: 'web', protocol: 'tcp', port: 8000, serving: true, reason: null, targets: [] }],
}

/** Opens a connection from `from` and resolves whether it is still open after a short while. */
function idle(port: number, from: string): Promise<{ socket: net.Socket; open: boolean }> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port, localAddress: from })
    let closed = false
    socket.on('close', () => { closed = true })
    socket.on('error', () => { closed = true })
    socket.once('connect', () => setTimeout(() => resolve({ socket, open: !closed }), 150))
  })
}

/** One GET over a fresh connection from `from`; resolves the status line or 'closed'. */
function probe(port: number, from: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port, localAddress: from })
    let data = ''
    socket.on('data', (d) => { data += d.toString() })
    socket.on('error', () => resolve('closed'))
    socket.on('close', () => resolve(data.split('\r\n')[0] || 'closed'))
    socket.once('connect', () => socket.write('GET /lb/web HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n'))
  })
}

t.test('caps per source and in total; the reserved (LB probe) address is always answered', async (t) => {
  const app = buildServer({ status: () => status, nodeHealth: () => ({ healthy: true, reasons: [] }), metricsText: async () => '', logger: false, limits: { perSource: 4, maxConnections: 6, reserved: ['127.0.0.2'] } })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const port = (app.server.address() as net.AddressInfo).port
  const sockets: net.Socket[] = []
  t.teardown(async () => {
    for (const s of sockets) s.destroy()
    await app.close()
  })
  const fromOne = []
  for (let i = 0; i < 5; i++) fromOne.push(await idle(port, '127.0.0.1'))
  sockets.push(...fromOne.map((x) => x.socket))
  t.same(fromOne.map((x) => x.open), [true, true, true, true, false], 'the fifth idle connection from one address is closed')
  const fromThree = [await idle(port, '127.0.0.3'), await idle(port, '127.0.0.3')]
  sockets.push(...fromThree.map((x) => x.socket))
  t.same(fromThree.map((x) => x.open), [true, true], 'another address gets in while the total allows')
  const over = await idle(port, '127.0.0.4')
  sockets.push(over.socket)
  t.equal(over.open, false, 'past the total cap, a new address is closed too')
  t.equal(await probe(port, '127.0.0.2'), 'HTTP/1.1 200 OK', 'the reserved address is answered while every cap is reached')
  for (const s of fromOne) s.socket.destroy()
  await new Promise((r) => setTimeout(r, 100))
  t.equal(await probe(port, '127.0.0.1'), 'HTTP/1.1 200 OK', 'closing connections frees the cap')
})
