import { describe, expect, it } from 'vitest';
import { inviteTimerHeaders, minSeOf, refreshDelayMs, sessionExpiresOf } from '../../media-task/sip/session-timer.ts';

describe('RFC 4028 session timer headers', () => {
  it.each([
    ['interval only', { 'session-expires': '1800' }, { interval: 1800 }],
    ['refresher=uac', { 'session-expires': '90;refresher=uac' }, { interval: 90, refresher: 'uac' }],
    ['refresher=UAS with spaces', { 'session-expires': ' 90 ; refresher = UAS' }, { interval: 90, refresher: 'uas' }],
    ['compact form x', { x: '600;refresher=uas' }, { interval: 600, refresher: 'uas' }],
    ['an unknown refresher is no refresher', { 'session-expires': '90;refresher=both' }, { interval: 90 }],
    [
      'other parameters around it',
      { 'session-expires': '120;foo=bar;refresher=uac' },
      { interval: 120, refresher: 'uac' },
    ],
    ['no header', {}, undefined],
    ['not a number', { 'session-expires': 'soon;refresher=uac' }, undefined],
    ['negative', { 'session-expires': '-90' }, undefined],
  ])('Session-Expires: %s', (_, extra, expected) => {
    expect(sessionExpiresOf(extra as Record<string, string>)).toEqual(expected);
  });

  it.each([
    ['plain', { 'min-se': '1800' }, 1800],
    ['with a parameter', { 'min-se': ' 90;x=y' }, 90],
    ['missing (a 422 without Min-SE cannot be retried)', {}, undefined],
    ['garbage', { 'min-se': 'lots' }, undefined],
  ])('Min-SE: %s', (_, extra, expected) => {
    expect(minSeOf(extra as Record<string, string>)).toBe(expected);
  });

  it.each([
    ['first INVITE: only Supported', undefined, undefined, { supported: 'timer' }],
    ['retry after a 422', 1800, undefined, { supported: 'timer', 'session-expires': '1800', 'min-se': '1800' }],
    [
      'refresh',
      undefined,
      { interval: 90, refresher: 'uac' as const },
      { supported: 'timer', 'session-expires': '90;refresher=uac' },
    ],
    [
      'refresh never goes below the Min-SE of a 422',
      1800,
      { interval: 90, refresher: 'uac' as const },
      { supported: 'timer', 'session-expires': '1800;refresher=uac', 'min-se': '1800' },
    ],
  ])('INVITE headers: %s', (_, minSe, session, expected) => {
    expect(inviteTimerHeaders(minSe, session)).toEqual(expected);
  });

  it.each([
    [1800, 900_000],
    [90, 45_000],
    [4, 2000],
    [0, 1000],
    // Past what a Node timer holds (it would fire after 1 ms, a re-INVITE storm): capped at 24.8 days.
    [9_999_999_999, 2 ** 31 - 1],
  ])('a %i s interval is refreshed after %i ms', (interval, ms) => {
    expect(refreshDelayMs(interval)).toBe(ms);
  });
});
