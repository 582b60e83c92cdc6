/**
 * A TCP round trip between two namespaces, with Node processes entered there by
 * `nsenter --net` (Node itself cannot move a running process). The server answers
 * `pong:<message>` once and exits; both sides are killed after `timeoutMs`.
 */
import { spawn } from 'node:child_process';

const server = `
const net = require('node:net');
const [host, port] = [process.argv[1], Number(process.argv[2])];
const s = net.createServer((c) => c.once('data', (d) => { c.end('pong:' + d); s.close(); }));
s.listen(port, host, () => console.log('listening'));
setTimeout(() => process.exit(3), 8000).unref();
`;

const client = `
const net = require('node:net');
const [host, port, message] = [process.argv[1], Number(process.argv[2]), process.argv[3]];
const c = net.connect(port, host, () => c.write(message));
let got = '';
c.on('data', (d) => { got += d; });
c.on('end', () => { console.log(got); process.exit(0); });
c.on('error', (e) => { console.error(e.message); process.exit(2); });
setTimeout(() => { console.error('client timeout'); process.exit(4); }, 4000).unref();
`;

function inNetns(pid: number, script: string, args: string[]) {
  return spawn('nsenter', [`--net=/proc/${pid}/ns/net`, process.execPath, '-e', script, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

export async function tcpRoundTrip(options: {
  serverPid: number;
  clientPid: number;
  address: string;
  message: string;
  port?: number;
  timeoutMs?: number;
}): Promise<string> {
  const port = String(options.port ?? 18089);
  const timeoutMs = options.timeoutMs ?? 8000;
  const serverProcess = inNetns(options.serverPid, server, [options.address, port]);
  const killServer = () => {
    if (serverProcess.exitCode === null) serverProcess.kill('SIGKILL');
  };
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('server did not listen')), timeoutMs);
      let stderr = '';
      serverProcess.stderr.on('data', (d) => {
        stderr += d;
      });
      serverProcess.stdout.once('data', () => {
        clearTimeout(timer);
        resolve();
      });
      serverProcess.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`server exited ${code}: ${stderr}`));
      });
    });
    const clientProcess = inNetns(options.clientPid, client, [
      options.address,
      port,
      options.message,
    ]);
    return await new Promise<string>((resolve, reject) => {
      let stdout = '';
      let stderr = '';
      const timer = setTimeout(() => {
        clientProcess.kill('SIGKILL');
        reject(new Error('client timed out'));
      }, timeoutMs);
      clientProcess.stdout.on('data', (d) => {
        stdout += d;
      });
      clientProcess.stderr.on('data', (d) => {
        stderr += d;
      });
      clientProcess.once('exit', (code) => {
        clearTimeout(timer);
        if (code === 0) resolve(stdout.trim());
        else reject(new Error(`client exited ${code}: ${stderr.trim()}`));
      });
    });
  } finally {
    killServer();
  }
}
