/**
 * A throwaway CA and a server certificate for 127.0.0.1/localhost, made with openssl at test time
 * (nothing secret is checked in). In-process tests pass `caPem` to the SDK client (`tls.ca`);
 * child processes (the daemon) get `caFile` through NODE_EXTRA_CA_CERTS, which Node reads only at
 * startup.
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export interface TestTls {
  dir: string
  /** CA certificate (PEM file) for NODE_EXTRA_CA_CERTS. */
  caFile: string
  caPem: string
  certPem: string
  keyPem: string
  /** Removes the directory. */
  cleanup(): void
}

/** Generates the CA and the server certificate (EC P-256, valid one day). Synchronous, ~50 ms. */
export function makeTestTls(): TestTls {
  const dir = mkdtempSync(join(tmpdir(), 'fwdd-fake-arm-tls-'))
  const p = (name: string) => join(dir, name)
  const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: ['ignore', 'pipe', 'pipe'] })
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']
  openssl('req', '-x509', ...ec, '-keyout', p('ca.key'), '-out', p('ca.pem'), '-days', '1', '-subj', '/CN=fwdd test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign')
  openssl('req', ...ec, '-keyout', p('server.key'), '-out', p('server.csr'), '-subj', '/CN=127.0.0.1')
  writeFileSync(p('ext.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n')
  openssl('x509', '-req', '-in', p('server.csr'), '-CA', p('ca.pem'), '-CAkey', p('ca.key'), '-CAcreateserial',
    '-out', p('server.pem'), '-days', '1', '-extfile', p('ext.cnf'))
  return {
    dir,
    caFile: p('ca.pem'),
    caPem: readFileSync(p('ca.pem'), 'utf8'),
    certPem: readFileSync(p('server.pem'), 'utf8'),
    keyPem: readFileSync(p('server.key'), 'utf8'),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  }
}
