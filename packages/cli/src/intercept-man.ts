// The intercept(1) page: the option table plus this prose. The numbers of
// the limits section come from the engine's own constants.
import { interceptOptions } from '@tcpcopy/config'
import { DEFAULT_LIMITS, MAX_CONNECTION_IDS, NFQUEUE_COPY_RANGE, PACKET_SNAP, VERDICT_RETRY_MS } from '@tcpcopy/intercept'
import { CAPTURE_RING } from './capture.js'
import type { ManPage } from './man.js'
import { VERSION } from './version.js'

const MiB = 1024 * 1024
const L = DEFAULT_LIMITS
const RING_MIB = (CAPTURE_RING.blockSize * CAPTURE_RING.blockCount) / MiB

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
    '(64-byte records), chosen per connection from the hello each tcpcopy sends (see HELLO VERSIONS).',
    'In the traditional architecture intercept runs on the test server and reads the responses from ' +
    'an NFQUEUE queue (the successor of the ip_queue of the original man page, which Linux removed in 3.5). ' +
    'A rule sends the test application\'s responses to the queue; intercept gives each packet a verdict: ' +
    'ACCEPT when its destination is in the passlist (-x), DROP otherwise, after forwarding its headers.',
    'In the advanced architecture (-i with -F) intercept runs on an assistant server on the same network ' +
    'segment. The test server routes the responses for the copied clients to the assistant, whose kernel ' +
    'drops them because IP forwarding is off; intercept captures them at the link layer with a kernel ' +
    'filter compiled from -F, through an mmap\'ed TPACKET_V3 ring unless --no-capture-ring is given.',
    'A route from each copied client address and port to the tcpcopy connection that registered it is ' +
    'kept in a hash table in the WebAssembly core: -s n gives it 2n buckets, --max-routes caps its ' +
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
        '$ ip route add 10.88.0.0/24 via <assistant address>',
        `By default intercept receives the captured frames through a TPACKET_V3 ring, as libpcap does for the original: ${RING_MIB} MiB per ` +
        `capture socket (one per -i device, or one for all interfaces), locked in memory, in ${CAPTURE_RING.blockCount} blocks that the kernel ` +
        `hands over when they are full or after ${CAPTURE_RING.retireMs} ms. At low packet rates that adds up to about ${CAPTURE_RING.retireMs} ms ` +
        'before a response\'s header goes to tcpcopy, and a stalled intercept has room for fewer packets than a socket buffer holds. ' +
        '--no-capture-ring receives with recvmmsg from a 32 MiB socket buffer instead, at about twice the CPU per response ' +
        '(npm run bench -w @tcpcopy/cli). The start-up line "mode: advanced ..." names the capture path in use.'
      ]
    },
    {
      title: 'Statistics',
      paragraphs: [
        'Every 30 seconds, and on SIGUSR1, intercept logs one line with the control connections, routes, and ' +
        'responses captured, forwarded, passed (ACCEPT verdicts), dropped (DROP verdicts sent to the kernel), delayed and unroutable, the router\'s hits, misses, ' +
        'evictions and expiries, the records lost on the way to tcpcopy, and the kernel queue\'s own drop counters from /proc/net/netfilter/nfnetlink_queue. ' +
        'Counters that are not zero follow: verdicts waiting for a retry or lost, records over the output caps, unsent output bytes, ' +
        'TCP headers cut, hello timeouts.',
        'When something grows between two lines, the line ends with the tuning notes of the original that apply: ' +
        'a full kernel queue asks for a longer queue (-q, e.g. -q 4096; the kernel default is 1024); a full socket receive buffer ' +
        '("socket full", receive overruns) for larger receive buffers (sysctl -w net.core.rmem_max=16777216 net.core.rmem_default=16777216; ' +
        'intercept asks for 16 MiB, which without CAP_NET_ADMIN is capped at rmem_max); in advanced mode with the ring (the default), ' +
        'whose size is fixed, a full ring for --no-capture-ring (a 32 MiB socket buffer), a narrower -F or less load; verdicts that could not be sent for a larger ' +
        'send buffer of the NFQUEUE socket (net.core.wmem_default and net.core.wmem_max); and records dropped because tcpcopy reads too ' +
        'slowly for larger TCP send buffers here (net.core.wmem_max and net.ipv4.tcp_wmem) and receive buffers on the tcpcopy host ' +
        '(net.core.rmem_max and net.ipv4.tcp_rmem), or a less loaded tcpcopy host.'
      ]
    },
    {
      title: 'Signals',
      paragraphs: [
        'SIGTERM and SIGINT stop intercept in order: capture stops, pending records are sent, the tcpcopy ' +
        'connections are closed, the pidfile is removed. SIGUSR1 logs the statistics line. SIGHUP reopens ' +
        'the log file (for logrotate); when the file cannot be opened, intercept says so in one error line (in the old ' +
        'file and on standard error) and keeps writing to the file it had. SIGPIPE is ignored.',
        'The handlers are in place from the first instant of the program, not only once it runs: a SIGTERM or SIGINT ' +
        'during start-up (while it listens, opens the capture or waits up to 5 seconds for the kernel to accept the ' +
        'NFQUEUE configuration) cancels the start, closes what was opened and exits 0; SIGUSR1 during start-up only ' +
        'logs a line (it never starts the Node.js inspector); SIGHUP reopens the log once it is open.',
        'An error that nothing handled (an uncaught exception or an unhandled promise rejection) is logged with its stack, ' +
        'then intercept stops in the same order as for SIGTERM (the queue is unbound, the pidfile removed) and exits 1; if ' +
        'that stop has not ended the process after 10 seconds, it exits at once.',
        'With -d, the parent waits for the daemon to report that it runs. A daemon that has not reported after 30 seconds ' +
        'is stopped by its PID (SIGTERM, SIGKILL 3 seconds later) and the parent exits 1 with a line saying so; the same ' +
        'happens when the parent gets SIGTERM or SIGINT while it waits.',
        'A pidfile left behind by a copy that did not stop cleanly is taken over with a warning when the process it names ' +
        'is gone, or is now another program (the PID was reused; /proc/<pid>/cmdline tells); it is refused only when that ' +
        'process looks like intercept.'
      ]
    },
    {
      title: 'Exit status',
      paragraphs: [
        '0 after a clean stop (and, with -d, once the daemon is running). 2 for bad options, environment or ' +
        'config file. 3 when a system resource fails: missing privileges (root or CAP_NET_ADMIN for NFQUEUE, ' +
        'CAP_NET_RAW for link-layer capture), no nfnetlink_queue, a queue already bound, an unknown interface, ' +
        'the control port in use. 4 for an internal core error. 1 for anything else, a fatal error while running ' +
        'included. In the foreground, start-up warnings and the NFQUEUE rule to use are also printed to standard error ' +
        '("intercept: warning: ...", "intercept: note: ...").'
      ]
    },
    {
      title: 'Differences from the original',
      paragraphs: [
        '-t works again (it was removed in 0.8 and made 0.9 and 1.x exit with "illegal argument"). -P writes the ' +
        'pidfile (the original parsed it and never wrote it). Clients older than 0.9.2 (8-byte messages, no hello) ' +
        'are refused: their process-wide key mode cannot coexist with other clients. Routes are exact 4-tuple ' +
        'matches, never the wrong session. --allow restricts who may register routes. Responses with IP options ' +
        'are sent with IHL 5 and the option bytes left out, so tcpcopy finds the TCP header where the record has it.',
        `Verdict order: the verdicts of each batch of queued packets are sent to the kernel before any of its records is handed ` +
        `to a tcpcopy connection, so a slow or stuck tcpcopy never holds a packet in the queue (INTERCEPT.md §12); the ` +
        `original issued each verdict after routing and sending the record. A verdict whose send fails is kept and retried ` +
        `every ${VERDICT_RETRY_MS} ms and before the next batch, oldest first, and counted in the statistics, rather than ` +
        'leaving the packet queued until the queue fills. Every queued packet gets a verdict, packets shorter ' +
        'than 40 bytes included (DROP); the original gave those none.',
        '-n 0 is accepted as in the original: the adaptive batch size starts at 0, so the first record is sent at once, ' +
        'and the size then adapts from 1 (up to 16 records, 6 with --payload). -n 16 (the default) is accepted too.',
        'A 1.x record holds 44 bytes of TCP header; a longer one (options beyond 24 bytes) is cut there with its doff ' +
        'unchanged, as intercept 1.x does, and counted ("tcp headers cut"), with a notice at most every 10 seconds.'
      ]
    },
    {
      title: 'Hello versions',
      paragraphs: [
        'The first message of every tcpcopy connection is a hello carrying a version, and the version decides the record ' +
        'size for that connection. 3 and 4 (tcpcopy 0.9.2 to 0.9.7) and 5 (0.9.8 and later 0.9), each also with the ' +
        '0x8000 bit of a 0.9 build with --enable-advanced (0x8003, 0x8004, 0x8005), get 0.9 records of 80 bytes (208 with ' +
        '--payload); 6 (every 1.x) gets 1.x records of 64 bytes (192). The log names the release behind each hello. ' +
        'tcpcopy 0.9.2 to 0.9.7 read up to 20 records per combined frame and later releases 16; intercept sends at most ' +
        '16 (6 with --payload) to everyone.',
        'Any other version is not one a tcpcopy release sends: as the originals do on a version mismatch, intercept logs ' +
        'a warning naming it and goes on, with 1.x records. A client older than 0.9.2 sends no hello (8-byte messages) and ' +
        'is refused with a line asking to upgrade it.'
      ]
    },
    {
      title: 'Limits',
      paragraphs: [
        `Copy range: NFQUEUE copies the first ${NFQUEUE_COPY_RANGE} bytes of each packet (the largest IP and TCP headers and ` +
        `128 payload bytes; the originals asked for 64 or 80, plus 128 with payload); link-layer capture keeps ${PACKET_SNAP} ` +
        'bytes of each frame.',
        `Control connections: at most ${MAX_CONNECTION_IDS} at once; further ones are refused with a log line. A connection ` +
        `that has not sent its hello ${L.helloTimeoutMs / 1000} seconds after it was accepted is closed with a log line ` +
        '(counted as a hello timeout), so silent connections cannot use up the connection ids.',
        `Output to tcpcopy: a connection may hold ${L.maxPendingOutputBytes / MiB} MiB of records it has not read yet ` +
        `(its socket buffer plus what intercept stages behind it), and all connections together ${L.maxTotalOutputBytes / MiB} MiB. ` +
        'A record over either cap is dropped and counted as lost ("records over the output caps", per connection and for all ' +
        'connections); a warning says so at most every 10 seconds, the connection stays open, and a notice says when it ' +
        'takes records again.',
        `Input from tcpcopy: more than ${L.maxUnknownTypes} messages in a row of an unknown type close the connection as garbage (the ` +
        `original only warned about each); more than ${L.maxPendingInputBytes / MiB} MiB of input not yet decoded closes it ` +
        'as a flood; a stream that ends inside a message is logged. Each closes that connection only.',
        'Delay table: responses that beat their route are kept 30 seconds at most, up to 16 per session (client and target ' +
        'address and port) and 65536 in all (the oldest goes first when it is full); the original had no limit.',
        `Verdicts: at most ${L.maxPendingVerdicts} verdicts whose send failed wait for a retry; beyond that the oldest are ` +
        'given up and counted as lost (their packets stay queued until intercept unbinds the queue). Verdicts still waiting ' +
        'at stop are counted the same way.',
        `Log lines about control connections (accepted, refused, closed) are written at most ${L.connectionLogBurst} per kind ` +
        'every 10 seconds; the rest are counted in one summary line, so connection churn or refused scans cannot fill the disk.'
      ]
    },
    {
      title: 'See also',
      paragraphs: ['tcpcopy(1), iptables-extensions(8) (NFQUEUE), docs/config.md for the environment variables and the YAML config file.']
    }
  ]
}
