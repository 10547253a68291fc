/**
 * The recent history of a call's stats, as the console's sparklines draw it. A task reports cumulative counters
 * (packets, losses, bytes since the call began); each applied stats event becomes one sample of rates over the
 * time since the previous one. The history is capped by count, so the record (one DynamoDB item) never grows
 * with the length of the call: at the task's stats interval the cap covers the last few minutes.
 */
import type { CallStats } from '../../shared/call-types.ts';
import type { CallRecord, StatsSample } from './ports.ts';

/** Samples kept: five minutes at the task's 10 s stats interval. */
export const STATS_HISTORY_LIMIT = 30;

type Counters = Pick<CallStats, 'rtpPackets' | 'rtpLost' | 'bytesOut'> & { at: string };

const ZERO = { rtpPackets: 0, rtpLost: 0, bytesOut: 0 };
const round = (value: number, digits: number) => Math.round(value * 10 ** digits) / 10 ** digits;

/**
 * The history after one more stats event. The first sample counts from the moment the call started streaming
 * (its counters start at zero then); before that there is no baseline, and no sample. A counter that goes back
 * (a task restarted its count) reads as zero for that interval rather than as a negative rate.
 */
export function appendStatsSample(
  record: Pick<CallRecord, 'stats' | 'statsHistory' | 'stateTimes'>,
  stats: CallStats & { at: string },
): StatsSample[] | undefined {
  const streamingAt = record.stateTimes.streaming;
  const previous: Counters | undefined = record.stats ?? (streamingAt ? { ...ZERO, at: streamingAt } : undefined);
  const seconds = previous ? (Date.parse(stats.at) - Date.parse(previous.at)) / 1000 : 0;
  if (!previous || !(seconds > 0)) return record.statsHistory;
  const delta = (key: keyof typeof ZERO) => Math.max(0, stats[key] - previous[key]);
  const expected = delta('rtpPackets') + delta('rtpLost');
  const sample: StatsSample = {
    at: stats.at,
    bitrateKbps: round((delta('bytesOut') * 8) / 1000 / seconds, 1),
    lossPercent: expected > 0 ? round((delta('rtpLost') / expected) * 100, 2) : 0,
    ...(stats.audioLevelDb === undefined ? {} : { audioLevelDb: stats.audioLevelDb }),
  };
  return [...(record.statsHistory ?? []), sample].slice(-STATS_HISTORY_LIMIT);
}
