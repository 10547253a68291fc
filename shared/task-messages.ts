/**
 * The schemas of the messages that cross a process boundary between the control plane and a media task: the
 * commands a task reads (JSON lines on stdin locally, the call's mailbox on AWS) and the state events it writes
 * (JSON lines on stdout locally, EventBridge on AWS). Whoever reads one parses it here; nothing is trusted by cast.
 * zod/mini, as the call spec schema: the task's bundle carries it.
 */
import * as z from 'zod/mini';
import { dtmfSchema, parseCallSpec } from './call-spec-schema.ts';
import { FAILURE_REASONS, type CallSpec, type StateEvent, type TaskCommand } from './call-types.ts';
import { RECORDING_KEY } from './recording-names.ts';

/** `TaskCommand` on the wire; `parseTaskCommand`'s return type keeps them in step. */
export const taskCommandSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('hangup') }),
  z.object({ type: z.literal('dtmf'), digits: dtmfSchema, method: z.optional(z.enum(['rfc4733', 'info'])) }),
]);

const base = {
  callId: z.string().check(z.minLength(1), z.maxLength(64)),
  seq: z.int().check(z.positive()),
  at: z.iso.datetime({ offset: true }),
};
const destination = z.object({
  url: z.string(),
  state: z.enum(['connecting', 'live', 'retrying']),
  reconnects: z.number(),
  bytesOut: z.number(),
  lastError: z.optional(z.string()),
});
const stats = {
  rtpPackets: z.number(),
  rtpLost: z.number(),
  jitterMs: z.number(),
  rtpForeignDropped: z.optional(z.number()),
  bytesOut: z.number(),
  destinations: z.optional(z.array(destination).check(z.maxLength(5))),
  audioLevelDb: z.optional(z.number()),
};

/** `StateEvent` on the wire; `parseStateEvent`'s return type keeps them in step. */
export const stateEventSchema = z.discriminatedUnion('type', [
  z.object({ type: z.enum(['dialing', 'ringing', 'answered', 'streaming']), ...base }),
  z.object({
    type: z.literal('ended'),
    by: z.enum(['local', 'remote', 'limit']),
    reason: z.string(),
    sipCode: z.optional(z.int()),
    durationSeconds: z.number(),
    ...base,
  }),
  z.object({
    type: z.literal('failed'),
    reason: z.enum(FAILURE_REASONS),
    message: z.string(),
    sipCode: z.optional(z.int()),
    ...base,
  }),
  z.object({ type: z.literal('stats'), ...stats, ...base }),
  z.object({
    type: z.literal('recording'),
    state: z.enum(['saved', 'uploaded', 'failed']),
    bytes: z.number(),
    key: z.optional(z.string().check(z.regex(RECORDING_KEY))),
    error: z.optional(z.string().check(z.maxLength(500))),
    ...base,
  }),
]);

/** What a local standby task prints once it is ready for a call; it then waits for an `assign` line on stdin. */
export const STANDBY_READY = { type: 'standby-ready' } as const;

const assignmentSchema = z.object({ type: z.literal('assign'), spec: z.unknown() });
const standbyReadySchema = z.object({ type: z.literal(STANDBY_READY.type) });

/** A message that is not what its schema says: `problem` names the first wrong field, for a log line. */
export type Parsed<T> = { ok: true; value: T } | { ok: false; problem: string };

function parseWith<T>(schema: z.ZodMiniType<T>, raw: unknown): Parsed<T> {
  const parsed = schema.safeParse(raw);
  if (parsed.success) return { ok: true, value: parsed.data };
  const issue = parsed.error.issues[0];
  const where = issue && issue.path.length > 0 ? `${issue.path.join('.')}: ` : '';
  return { ok: false, problem: `${where}${issue?.message ?? 'invalid'}` };
}

export function parseTaskCommand(raw: unknown): Parsed<TaskCommand> {
  return parseWith(taskCommandSchema, raw);
}

export function parseStateEvent(raw: unknown): Parsed<StateEvent> {
  return parseWith(stateEventSchema, raw);
}

/** A JSON line (stdin, stdout) → the message, or why not: a line that is not JSON is a problem too. */
export function parseJsonLine<T>(line: string, parse: (raw: unknown) => Parsed<T>): Parsed<T> {
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch {
    return { ok: false, problem: 'not JSON' };
  }
  return parse(raw);
}

/** The line that gives a local standby task its call: `{"type":"assign","spec":{…}}`, the spec checked again here. */
export function parseAssignment(raw: unknown): Parsed<CallSpec> {
  const assignment = parseWith(assignmentSchema, raw);
  if (!assignment.ok) return assignment;
  try {
    return { ok: true, value: parseCallSpec(assignment.value.spec) };
  } catch (error) {
    return { ok: false, problem: `spec: ${(error as Error).message}` };
  }
}

export function parseStandbyReady(raw: unknown): Parsed<typeof STANDBY_READY> {
  return parseWith(standbyReadySchema, raw) as Parsed<typeof STANDBY_READY>;
}
