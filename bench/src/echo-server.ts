/**
 * Child script: a TCP echo server (`node echo-server.js PORT`), the far end of the disruption
 * benchmark's long-lived connections. Prints `listening` once bound.
 */
import net from 'node:net'

const port = Number(process.argv[2] ?? '7')
const server = net.createServer((s) => {
  s.on('error', () => s.destroy())
  s.pipe(s)
})
server.listen(port, '0.0.0.0', () => process.stdout.write('listening\n'))
process.on('SIGTERM', () => process.exit(0))
