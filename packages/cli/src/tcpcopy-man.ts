// The tcpcopy(1) page: the option table plus this prose.
import { tcpcopyOptions } from '@tcpcopy/config'
import type { ManPage } from './man.js'
import { VERSION } from './version.js'

export const tcpcopyManPage: ManPage = {
  table: tcpcopyOptions,
  section: 1,
  date: '2026-11-25',
  version: VERSION,
  name: 'tcpcopy',
  synopsis: 'tcpcopy -x [onIP:]port-targetIP:port[,...] -s intercept[:port][,...] [-c ip,...|a.b.c.x] [-n copies] [-r percent] [options]\n' +
    'tcpcopy -x ... -s ... -i device[,device...] [-F filter] [options]\n' +
    'tcpcopy -x ... -s ... -i file.pcap [-a factor] [-I ms] [-T n] [options]',
  description: [
    'tcpcopy is the copying half of TCPCopy. On the online server it captures the requests that real clients ' +
    'send to the ports named in -x, rewrites them to the target (the test server), and plays the client side ' +
    'of each TCP session against the target: it opens the connection (faking a SYN for sessions picked up in ' +
    'the middle, unless -O), sends the requests one round trip at a time (unless -W), acknowledges the ' +
    'target\'s data, retransmits what the target lost, and closes or resets the session as the real client did. ' +
    'The real clients never see the target: its responses are dropped by intercept(1), which sends their ' +
    'IP and TCP headers back to tcpcopy over TCP port 36524. Those headers pace the replay.',
    'Without -i, tcpcopy captures inbound TCP on all interfaces; with -i devices, on those devices. Either way ' +
    'the kernel filter is -F or the one built from -x ("tcp and ((dst port 80 and dst host 10.0.0.1) or ...)"), ' +
    'and packets this host sends are never captured, so tcpcopy never sees its own copies. Copies go out through ' +
    'a raw IPv4 socket, or with -o as Ethernet frames on that device with the MAC addresses given in -x. ' +
    'Packets larger than -M are split.',
    'With -i file.pcap (a path with a "/" or a name ending in .pcap, .pcapng or .cap) tcpcopy replays a pcap or ' +
    'pcapng file instead, at the pace of its timestamps divided by -a, skipping idle gaps longer than -I ' +
    'milliseconds, -T times. The target\'s responses still come from intercept. A progress bar is shown on a ' +
    'terminal, and a summary line ends the run. A corrupt or truncated file stops the replay where the damage ' +
    'starts; the packets before it are replayed, and the error names the byte offset.',
    'tcpcopy speaks the control protocol of the original tcpcopy 1.x by default (64-byte response records) and ' +
    'that of 0.9 with --protocol 0.9 (80-byte records), so it works with the original C intercept of either ' +
    'version as well as with intercept(1) of this package.'
  ],
  sections: [
    {
      title: 'Examples',
      paragraphs: [
        'Traditional architecture: intercept runs on the target 10.0.0.30, whose port 80 answers; copy this ' +
        'host\'s port 80 there:',
        '$ tcpcopy -x 80-10.0.0.30:80 -s 10.0.0.30 -d -l /var/log/tcpcopy.log -P /run/tcpcopy.pid',
        'Advanced architecture: intercept runs on an assistant 10.0.0.40; the copies use client addresses ' +
        '10.88.0.1-254, which the target routes to the assistant:',
        '$ tcpcopy -x 80-10.0.0.30:80 -s 10.0.0.40 -c 10.88.0.x',
        'Double the load (two copies of every session) on port 8080 of the target, from eth0 only:',
        '$ tcpcopy -x 80-10.0.0.30:8080 -s 10.0.0.30 -n 2 -i eth0',
        'Replay a recording twice as fast, then wait at most 10 seconds for the last sessions:',
        '$ tcpcopy -x 80-10.0.0.30:80 -s 10.0.0.30 -i ./requests.pcap -a 2 --eof-wait 10'
      ]
    },
    {
      title: 'Sessions and timeouts',
      paragraphs: [
        'A session whose target has shown no progress for -t seconds while tcpcopy waits on it (requests not yet ' +
        'sent, a request not yet answered, or no request yet) is reset and dropped; so is any session without ' +
        'progress for -k seconds. Progress is a handshake answer, data, a FIN or RST, an ACK that moves, or a ' +
        'window that changes. A session waiting on the target is probed now and then (an ACK with an old sequence ' +
        'number) so that a target connection that vanished answers with a RST; the bare ACKs that answer those ' +
        'probes are not progress, so a target that stops answering is still timed out. A window scale above 14 ' +
        'from the target is taken as 14 (RFC 7323). Three ACKs repeating the same ack and window, without data, ' +
        'are duplicate ACKs and trigger a fast retransmission; window updates are not.'
      ]
    },
    {
      title: 'Intercept connections',
      paragraphs: [
        'tcpcopy opens -C control connections to each intercept. A connection attempt that gets no answer within ' +
        '5 seconds is given up, and the log names the address and what to check (intercept running and listening ' +
        'on -p there, -s right, no firewall dropping the SYNs); attempts are repeated every 12 seconds. ' +
        'intercept ties the route of a session to the connection that announced it (CLIENT_ADD). When a control ' +
        'connection closes, tcpcopy announces its live sessions again over another connection to the same ' +
        'intercept, or over the first one that comes back, so they keep getting the target\'s responses. A ' +
        'connection whose send queue holds more than 1 MiB (intercept not reading) gets no more CLIENT_ADDs; when ' +
        'every connection to an intercept is backed up, the new session is counted as not announced there and, ' +
        'when no intercept took it, is not replayed.'
      ]
    },
    {
      title: 'Send errors and resources',
      paragraphs: [
        'A packet the kernel refuses (a firewall rule: EPERM; no route: EHOSTUNREACH or ENETUNREACH; too large: ' +
        'EMSGSIZE) is dropped and counted ("dropped N (errors M)" in the statistics), the first and every 1000th ' +
        'logged, and tcpcopy goes on with the other packets. When the send socket itself fails (closed, bad ' +
        'descriptor, the -o device gone), tcpcopy stops with exit status 3. Every 60 seconds tcpcopy logs the user ' +
        'and system CPU time it used and the memory it holds (the V8 heap in use plus buffers outside it: the ' +
        'packet slabs and the WASM memory); -m compares that, not the resident set size, which can stay high after ' +
        'a burst. Packet slabs that are empty again are handed back, beyond a 4 MiB reserve.'
      ]
    },
    {
      title: 'Statistics',
      paragraphs: [
        'Every 30 seconds once traffic has started, and on SIGUSR1, tcpcopy logs one line: sessions active, ' +
        'created, closed and timed out; packets captured, sent and retransmitted; responses received; and the ' +
        'requests it could not replay, with the reason for each kind.'
      ]
    },
    {
      title: 'Signals',
      paragraphs: [
        'SIGTERM and SIGINT stop tcpcopy in order: capture stops, every live session is reset at the target, ' +
        'the control connections are closed, the pidfile is removed. SIGUSR1 logs the statistics line. SIGHUP ' +
        'reopens the log file (for logrotate). SIGPIPE is ignored.'
      ]
    },
    {
      title: 'Exit status',
      paragraphs: [
        '0 after a clean stop or a complete offline replay (and, with -d, once the daemon is running). 2 for bad ' +
        'options, environment or config file. 3 when a system resource fails: missing privileges (root or ' +
        'CAP_NET_RAW), an unknown interface, no intercept reachable at start-up or every intercept lost without -L, ' +
        'a send socket that fails (one refused packet does not stop tcpcopy). 4 for an internal core error. 1 for anything else, such as a corrupt pcap file or ' +
        'the -m memory limit.'
      ]
    },
    {
      title: 'Differences from the original',
      paragraphs: [
        '-P writes the pidfile (the original parsed it and never wrote it). Captures ignore the packets the host ' +
        'sends, tcpcopy\'s own copies included. --eof-wait bounds the wait after the end ' +
        'of an offline replay, which ends early once every replayed session has finished (the original always ' +
        'waited 120 s). SIGHUP reopens the log instead of stopping tcpcopy. A packet the kernel refuses is dropped ' +
        'and counted instead of stopping tcpcopy. The live sessions of a control connection that closes are ' +
        'announced again over another one. -t also ends a session whose request the target never answers. -m ' +
        'compares the memory held, not the RSS. -U is accepted and ignored (with a warning).'
      ]
    },
    {
      title: 'See also',
      paragraphs: ['intercept(1), docs/config.md for the environment variables and the YAML config file.']
    }
  ]
}
