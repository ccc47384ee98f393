/**
 * Child script: the baseline of the health-endpoint benchmark, a bare Node HTTP server that answers
 * every request with a constant 200 (`node constant-server.js ADDRESS PORT`). Prints `listening`.
 */
import http from 'node:http'

const [address = '127.0.0.1', port = '8081'] = process.argv.slice(2)
const body = '{"ok":true}'
const server = http.createServer((_req, res) => {
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) })
  res.end(body)
})
server.listen(Number(port), address, () => process.stdout.write('listening\n'))
process.on('SIGTERM', () => process.exit(0))
