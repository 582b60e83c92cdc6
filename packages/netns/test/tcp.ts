/**
 * TCP and UDP round trips between namespaces, with Node processes entered there by
 * `nsenter --net` (Node itself cannot move a running process). The server answers
 * `pong:<message>` (plus ` from <peer address>` with `reportPeer`) once and exits;
 * every process is killed after a timeout.
 */
import { type ChildProcessByStdio, spawn } from 'node:child_process';
import type { Readable } from 'node:stream';

const tcpServer = `
const net = require('node:net');
const [host, port, reportPeer] = [process.argv[1], Number(process.argv[2]), process.argv[3] === '1'];
const s = net.createServer((c) => c.once('data', (d) => {
  c.end('pong:' + d + (reportPeer ? ' from ' + c.remoteAddress : ''));
  s.close();
}));
s.listen(port, host, () => console.log('listening'));
setTimeout(() => process.exit(3), 10000).unref();
`;

const tcpClient = `
const net = require('node:net');
const [host, port, message] = [process.argv[1], Number(process.argv[2]), process.argv[3]];
const c = net.connect(port, host, () => c.write(message));
let got = '';
c.on('data', (d) => { got += d; });
c.on('end', () => { console.log(got); process.exit(0); });
c.on('error', (e) => { console.error(e.message); process.exit(2); });
setTimeout(() => { console.error('client timeout'); process.exit(4); }, 4000).unref();
`;

const udpServer = `
const dgram = require('node:dgram');
const [host, port] = [process.argv[1], Number(process.argv[2])];
const s = dgram.createSocket('udp4');
s.on('message', (m, r) => s.send('pong:' + m, r.port, r.address, () => s.close()));
s.bind(port, host, () => console.log('listening'));
setTimeout(() => process.exit(3), 10000).unref();
`;

const udpClient = `
const dgram = require('node:dgram');
const [host, port, message] = [process.argv[1], Number(process.argv[2]), process.argv[3]];
const c = dgram.createSocket('udp4');
c.on('message', (m) => { console.log(String(m)); process.exit(0); });
c.send(message, port, host);
setTimeout(() => { console.error('client timeout'); process.exit(4); }, 4000).unref();
`;

function inNetns(
  pid: number,
  script: string,
  args: string[],
): ChildProcessByStdio<null, Readable, Readable> {
  return spawn('nsenter', [`--net=/proc/${pid}/ns/net`, process.execPath, '-e', script, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

export interface RoundTripOptions {
  serverPid: number;
  clientPid: number;
  /** Where the server listens. */
  address: string;
  message: string;
  port?: number;
  /** Where the client connects (default: the server's address and port). */
  connectAddress?: string;
  connectPort?: number;
  protocol?: 'tcp' | 'udp';
  reportPeer?: boolean;
  timeoutMs?: number;
}

export async function tcpRoundTrip(options: RoundTripOptions): Promise<string> {
  const udp = options.protocol === 'udp';
  const port = String(options.port ?? 18089);
  const timeoutMs = options.timeoutMs ?? 8000;
  const server = inNetns(options.serverPid, udp ? udpServer : tcpServer, [
    options.address,
    port,
    options.reportPeer ? '1' : '0',
  ]);
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('server did not listen')), timeoutMs);
      let stderr = '';
      server.stderr.on('data', (d) => {
        stderr += d;
      });
      server.stdout.once('data', () => {
        clearTimeout(timer);
        resolve();
      });
      server.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`server exited ${code}: ${stderr}`));
      });
    });
    const client = inNetns(options.clientPid, udp ? udpClient : tcpClient, [
      options.connectAddress ?? options.address,
      String(options.connectPort ?? port),
      options.message,
    ]);
    return await new Promise<string>((resolve, reject) => {
      let stdout = '';
      let stderr = '';
      const timer = setTimeout(() => {
        client.kill('SIGKILL');
        reject(new Error('client timed out'));
      }, timeoutMs);
      client.stdout.on('data', (d) => {
        stdout += d;
      });
      client.stderr.on('data', (d) => {
        stderr += d;
      });
      client.once('exit', (code) => {
        clearTimeout(timer);
        if (code === 0) resolve(stdout.trim());
        else reject(new Error(`client exited ${code}: ${stderr.trim()}`));
      });
    });
  } finally {
    if (server.exitCode === null) server.kill('SIGKILL');
  }
}
