// Runs inside a test's node namespace (plain node, no loader): listens on that namespace's own
// 127.0.0.1 and pipes every connection to a unix socket, which the test process serves from the
// root namespace (unix sockets are not per network namespace). Bytes only: TLS stays end to end.
// Usage: node ns-relay.mjs PORT=SOCKET_PATH [PORT=SOCKET_PATH ...]; prints `ready` once listening.
import net from 'node:net'

const pairs = process.argv.slice(2).map((arg) => {
  const i = arg.indexOf('=')
  return { port: Number(arg.slice(0, i)), path: arg.slice(i + 1) }
})
let listening = 0
for (const { port, path } of pairs) {
  net.createServer((client) => {
    const upstream = net.connect(path)
    client.pipe(upstream).pipe(client)
    client.on('error', () => upstream.destroy())
    upstream.on('error', () => client.destroy())
  }).listen(port, '127.0.0.1', () => {
    if (++listening === pairs.length) process.stdout.write('ready\n')
  })
}
