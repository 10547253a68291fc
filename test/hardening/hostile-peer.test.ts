/**
 * On the wire: startSipCall against a UDP peer that answers with mutated responses, mutated in-dialog requests
 * and garbage SDP. Every call must end with exactly one `ended` or `failed` (with a reason) within its timeouts,
 * and the process must see no uncaught exception or unhandled rejection.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../shared/log.ts';
import type { NegotiatedMedia, NegotiatedStream } from '../../media-task/sip/sdp.ts';
import type { SipCall, SipCallEvents } from '../../media-task/sip/sip-call.ts';
import { callTo } from '../sip/call-helpers.ts';
import { Prng, fuzzSettings, garbageSdp, mutate } from './fuzz.ts';
import {
  ANSWER_SDP,
  HostileUas,
  IN_DIALOG,
  OK_WITH_SDP,
  RESPONSE,
  type CallPlan,
  type PlannedMessage,
} from './hostile-uas.ts';

const INVITE_TIMEOUT_MS = 1500;
/** inviteTimeoutMs, then at most CANCEL_GRACE_MS (4 s) for the 487, plus scheduling slack on a busy machine. */
const CALL_DEADLINE_MS = INVITE_TIMEOUT_MS + 4000 + 3000;
const CONCURRENCY = 25;
const REASONS = ['sip', 'auth', 'timeout', 'internal'];

const damaged = (template: string): PlannedMessage => ({ template, damaged: true });
const clean = (template: string): PlannedMessage => ({ template, damaged: false });

type PlanKind = 'garbage then valid' | 'garbage only' | 'garbage SDP' | 'damaged refusal';

/** What call number `index` of a run with `seed` does: the same on every run with that seed. */
function plan(seed: number, index: number): CallPlan & { kind: PlanKind; sdpCase?: string } {
  const random = new Prng(seed + index * 7919);
  const kind = random.pick<PlanKind>(['garbage then valid', 'garbage only', 'garbage SDP', 'damaged refusal']);
  const provisional = random.pick(['100 Trying', '180 Ringing', '183 Session Progress']);
  const inDialog = Array.from({ length: random.int(5) }, () => damaged(random.pick(Object.values(IN_DIALOG))));
  const common = { inDialog, byeAfter: random.chance(0.5), damage: (text: string) => mutate(text, random).text };
  switch (kind) {
    case 'garbage then valid':
      return {
        ...common,
        kind,
        responses: [
          damaged(RESPONSE(provisional)),
          damaged(OK_WITH_SDP()),
          damaged(OK_WITH_SDP()),
          clean(OK_WITH_SDP()),
        ],
      };
    case 'garbage only':
      return {
        ...common,
        kind,
        responses: [
          clean(RESPONSE('180 Ringing')),
          damaged(RESPONSE(provisional)),
          damaged(OK_WITH_SDP()),
          damaged(RESPONSE('486 Busy Here')),
        ],
      };
    case 'garbage SDP': {
      const { name, sdp } = garbageSdp(random);
      return { ...common, kind, sdpCase: name, responses: [clean(RESPONSE('180 Ringing')), clean(OK_WITH_SDP(sdp))] };
    }
    case 'damaged refusal':
      return {
        ...common,
        kind,
        responses: [
          damaged(
            RESPONSE(
              random.pick([
                '401 Unauthorized',
                '403 Forbidden',
                '486 Busy Here',
                '503 Service Unavailable',
                '603 Decline',
                '302 Moved',
              ]),
            ),
          ),
        ],
      };
  }
}

interface Outcome {
  index: number;
  kind: PlanKind;
  final?: { type: 'ended'; body: SipCallEvents['ended'][0] } | { type: 'failed'; body: SipCallEvents['failed'][0] };
  finals: number;
  media?: NegotiatedMedia;
  ms: number;
}

/** A stream the media pipeline can use: an IPv4 address and a real port. */
const usable = (stream: NegotiatedStream | undefined) =>
  stream === undefined ||
  (/^\d{1,3}(\.\d{1,3}){3}$/.test(stream.remoteAddress) && stream.remotePort > 0 && stream.remotePort < 65536);

describe('a hostile SIP peer on the wire', () => {
  const problems: unknown[] = [];
  const onProblem = (error: unknown) => problems.push(error);
  let uas: HostileUas;
  const { seed, iterations } = fuzzSettings('hostile peer fuzz', 150);
  const plans = new Map<number, CallPlan & { kind: PlanKind }>();

  beforeAll(async () => {
    process.on('uncaughtException', onProblem);
    process.on('unhandledRejection', onProblem);
    uas = await HostileUas.start((from) => {
      const index = Number(/sip:gw(\d+)@/.exec(from)?.[1] ?? -1);
      return plans.get(index) ?? { responses: [], inDialog: [], byeAfter: false, damage: (text) => text };
    });
  });
  afterAll(async () => {
    process.off('uncaughtException', onProblem);
    process.off('unhandledRejection', onProblem);
    await uas?.close();
  });

  async function runCall(index: number, errors: string[], planned = true): Promise<Outcome> {
    if (planned) plans.set(index, plan(seed, index));
    const calling = plans.get(index)!;
    const outcome: Outcome = { index, kind: calling.kind, finals: 0, ms: 0 };
    const started = Date.now();
    const call: SipCall = callTo(uas, {
      from: { user: `gw${index}`, domain: '127.0.0.1' },
      credentials: { username: 'alice', password: 'pw' },
      inviteTimeoutMs: INVITE_TIMEOUT_MS,
      logger: createLogger({ call: index }, { level: 'error', write: (line) => errors.push(line) }),
    });
    const finished = new Promise<void>((resolve) => {
      call.on('ended', (body) => {
        outcome.finals++;
        outcome.final ??= { type: 'ended', body };
        resolve();
      });
      call.on('failed', (body) => {
        outcome.finals++;
        outcome.final ??= { type: 'failed', body };
        resolve();
      });
    });
    call.on('answered', (media) => {
      outcome.media = media;
      // Long enough for the peer's in-dialog garbage to arrive, then our BYE.
      setTimeout(() => void call.hangup(), 300);
    });
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => (timer = setTimeout(resolve, CALL_DEADLINE_MS)));
    await Promise.race([finished.then(() => call.hangup()), deadline]);
    clearTimeout(timer);
    outcome.ms = Date.now() - started;
    if (!outcome.final) await call.hangup();
    return outcome;
  }

  it('every call ends once, with a reason, within its timeouts; nothing escapes', async () => {
    const errors: string[] = [];
    const outcomes: Outcome[] = [];
    let next = 0;
    await Promise.all(
      Array.from({ length: Math.min(CONCURRENCY, iterations) }, async () => {
        while (next < iterations) outcomes.push(await runCall(next++, errors));
      }),
    );
    // Late timers (retransmissions, the BYE guard) get a moment to misbehave before we look.
    await new Promise((resolve) => setTimeout(resolve, 200));

    const describeOutcome = (outcome: Outcome) =>
      `call ${outcome.index} (${outcome.kind}, seed ${seed}): ${JSON.stringify(outcome)}`;
    const summary: Record<string, number> = {};
    for (const outcome of outcomes) {
      const key = `${outcome.kind} → ${outcome.final?.type}:${outcome.final?.type === 'failed' ? outcome.final.body.reason : outcome.final?.body.reason}`;
      summary[key] = (summary[key] ?? 0) + 1;
    }
    console.log(
      `hostile peer fuzz: ${outcomes.length} calls, slowest ${Math.max(...outcomes.map((o) => o.ms))} ms`,
      summary,
    );

    expect(problems).toEqual([]);
    expect(errors).toEqual([]);
    for (const outcome of outcomes) {
      expect(outcome.final, describeOutcome(outcome)).toBeDefined();
      expect(outcome.finals, describeOutcome(outcome)).toBe(1);
      expect(outcome.ms, describeOutcome(outcome)).toBeLessThan(CALL_DEADLINE_MS);
      if (outcome.final?.type === 'failed')
        expect(REASONS, describeOutcome(outcome)).toContain(outcome.final.body.reason);
      expect(usable(outcome.media?.audio) && usable(outcome.media?.video), describeOutcome(outcome)).toBe(true);
    }
    // The run must have exercised both ways out, or the peer is not reaching the UA at all.
    expect(outcomes.some((outcome) => outcome.media !== undefined)).toBe(true);
    expect(outcomes.some((outcome) => outcome.final?.type === 'failed')).toBe(true);
  });

  it.each([
    [
      'a Contact with a space cannot be ACKed: failed, reason sip',
      'Contact: <sip:uas x@127.0.0.1:{{myPort}}>',
      { type: 'failed', reason: 'sip' },
    ],
    [
      'a folded Contact is unfolded and the call proceeds',
      'Contact:\r\n  <sip:uas@127.0.0.1:{{myPort}}>',
      { type: 'ended', reason: 'hangup' },
    ],
  ])('%s', async (_name, contact, expected) => {
    const index = 100_000 + plans.size;
    const sdpHeaders = ['Content-Type: application/sdp'];
    plans.set(index, {
      kind: 'garbage then valid',
      responses: [clean(RESPONSE('200 OK', [contact, ...sdpHeaders], ANSWER_SDP))],
      inDialog: [],
      byeAfter: false,
      damage: (text) => text,
    });
    const errors: string[] = [];
    const outcome = await runCall(index, errors, false);
    expect(problems).toEqual([]);
    expect(errors).toEqual([]);
    expect({ type: outcome.final?.type, reason: outcome.final?.body.reason }).toEqual(expected);
  });
});
