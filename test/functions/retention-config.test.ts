import { describe, expect, it } from 'vitest';
import { readRetentionSeconds, RETENTION_ENV } from '../../functions/retention-config.ts';

describe('call retention', () => {
  it('keeps finished calls 400 days unless CALL_RETENTION_DAYS says otherwise', () => {
    expect(readRetentionSeconds({})).toBe(400 * 86_400);
    expect(readRetentionSeconds({ [RETENTION_ENV]: '30' })).toBe(30 * 86_400);
  });

  it.each(['0', '3651', '1.5', 'a year'])('refuses %s, naming the variable', (value) => {
    expect(() => readRetentionSeconds({ [RETENTION_ENV]: value })).toThrow(/^CALL_RETENTION_DAYS must be 1–3650 days/);
  });
});
