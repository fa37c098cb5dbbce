// The intercept(1) page: the option table plus this prose.
import { interceptOptions } from '@tcpcopy/config'
import type { ManPage } from './man.js'
import { VERSION } from './version.js'

export const interceptManPage: ManPage = {
  table: interceptOptions,
  section: 1,
  date: '2026-11-25',
  version: VERSION,
  name: 'intercept',
  synopsis: 'intercept [-x passlist] [-b ip] [-p port] [-s size] [-t seconds] [-l file] [-P file] [-d]\n' +
    'intercept -i device[,device...] -F filter [options]',
  description: [
    'intercept is the receiving half of TCPCopy. tcpcopy, on the online server, replays live requests ' +
    'to a test server. intercept sees the test server\'s responses, keeps them from reaching the real ' +
    'clients, and sends their IP and TCP headers back to the tcpcopy process that owns the session, over ' +
    'TCP port 36524. It speaks the wire protocol of the original C tcpcopy 0.9 (80-byte records) and 1.x ' +
    '(64-byte records), chosen per connection from the hello each tcpcopy sends.',
    'In the traditional architecture intercept runs on the test server and reads the responses from ' +
    'an NFQUEUE queue (the successor of the ip_queue of the original man page, which Linux removed in 3.5). ' +
    'A rule sends the test application\'s responses to the queue; intercept gives each packet a verdict: ' +
    'ACCEPT when its destination is in the passlist (-x), DROP otherwise, after forwarding its headers.',
    'In the advanced architecture (-i with -F) intercept runs on an assistant server on the same network ' +
    'segment. The test server routes the responses for the copied clients to the assistant, whose kernel ' +
    'drops them because IP forwarding is off; intercept captures them at the link layer with a kernel ' +
    'filter compiled from -F.',
    'A route from each copied client address and port to the tcpcopy connection that registered it is ' +
    'kept in a hash table in the WebAssembly core: -s sets its bucket count, --max-routes caps its ' +
    'entries (the least recently used is pushed out), and routes idle longer than -t seconds expire. ' +
    'Routes of a tcpcopy connection that closed are removed. Responses that arrive before their route ' +
    '(a SYN-ACK or RST that beats the CLIENT_ADD) wait up to 30 seconds and are delivered when it comes.'
  ],
  sections: [
    {
      title: 'Traditional architecture',
      paragraphs: [
        'On the test server, queue the application\'s responses (here: port 8080) and start intercept:',
        '$ iptables -I OUTPUT -p tcp --sport 8080 -j NFQUEUE --queue-num 0\n$ intercept -d -l /var/log/intercept.log -P /run/intercept.pid',
        'The rule must match only the application\'s responses: intercept\'s own traffic leaves from port 36524. ' +
        'The original man page\'s rule, -j QUEUE, also delivers to queue 0, but only with iptables-legacy: ' +
        'the default iptables (nf_tables backend) refuses it with "RULE_INSERT failed (No such file or directory)" ' +
        'on kernels without nft_queue. Use -j NFQUEUE.',
        'While the rule exists and nothing is bound to the queue, the kernel drops every matching response, ' +
        'answers to real users included. Stop tcpcopy first, then intercept, then delete the rule:',
        '$ iptables -D OUTPUT -p tcp --sport 8080 -j NFQUEUE --queue-num 0'
      ]
    },
    {
      title: 'Advanced architecture',
      paragraphs: [
        'On the assistant server (same network segment as the test server):',
        '$ sysctl -w net.ipv4.ip_forward=0\n$ intercept -i eth0 -F \'tcp and src port 8080\' -d',
        'On the test server, route the copied clients\' answers to the assistant, for example for a client pool 10.88.0.0/24 given to tcpcopy with -c:',
        '$ ip route add 10.88.0.0/24 via <assistant address>'
      ]
    },
    {
      title: 'Statistics',
      paragraphs: [
        'Every 30 seconds, and on SIGUSR1, intercept logs one line with the control connections, routes, and ' +
        'responses captured, forwarded, passed, dropped, delayed and unroutable, the router\'s hits, misses, ' +
        'evictions and expiries, and the kernel queue\'s own drop counters from /proc/net/netfilter/nfnetlink_queue. ' +
        'When those grow it says how to tune: a longer queue (-q) and larger socket buffers (sysctl net.core.rmem_max).'
      ]
    },
    {
      title: 'Signals',
      paragraphs: [
        'SIGTERM and SIGINT stop intercept in order: capture stops, pending records are sent, the tcpcopy ' +
        'connections are closed, the pidfile is removed. SIGUSR1 logs the statistics line. SIGHUP reopens ' +
        'the log file (for logrotate). SIGPIPE is ignored.'
      ]
    },
    {
      title: 'Exit status',
      paragraphs: [
        '0 after a clean stop (and, with -d, once the daemon is running). 2 for bad options, environment or ' +
        'config file. 3 when a system resource fails: missing privileges (root or CAP_NET_ADMIN for NFQUEUE, ' +
        'CAP_NET_RAW for link-layer capture), no nfnetlink_queue, a queue already bound, an unknown interface, ' +
        'the control port in use. 4 for an internal core error. 1 for anything else.'
      ]
    },
    {
      title: 'Differences from the original',
      paragraphs: [
        '-t works again (it was removed in 0.8 and made 0.9 and 1.x exit with "illegal argument"). -P writes the ' +
        'pidfile (the original parsed it and never wrote it). Clients older than 0.9.2 (8-byte messages, no hello) ' +
        'are refused: their process-wide key mode cannot coexist with other clients. Routes are exact 4-tuple ' +
        'matches, never the wrong session. --allow restricts who may register routes. Responses with IP options ' +
        'are sent with IHL 5 and the option bytes left out, so tcpcopy finds the TCP header where the record has it.'
      ]
    },
    {
      title: 'See also',
      paragraphs: ['tcpcopy(1), iptables-extensions(8) (NFQUEUE), docs/config.md for the environment variables and the YAML config file.']
    }
  ]
}
