import { describe, expect, it } from 'vitest';
import { levelBetween, SILENCE_DB } from '../../media-task/rtp/audio-level.ts';

const at = (levelSamples: number, levelEnergy: number) => ({ levelSamples, levelEnergy });

describe('levelBetween', () => {
  it.each<[string, ReturnType<typeof at>, ReturnType<typeof at>, number | undefined]>([
    ['full scale throughout reads 0 dBFS', at(0, 0), at(8000, 8000 * 32768 ** 2), 0],
    ['a tenth of full scale reads -20 dBFS', at(100, 5), at(8100, 5 + 8000 * 3276.8 ** 2), -20],
    [
      'only what arrived since the first reading counts',
      at(8000, 8000 * 32768 ** 2),
      at(16000, 8000 * 32768 ** 2),
      SILENCE_DB,
    ],
    ['digital silence reads the floor, never -Infinity', at(0, 0), at(160, 0), SILENCE_DB],
    ['no samples in between: no level', at(480, 99), at(480, 99), undefined],
    ['counters that went back (a new relay): no level', at(480, 99), at(0, 0), undefined],
  ])('%s', (_name, before, after, expected) => {
    expect(levelBetween(before, after)).toBe(expected);
  });
});
