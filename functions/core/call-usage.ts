/**
 * What a finished call used, derived from its record: the times its states were entered and its last stats.
 * Derived at read time rather than stored at the final transition, so that stats that land after the final
 * state (EventBridge delivers unordered) still count, and a price change applies to how the money is told, not
 * to what was used.
 */
import { isFinal } from '../../shared/call-types.ts';
import type { CallRecord } from './ports.ts';

/** A price table: LIST_PRICES unless configured (functions/pricing-config.ts). */
export interface Pricing {
  vcpuHourUsd: number;
  gbHourUsd: number;
  /** The task's public IPv4 address. */
  ipv4HourUsd: number;
  dataOutGbUsd: number;
  /** The task's size, as the stack sizes it. */
  taskVcpu: number;
  taskGb: number;
  /** Fargate bills at least a minute per task; nothing bills a local task. */
  minimumBillableSeconds: number;
}

/** docs/aws.md's list prices (us-east-1, on-demand, Fargate ARM64) and the stack's task size. */
export const LIST_PRICES: Pricing = {
  vcpuHourUsd: 0.03238,
  gbHourUsd: 0.00356,
  ipv4HourUsd: 0.005,
  dataOutGbUsd: 0.09,
  taskVcpu: 0.25,
  taskGb: 0.5,
  minimumBillableSeconds: 60,
};

export interface CallUsage {
  /** From the call's creation (the launch) to its final state: how long its task ran. 0 when none was started. */
  taskSeconds: number;
  /** What the platform bills of that: `taskSeconds`, with its minimum. */
  billableTaskSeconds: number;
  /** From the first media on an RTMP server to the final state. */
  mediaSeconds: number;
  /** Bytes sent to each destination (first = rtmpUrl), as the task last reported them. */
  bytesOut: { url: string; bytes: number }[];
  estimatedCostUsd: number;
}

const seconds = (from: string, to: string) => Math.max(0, (Date.parse(to) - Date.parse(from)) / 1000);
const round = (value: number, digits: number) => Math.round(value * 10 ** digits) / 10 ** digits;

/** The usage of a final call; undefined while it is live. */
export function callUsage(record: CallRecord, pricing: Pricing): CallUsage | undefined {
  if (!isFinal(record.state)) return undefined;
  const finalAt = record.stateTimes[record.state] ?? record.updatedAt;
  // A call whose launch failed had no task: nothing ran, nothing bills.
  const taskSeconds = record.taskRef ? seconds(record.createdAt, finalAt) : 0;
  const billableTaskSeconds = taskSeconds > 0 ? Math.max(taskSeconds, pricing.minimumBillableSeconds) : 0;
  const streamingAt = record.stateTimes.streaming;
  const mediaSeconds = streamingAt ? seconds(streamingAt, finalAt) : 0;
  const stats = record.stats;
  const bytesOut = stats?.destinations?.length
    ? stats.destinations.map((destination) => ({ url: destination.url, bytes: destination.bytesOut }))
    : [{ url: record.spec.rtmpUrl, bytes: stats?.bytesOut ?? 0 }];
  const totalBytes = bytesOut.reduce((sum, destination) => sum + destination.bytes, 0);
  const perHour = pricing.taskVcpu * pricing.vcpuHourUsd + pricing.taskGb * pricing.gbHourUsd + pricing.ipv4HourUsd;
  const estimatedCostUsd = (billableTaskSeconds / 3600) * perHour + (totalBytes / 1e9) * pricing.dataOutGbUsd;
  return {
    taskSeconds: round(taskSeconds, 3),
    billableTaskSeconds: round(billableTaskSeconds, 3),
    mediaSeconds: round(mediaSeconds, 3),
    bytesOut,
    estimatedCostUsd: round(estimatedCostUsd, 6),
  };
}

export interface UsageTotals {
  calls: number;
  taskSeconds: number;
  billableTaskSeconds: number;
  mediaSeconds: number;
  bytesOut: number;
  estimatedCostUsd: number;
}

/** The totals of the calls one API key started; `null`: the calls no key started (no-key mode, older calls). */
export interface KeyUsage extends UsageTotals {
  keyName: string | null;
}

export interface UsageQuery {
  /** Calls created from `from` (inclusive) to `to` (exclusive; absent: no end). */
  from: Date;
  to?: Date;
  /** Only the calls of this key. */
  keyName?: string;
}

/** Whether the call was created from `from` (inclusive) to `to` (exclusive); an absent bound is open. */
export function createdWithin(record: Pick<CallRecord, 'createdAt'>, from?: Date, to?: Date): boolean {
  const created = Date.parse(record.createdAt);
  return (from === undefined || created >= from.getTime()) && (to === undefined || created < to.getTime());
}

/** The usage of the final calls among `records` that `query` selects: in all, and per key name. */
export function usageReport(
  records: readonly CallRecord[],
  query: UsageQuery,
  pricing: Pricing,
): UsageTotals & { byKey: KeyUsage[] } {
  const total = emptyTotals();
  const byKey = new Map<string | null, UsageTotals>();
  for (const record of records) {
    if (query.keyName !== undefined && record.keyName !== query.keyName) continue;
    if (!createdWithin(record, query.from, query.to)) continue;
    const usage = callUsage(record, pricing);
    if (!usage) continue;
    const keyName = record.keyName ?? null;
    const ofKey = byKey.get(keyName) ?? emptyTotals();
    byKey.set(keyName, ofKey);
    add(total, usage);
    add(ofKey, usage);
  }
  // Named keys by name, then the calls without one.
  const names = [...byKey.keys()].sort((a, b) => (a === null ? 1 : b === null ? -1 : a < b ? -1 : a > b ? 1 : 0));
  return { ...rounded(total), byKey: names.map((keyName) => ({ keyName, ...rounded(byKey.get(keyName)!) })) };
}

function emptyTotals(): UsageTotals {
  return { calls: 0, taskSeconds: 0, billableTaskSeconds: 0, mediaSeconds: 0, bytesOut: 0, estimatedCostUsd: 0 };
}

function add(totals: UsageTotals, usage: CallUsage): void {
  totals.calls++;
  totals.taskSeconds += usage.taskSeconds;
  totals.billableTaskSeconds += usage.billableTaskSeconds;
  totals.mediaSeconds += usage.mediaSeconds;
  totals.bytesOut += usage.bytesOut.reduce((sum, destination) => sum + destination.bytes, 0);
  totals.estimatedCostUsd += usage.estimatedCostUsd;
}

function rounded(totals: UsageTotals): UsageTotals {
  return {
    ...totals,
    taskSeconds: round(totals.taskSeconds, 3),
    billableTaskSeconds: round(totals.billableTaskSeconds, 3),
    mediaSeconds: round(totals.mediaSeconds, 3),
    estimatedCostUsd: round(totals.estimatedCostUsd, 6),
  };
}
