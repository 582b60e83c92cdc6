// Parsers for the cgroup file formats (Documentation/admin-guide/cgroup-v2.rst,
// "Interface Files" conventions, which v1 files mostly follow too).

/** "key value" lines (memory.stat, cpu.stat, memory.events, pids.events, cpuacct.stat). */
export function parseFlatKeyed(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const space = line.indexOf(' ');
    if (space > 0) out.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return out;
}

/** Sum of one key over "maj:min key=value ..." lines (v2 io.stat). */
export function sumNestedKeyed(text: string, key: string): number {
  let total = 0;
  const prefix = `${key}=`;
  for (const line of text.split('\n')) {
    for (const field of line.split(' ')) {
      if (field.startsWith(prefix)) total += Number(field.slice(prefix.length));
    }
  }
  return total;
}

/** Sum of one operation over "maj:min Op value" lines (v1 blkio.throttle.io_service*). */
export function sumBlkioOp(text: string, op: 'Read' | 'Write'): number {
  let total = 0;
  for (const line of text.split('\n')) {
    const parts = line.split(' ');
    if (parts.length === 3 && parts[1] === op) total += Number(parts[2]);
  }
  return total;
}

/** One line of a PSI file: share of wall time some (or all) tasks stalled. */
export interface PressureLine {
  /** Percent of the last 10 s, 60 s and 300 s. */
  avg10: number;
  avg60: number;
  avg300: number;
  /** Total stall time in microseconds since the cgroup was created. */
  totalUs: number;
}

/** Pressure stall information of one resource (v2 `cpu.pressure`, `memory.pressure`, `io.pressure`). */
export interface Pressure {
  some: PressureLine;
  /** Absent for cpu on kernels before 5.13. */
  full: PressureLine | undefined;
}

/** Parses "some avg10=.. avg60=.. avg300=.. total=.." / "full ..." lines. */
export function parsePressure(text: string): Pressure {
  let some: PressureLine = { avg10: 0, avg60: 0, avg300: 0, totalUs: 0 };
  let full: PressureLine | undefined;
  for (const line of text.split('\n')) {
    const [kind, ...fields] = line.split(' ');
    if (kind !== 'some' && kind !== 'full') continue;
    const v = new Map(fields.map((f) => f.split('=') as [string, string]));
    const parsed = {
      avg10: Number(v.get('avg10') ?? 0),
      avg60: Number(v.get('avg60') ?? 0),
      avg300: Number(v.get('avg300') ?? 0),
      totalUs: Number(v.get('total') ?? 0),
    };
    if (kind === 'some') some = parsed;
    else full = parsed;
  }
  return { some, full };
}

/** Parses a cpu/node list ("0-3,5,7-8") into sorted unique numbers; undefined if malformed. */
export function parseIdList(list: string): number[] | undefined {
  const trimmed = list.trim();
  if (trimmed === '') return [];
  const ids = new Set<number>();
  for (const part of trimmed.split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) return undefined;
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    if (hi < lo || hi - lo > 65536) return undefined;
    for (let i = lo; i <= hi; i++) ids.add(i);
  }
  return [...ids].sort((a, b) => a - b);
}
