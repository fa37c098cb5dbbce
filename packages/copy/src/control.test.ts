import { expect } from 'chai'
import * as net from 'node:net'
import { once } from 'node:events'
import { defaultConnect } from './control.js'

describe('defaultConnect', () => {
  async function server (): Promise<{ port: number, peer: Promise<net.Socket>, close: () => void }> {
    const srv = net.createServer()
    srv.listen(0, '127.0.0.1')
    await once(srv, 'listening')
    const peer = once(srv, 'connection').then(([s]) => s as net.Socket)
    return { port: (srv.address() as net.AddressInfo).port, peer, close: () => { srv.close() } }
  }

  it('hands what it reads to onData, in order, and emits no \'data\' events', async () => {
    const srv = await server()
    const chunks: number[][] = []
    let dataEvents = 0
    const sock = defaultConnect('127.0.0.1', srv.port, (chunk) => { chunks.push([...chunk]) })
    sock.on('data', () => { dataEvents++ })
    await once(sock as net.Socket, 'connect')
    const peer = await srv.peer
    peer.write(Uint8Array.from([1, 2, 3]))
    await new Promise((resolve) => setTimeout(resolve, 50))
    peer.write(Uint8Array.from([4, 5]))
    peer.end()
    await once(sock as net.Socket, 'close')
    expect(chunks.flat()).to.deep.equal([1, 2, 3, 4, 5])
    expect(dataEvents).to.equal(0)
    srv.close()
  })

  it('without onData: a plain socket that emits \'data\'', async () => {
    const srv = await server()
    const got: number[] = []
    const sock = defaultConnect('127.0.0.1', srv.port)
    sock.on('data', (chunk: Uint8Array) => { got.push(...chunk) })
    await once(sock as net.Socket, 'connect')
    const peer = await srv.peer
    peer.end(Uint8Array.from([7, 8]))
    await once(sock as net.Socket, 'close')
    expect(got).to.deep.equal([7, 8])
    srv.close()
  })
})
