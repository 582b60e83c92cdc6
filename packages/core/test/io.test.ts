import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { Container } from '../src/index.js';

const box = new Container().timeout('30s');

describe('stdio', () => {
  it('streams 10 MB of output without deadlock', async () => {
    let streamed = 0;
    const r = await box.run(
      'sh',
      ['-c', 'head -c 10485760 /dev/zero; head -c 1048576 /dev/zero >&2'],
      {
        onStdout: (c) => {
          streamed += c.length;
        },
      },
    );
    expect(r.exitCode).toBe(0);
    expect(streamed).toBe(10 * 1024 * 1024);
    expect(r.stdout.length).toBe(10 * 1024 * 1024);
    expect(r.stderrBytes).toBe(1024 * 1024);
    expect(r.outputTruncated).toBe(false);
  });

  it('maxOutput keeps the first bytes, flags truncation and keeps draining', async () => {
    const r = await box.maxOutput('1k').run('sh', ['-c', 'seq 1 100000; echo done >&2']);
    expect(r.exitCode).toBe(0);
    expect(r.outputTruncated).toBe(true);
    expect(r.stdout.length).toBe(1024);
    expect(r.stdout.startsWith('1\n2\n3\n')).toBe(true);
    expect(r.stdoutBytes).toBeGreaterThan(500_000);
    expect(r.stderr).toBe('done\n');
  });

  it('passes stdin as a string, a Buffer and a stream', async () => {
    expect((await box.run('cat', [], { input: 'hello stdin' })).stdout).toBe('hello stdin');
    expect((await box.run('wc', ['-c'], { input: Buffer.alloc(5000, 1) })).stdout.trim()).toBe(
      '5000',
    );
    const stream = Readable.from(['a\n', 'b\n', 'c\n']);
    expect((await box.run('sort', ['-r'], { input: stream })).stdout).toBe('c\nb\na\n');
  });

  it('gives no stdin by default (EOF at once)', async () => {
    const r = await box.run('cat');
    expect(r).toMatchObject({ exitCode: 0, stdout: '' });
  });

  it('streams output through events and async iterators while running', async () => {
    const c = await box.start('sh', [
      '-c',
      'for i in 1 2 3; do echo line$i; echo err$i >&2; sleep 0.05; done',
    ]);
    const errs: string[] = [];
    c.on('stderr', (chunk) => errs.push(chunk.toString()));
    let out = '';
    for await (const chunk of c.output('stdout')) out += chunk.toString();
    const r = await c.wait();
    expect(out).toBe('line1\nline2\nline3\n');
    expect(errs.join('')).toBe('err1\nerr2\nerr3\n');
    expect(r.stdout).toBe(out);
  });
});

describe('user and environment', () => {
  it('.user(65534, 65534) runs as nobody with no capabilities', async () => {
    const r = await box
      .user(65534, 65534)
      .run('sh', ['-c', 'id -u; id -g; grep CapEff /proc/self/status']);
    expect(r.stdout).toBe('65534\n65534\nCapEff:\t0000000000000000\n');
  });

  it('supplementary groups, cwd and env reach the workload', async () => {
    const r = await box
      .user(1000, 1000, [4, 24])
      .cwd('/tmp')
      .env({ A: '1', B: 'two words' })
      .run('sh', ['-c', 'id -G; pwd; echo "$A|$B|$HOME"']);
    expect(r.stdout).toBe('1000 4 24\n/tmp\n1|two words|/\n');
  });

  it('rlimits apply to the workload', async () => {
    const r = await box.rlimit('nofile', 64, 128).run('sh', ['-c', 'ulimit -n; ulimit -Hn']);
    expect(r.stdout).toBe('64\n128\n');
  });
});
