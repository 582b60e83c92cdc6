import { describe, expect, it } from 'vitest';
import { InvalidSpecError, parseDuration, parseSize } from '../src/index.js';

describe('units', () => {
  it.each([
    [512, 512],
    ['100', 100],
    ['64k', 65536],
    ['512M', 512 * 1024 ** 2],
    ['1.5G', 1.5 * 1024 ** 3],
    ['2MiB', 2 * 1024 ** 2],
    [' 3 mb ', 3 * 1024 ** 2],
  ])('size %j is %d bytes', (input, bytes) => {
    expect(parseSize(input, 'x')).toBe(bytes);
  });

  it.each([
    [250, 250],
    ['250ms', 250],
    ['5s', 5000],
    ['1.5s', 1500],
    ['2m', 120_000],
    ['1h', 3_600_000],
  ])('duration %j is %d ms', (input, ms) => {
    expect(parseDuration(input, 'x')).toBe(ms);
  });

  it.each(['12 parsecs', '-1M', '', 'M', '1..5G', null, {}])('size %j is rejected', (input) => {
    expect(() => parseSize(input as string, 'memory')).toThrow(InvalidSpecError);
  });

  it.each(['12 parsecs', '-5s', '0', 0, Number.NaN, '5 fortnights'])(
    'duration %j is rejected',
    (input) => {
      expect(() => parseDuration(input as string, 'timeout')).toThrow(InvalidSpecError);
    },
  );
});
