/** The sweeper's variables, read the same way locally and in the Lambda (functions/sweep-config.ts). */
import { describe, expect, it } from 'vitest';
import { LOCAL_ENV, LocalConfigError, readLocalConfig } from '../../functions/local/local-config.ts';
import { readSweepConfig, SWEEP_DEFAULTS, SWEEP_ENV, SweepConfigError } from '../../functions/sweep-config.ts';

describe('sweep config', () => {
  it('defaults, and seconds turned into milliseconds', () => {
    expect(readSweepConfig({})).toEqual({
      intervalMs: SWEEP_DEFAULTS.intervalSeconds * 1000,
      policy: { launchGraceMs: 30_000, stoppedGraceMs: 30_000, limitGraceMs: 30_000 },
    });
    expect(readSweepConfig({ [SWEEP_ENV.intervalSeconds]: '0.5', [SWEEP_ENV.limitGraceSeconds]: '0' })).toMatchObject({
      intervalMs: 500,
      policy: { limitGraceMs: 0 },
    });
  });

  it.each([
    [SWEEP_ENV.intervalSeconds, '0'],
    [SWEEP_ENV.launchGraceSeconds, '-1'],
    [SWEEP_ENV.stoppedGraceSeconds, 'soon'],
    [SWEEP_ENV.limitGraceSeconds, '99999'],
  ])('refuses %s=%s, naming it', (name, value) => {
    expect(() => readSweepConfig({ [name]: value })).toThrow(SweepConfigError);
    expect(() => readSweepConfig({ [name]: value })).toThrow(name);
  });

  it('the local server reads them, and the task stop grace', () => {
    const config = readLocalConfig({ [SWEEP_ENV.intervalSeconds]: '2', [LOCAL_ENV.stopGraceSeconds]: '1.5' });
    expect(config).toMatchObject({ stopGraceMs: 1500, sweep: { intervalMs: 2000 } });
    expect(readLocalConfig({}).stopGraceMs).toBe(12_000);
    expect(() => readLocalConfig({ [LOCAL_ENV.stopGraceSeconds]: 'x' })).toThrow(LocalConfigError);
  });
});
