/** The console's pure modules (functions/console/web), run directly: words, times and sparkline geometry. */
import { describe, expect, it } from 'vitest';
import {
  callSeconds,
  clock,
  FAILURE_WORDS,
  outcome,
  serverText,
  timeline,
} from '../../functions/console/web/format.js';
import { sparklinePoints } from '../../functions/console/web/sparkline.js';
import type { CallView } from '../../functions/core/call-record.ts';
import { FAILURE_REASONS } from '../../shared/call-types.ts';

const T0 = Date.parse('2026-01-01T00:00:00.000Z');
const at = (seconds: number) => new Date(T0 + seconds * 1000).toISOString();
const call = (overrides: Partial<CallView>): CallView =>
  ({ callId: 'c1', state: 'dialing', createdAt: at(0), stateTimes: { dialing: at(0) }, ...overrides }) as CallView;

describe('console words', () => {
  it('has a sentence for every failure reason', () => {
    expect(Object.keys(FAILURE_WORDS).sort()).toEqual([...FAILURE_REASONS].sort());
    for (const sentence of Object.values(FAILURE_WORDS)) expect(sentence).toMatch(/^[A-Z].*\.$/);
  });

  it.each<[string, Partial<CallView>, ReturnType<typeof outcome>]>([
    ['a live call has none', { state: 'streaming' }, undefined],
    [
      'a busy callee: the sentence, then the SIP code and message',
      { state: 'failed', failure: { reason: 'sip', message: '486 Busy Here', sipCode: 486 } },
      { headline: FAILURE_WORDS.sip, detail: 'SIP 486: 486 Busy Here' },
    ],
    [
      'a call the far end hung up',
      { state: 'ended', ended: { by: 'remote', reason: 'bye', durationSeconds: 61 } },
      { headline: 'The far end hung up.', detail: 'bye' },
    ],
  ])('outcome: %s', (_name, overrides, expected) => {
    expect(outcome(call(overrides))).toEqual(expected);
  });
});

it.each<[string, Partial<CallView>, string]>([
  ['host and port of the RTMP URL', { rtmpUrl: 'rtmp://live.example.com:1935/app' }, 'live.example.com:1935'],
  [
    'and how many more destinations there are',
    {
      rtmpUrl: 'rtmps://a.example.net/live',
      stats: { destinations: [{}, {}, {}] } as unknown as CallView['stats'],
    },
    'a.example.net +2',
  ],
])('serverText: %s', (_name, overrides, text) => {
  expect(serverText(call(overrides))).toBe(text);
});

describe('console times', () => {
  it.each<[number | undefined, string]>([
    [undefined, '–'],
    [0, '0:00'],
    [65, '1:05'],
    [3600 + 62, '1:01:02'],
  ])('clock(%s) is %s', (seconds, text) => {
    expect(clock(seconds)).toBe(text);
  });

  it('counts a live call from its answer, and a finished one by its reported duration', () => {
    const answered = call({ state: 'streaming', stateTimes: { dialing: at(0), answered: at(5), streaming: at(6) } });
    expect(callSeconds(answered, T0 + 70_500)).toBe(65);
    expect(callSeconds(call({ state: 'ringing' }), T0 + 70_000)).toBeUndefined();
    const ended = call({ state: 'ended', ended: { by: 'local', reason: 'hangup', durationSeconds: 42 } });
    expect(callSeconds(ended, T0 + 999_000)).toBe(42);
  });

  it('lays the timeline out in order: times after dialing, skipped states, states not reached', () => {
    const steps = timeline(
      call({ state: 'failed', stateTimes: { dialing: at(0), answered: at(3.25), failed: at(9) } }),
    );
    expect(steps.map((step) => [step.state, step.status, step.offsetSeconds])).toEqual([
      ['dialing', 'done', 0],
      ['ringing', 'skipped', undefined],
      ['answered', 'done', 3.3],
      ['streaming', 'pending', undefined],
      ['failed', 'done', 9],
    ]);
    const live = timeline(call({ state: 'ringing', stateTimes: { dialing: at(0), ringing: at(1) } }));
    expect(live.map((step) => step.status)).toEqual(['done', 'done', 'pending', 'pending', 'pending']);
    expect(live.at(-1)?.state).toBe('ended');
  });
});

describe('sparklinePoints', () => {
  it.each<[string, number[], Parameters<typeof sparklinePoints>[1], string]>([
    ['nothing to draw', [], { width: 100, height: 22 }, ''],
    ['one value draws a level line', [5], { width: 100, height: 22 }, '0,1 100,1'],
    ['from zero at the bottom to the largest at the top', [0, 10, 5], { width: 100, height: 22 }, '0,21 50,1 100,11'],
    ['a flat line of small values stays low (floor)', [0.1, 0.1], { width: 10, height: 12, floor: 1 }, '0,10 10,10'],
    [
      'a fixed scale clamps what is outside it',
      [-80, -30, 0],
      { width: 20, height: 62, min: -60, max: 0 },
      '0,61 10,31 20,1',
    ],
  ])('%s', (_name, values, scale, points) => {
    expect(sparklinePoints(values, scale)).toBe(points);
  });
});
