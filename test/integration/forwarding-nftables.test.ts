// Every forwarding behaviour on the nftables backend (the suite: forwarding-suite.ts).
// Address plan: 198.18.0.0/15 inside namespaces this test creates.
import { forwardingSuite } from './forwarding-suite.js'

forwardingSuite('nftables')
