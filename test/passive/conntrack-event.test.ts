/** The conntrack event parser, on lines as conntrack 1.4.7 prints them with `-o timestamp,id`. */
import t from 'tap'
import { isEventLoss, parseConntrackEvent } from '../../src/passive/conntrack-event.js'

const NEW = '[1796227193.680508]\t    [NEW] tcp      6 120 SYN_SENT src=198.18.0.2 dst=198.18.0.1 sport=39994 dport=8000 [UNREPLIED] src=198.18.1.2 dst=198.18.1.1 sport=80 dport=39994 mark=262144 id=2411968969'
const RECV = '[1796227193.681315]\t [UPDATE] tcp      6 60 SYN_RECV src=198.18.0.2 dst=198.18.0.1 sport=39994 dport=8000 src=198.18.1.2 dst=198.18.1.1 sport=80 dport=39994 mark=262144 id=2411968969'
const RESET = '[1796227193.680708]\t[DESTROY] tcp      6 120 CLOSE src=198.18.0.2 dst=198.18.0.1 sport=39994 dport=8000 [UNREPLIED] src=198.18.1.2 dst=198.18.1.1 sport=80 dport=39994 mark=262144 id=2411968969'

t.test('a NEW event gives the target after DNAT (reply source), the listener port and the stamp', async (t) => {
  const ev = parseConntrackEvent(NEW)
  t.same(ev, { type: 'new', proto: 'tcp', state: 'SYN_SENT', unreplied: true, id: '2411968969', target: { address: '198.18.1.2', port: 80 }, listenerPort: 8000, atWallMs: 1796227193680.508 })
})

t.test('an answer and a reset are told apart by [UNREPLIED] and the state', async (t) => {
  t.match(parseConntrackEvent(RECV), { type: 'update', state: 'SYN_RECV', unreplied: false })
  t.match(parseConntrackEvent(RESET), { type: 'destroy', state: 'CLOSE', unreplied: true })
})

t.test('a line without a timestamp parses with a null stamp; a DESTROY without a timeout field parses', async (t) => {
  t.match(parseConntrackEvent(NEW.replace(/^\[[^\]]+\]\t/, '')), { type: 'new', atWallMs: null })
  t.match(parseConntrackEvent(RESET.replace(' 6 120 CLOSE', ' 6 CLOSE')), { type: 'destroy', state: 'CLOSE' })
})

t.test('chatter and partial lines are not events', async (t) => {
  t.equal(parseConntrackEvent('NOTICE: Netlink socket buffer size has been set to 16777216 bytes.'), null)
  t.equal(parseConntrackEvent('conntrack v1.4.7 (conntrack-tools): 8 flow events have been shown.'), null)
  t.equal(parseConntrackEvent(NEW.replace(/ id=\d+/, '')), null, 'no id: cannot be tied to its answer')
  t.equal(parseConntrackEvent(''), null)
})

t.test('event loss is recognised on stderr', async (t) => {
  t.ok(isEventLoss('WARNING: We have hit ENOBUFS! We are losing events.'))
  t.ok(isEventLoss('conntrack v1.4.7 (conntrack-tools): Operation failed: No buffer space available'))
  t.notOk(isEventLoss('NOTICE: Netlink socket buffer size has been set to 16777216 bytes.'))
})

t.test('with accounting on (fwdd enables nf_conntrack_acct) the counters between the fields do not confuse it', async (t) => {
  const line = '[1796227193.680508]\t    [NEW] tcp      6 120 SYN_SENT src=198.18.0.2 dst=198.18.0.1 sport=39994 dport=8000 packets=1 bytes=60 [UNREPLIED] src=198.18.1.2 dst=198.18.1.1 sport=80 dport=39994 packets=0 bytes=0 mark=262144 id=77'
  t.match(parseConntrackEvent(line), { type: 'new', unreplied: true, target: { address: '198.18.1.2', port: 80 }, listenerPort: 8000, id: '77' })
  const answered = '[1796227193.690508]\t [UPDATE] tcp      6 60 SYN_RECV src=198.18.0.2 dst=198.18.0.1 sport=39994 dport=8000 packets=1 bytes=60 src=198.18.1.2 dst=198.18.1.1 sport=80 dport=39994 packets=1 bytes=60 mark=262144 id=77'
  t.match(parseConntrackEvent(answered), { type: 'update', unreplied: false, state: 'SYN_RECV', id: '77' })
})
