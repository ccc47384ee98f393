// The periodic verify's period: resyncSeconds, stretched only when verifying would take > 5 %.
import t from 'tap'
import { VERIFY_DUTY, verifyPeriodMs } from '../../src/reconcile/verify-period.js'

t.test('small nodes verify every resyncSeconds; a slow verify stretches the period to 5 % duty', async (t) => {
  t.equal(verifyPeriodMs(10, 0), 10_000, 'no verify yet: resyncSeconds')
  t.equal(verifyPeriodMs(10, 120), 10_000, 'a 120 ms verify (1000 listeners) keeps the 10 s period')
  t.equal(verifyPeriodMs(10, 500), 10_000, 'exactly 5 %: unchanged')
  t.equal(verifyPeriodMs(10, 1010), 20_200, 'a 1.01 s verify (10,000 listeners on nftables): every 20 s')
  t.equal(verifyPeriodMs(60, 1010), 60_000, 'a longer resyncSeconds stays')
  t.equal(VERIFY_DUTY, 0.05)
})
