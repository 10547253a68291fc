/**
 * The level of the peer's audio for the call's stats. The relay (relay/rtp-relay.c) counts the G.711 samples it
 * receives and the sum of their squares since the start; two readings give the RMS of what arrived in between,
 * in dB relative to full scale (16-bit linear, 32768).
 */

/** The relay's counters, as `RtpEndpoint.stats()` answers them. */
export interface LevelCounters {
  levelSamples: number;
  levelEnergy: number;
}

const FULL_SCALE_SQUARED = 32768 * 32768;
/** µ-law's silence decodes to exactly zero, whose logarithm is -Infinity, which JSON cannot carry. */
export const SILENCE_DB = -100;

/** RMS level (dBFS, one decimal) of the samples counted between two readings; undefined when none arrived. */
export function levelBetween(before: LevelCounters, after: LevelCounters): number | undefined {
  const samples = after.levelSamples - before.levelSamples;
  if (!(samples > 0)) return undefined;
  const meanSquare = Math.max(0, after.levelEnergy - before.levelEnergy) / samples;
  const db = 10 * Math.log10(meanSquare / FULL_SCALE_SQUARED);
  return Math.round(Math.max(SILENCE_DB, db) * 10) / 10;
}
