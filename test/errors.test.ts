// The error catalogue (src/errors.ts): every error class of fwdd carries a code listed in
// ERROR_CODES, and its message and name stay what users and scripts already see.
import t from 'tap'
import { ERROR_CODES, FwdError, errorCodeOf, isSpawnError } from '../src/errors.js'
import { SpawnError } from '../src/process/runner.js'
import { UsageError } from '../src/daemon/args.js'
import { UserDataError } from '../src/cloud-init/render.js'
import { ControlReplyError, DaemonUnreachableError } from '../src/control/control-client.js'
import { AzureEndpointError } from '../src/azure/endpoints.js'
import { CredentialSetupError } from '../src/azure/credential.js'
import { ResourceIdError } from '../src/azure/resource-id.js'
import { ImdsError } from '../src/azure/imds.js'
import { AzureInvalidResponseError } from '../src/azure/network.js'

t.test('every error class carries a catalogued code; names and messages unchanged', async (t) => {
  const cases: Array<[Error, string, string, string]> = [
    [new SpawnError('iptables-save', { cause: new Error('ENOENT') }), 'FWD_ERR_SPAWN', 'SpawnError', 'starting iptables-save: ENOENT'],
    [new UsageError('--config needs a path'), 'FWD_ERR_USAGE', 'UsageError', '--config needs a path'],
    [new UserDataError('bad template'), 'FWD_ERR_USER_DATA', 'UserDataError', 'bad template'],
    [new ControlReplyError('/reload', 'the daemon answered 500'), 'FWD_ERR_CONTROL_REPLY', 'ControlReplyError', 'reload: the daemon answered 500'],
    [new AzureEndpointError('FWDD_ARM_ENDPOINT', 'x', 'not a URL'), 'FWD_ERR_AZURE_ENDPOINT', 'AzureEndpointError', 'FWDD_ARM_ENDPOINT="x": not a URL'],
    [new CredentialSetupError('no imds'), 'FWD_ERR_AZURE_CREDENTIAL', 'CredentialSetupError', 'no imds'],
    [new ResourceIdError('/x', 'too short'), 'FWD_ERR_RESOURCE_ID', 'ResourceIdError', 'resource id "/x": too short'],
    [new ImdsError('imds timed out', 504), 'FWD_ERR_IMDS', 'ImdsError', 'imds timed out'],
    [new AzureInvalidResponseError('no addresses'), 'FWD_ERR_AZURE_INVALID_RESPONSE', 'AzureInvalidResponseError', 'no addresses'],
    [new FwdError('FWD_ERR_SYSCTL', 'setting ip_forward'), 'FWD_ERR_SYSCTL', 'FwdError', 'setting ip_forward'],
  ]
  for (const [err, code, name, message] of cases) {
    t.equal(errorCodeOf(err), code, `${name} has ${code}`)
    t.ok(code in ERROR_CODES, `${code} is in the catalogue`)
    t.equal(err.name, name)
    t.equal(err.message, message)
  }
  const unreachable = new DaemonUnreachableError('/run/fwdd/fwdd.sock', Object.assign(new Error('connect ENOENT'), { code: 'ENOENT' }))
  t.equal(errorCodeOf(unreachable), 'FWD_ERR_DAEMON_UNREACHABLE')
  t.equal(unreachable.reason, 'ENOENT', 'the errno stays in `reason`')
  t.equal(errorCodeOf(Object.assign(new Error('x'), { code: 'EMFILE' })), undefined, 'an errno code is not a catalogue code')
  t.equal(errorCodeOf('text'), undefined)
  t.ok(isSpawnError(new SpawnError('conntrack', { cause: new Error('EMFILE') })), 'isSpawnError still knows SpawnError')
})
