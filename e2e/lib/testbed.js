// The one-machine test bed of ARCHITECTURES.md §4: namespaces cli, onl, tgt
// and ast (10.77.0.10/.20/.30/.40 on eth0) joined by bridge br0 in a fifth
// namespace, sw. Every interface is created inside the namespaces (never in
// the host's), rp_filter is off and IP forwarding is off everywhere (ast is
// the black hole of the advanced architecture), and the neighbour entries
// are static, so no test waits for ARP. destroy() stops the agents and
// deletes the namespaces, which takes their interfaces, routes and iptables
// rules with them. The bridge's forwarding table is static too, so unicast
// frames never flood to a host they are not addressed to.
import { Netns, run } from './netns.js'

export const HOSTS = ['cli', 'onl', 'tgt', 'ast']
export const ADDR = { cli: '10.77.0.10', onl: '10.77.0.20', tgt: '10.77.0.30', ast: '10.77.0.40' }
/** The fake client pool of `tcpcopy -c 10.88.0.x` (assigned nowhere). */
export const POOL = '10.88.0.0/24'

export class Testbed {
  /** Creates sw + the given hosts (default all four). */
  static create (hosts = HOSTS) {
    const bed = new Testbed()
    try {
      bed.sw = Netns.create('sw')
      bed.sw.ip('link', 'add', 'br0', 'type', 'bridge')
      bed.sw.ip('link', 'set', 'br0', 'up')
      for (const h of hosts) {
        const ns = Netns.create(h)
        bed.hosts[h] = ns
        bed.sw.ip('link', 'add', `p-${h}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns.name)
        bed.sw.ip('link', 'set', `p-${h}`, 'master', 'br0', 'up')
        ns.ip('addr', 'add', `${ADDR[h]}/24`, 'dev', 'eth0')
        ns.ip('link', 'set', 'eth0', 'up')
        // Real wire-sized packets (§4.5); ethtool may be missing: then the defaults stay.
        ns.exec('ethtool', ['-K', 'eth0', 'tso', 'off', 'gso', 'off', 'gro', 'off'], { allowFail: true })
      }
      const macs = Object.fromEntries(hosts.map((h) => [h, bed.hosts[h].mac('eth0')]))
      // The bridge knows every port's MAC from the start: no unicast is flooded
      // to the other hosts (a capture in cli sees only what is sent to cli).
      for (const h of hosts) run('bridge', ['-n', bed.sw.name, 'fdb', 'replace', macs[h], 'dev', `p-${h}`, 'master', 'static'])
      for (const a of hosts) {
        for (const b of hosts) {
          if (a !== b) bed.hosts[a].ip('neigh', 'replace', ADDR[b], 'lladdr', macs[b], 'dev', 'eth0', 'nud', 'permanent')
        }
      }
    } catch (err) {
      bed.destroy().catch(() => {})
      throw err
    }
    return bed
  }

  constructor () {
    this.sw = undefined
    this.hosts = {}
  }

  get cli () { return this.hosts.cli }
  get onl () { return this.hosts.onl }
  get tgt () { return this.hosts.tgt }
  get ast () { return this.hosts.ast }

  /** Stops the agents (by PID) and deletes every namespace; safe to call twice. */
  async destroy () {
    for (const ns of Object.values(this.hosts)) await ns.destroy()
    this.hosts = {}
    await this.sw?.destroy()
    this.sw = undefined
  }
}
