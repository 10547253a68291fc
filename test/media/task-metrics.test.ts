/** The media task's EMF lines (media-task/metrics/task-metrics.ts): their shape, and counters sent as what grew. */
import { describe, expect, it } from 'vitest';
import type { TaskFigures } from '../../media-task/call-runner.ts';
import { TaskMetrics } from '../../media-task/metrics/task-metrics.ts';
import { METRICS_DIMENSION, METRICS_NAMESPACE, TASK_METRIC } from '../../shared/aws/emf.ts';
import { emfProblems } from '../support/emf.ts';

const figures = (over: Partial<TaskFigures> = {}): TaskFigures => ({
  rtpPackets: 500,
  rtpLost: 2,
  jitterMs: 3.5,
  rtpForeignDropped: 0,
  bytesOut: 160_000,
  destinations: [
    { url: 'rtmp://a/live/***', state: 'live', reconnects: 0, bytesOut: 80_000 },
    { url: 'rtmp://b/live/***', state: 'live', reconnects: 1, bytesOut: 80_000 },
  ],
  encoderRestarts: 0,
  recordingBytes: 150_000,
  ...over,
});

function collect() {
  const lines: string[] = [];
  const metrics = new TaskMetrics(
    'gw-test',
    (line) => lines.push(line),
    () => new Date('2026-12-01T10:00:00Z'),
  );
  return { lines, metrics, documents: () => lines.map((line) => JSON.parse(line)) };
}

describe('TaskMetrics', () => {
  it('prints one EMF document per report: one namespace, the Gateway dimension, a value per metric', () => {
    const { metrics, documents } = collect();
    metrics.report(figures());
    const [document] = documents();
    expect(emfProblems(document)).toEqual([]);
    expect(document._aws).toEqual({
      Timestamp: Date.parse('2026-12-01T10:00:00Z'),
      CloudWatchMetrics: [
        {
          Namespace: METRICS_NAMESPACE,
          Dimensions: [[METRICS_DIMENSION]],
          Metrics: expect.arrayContaining([
            { Name: TASK_METRIC.rtpPackets, Unit: 'Count' },
            { Name: TASK_METRIC.bytesOut, Unit: 'Bytes' },
            { Name: TASK_METRIC.jitter, Unit: 'Milliseconds' },
            { Name: TASK_METRIC.recordingBytes, Unit: 'Bytes' },
          ]),
        },
      ],
    });
    expect(document._aws.CloudWatchMetrics[0].Metrics).toHaveLength(Object.keys(TASK_METRIC).length);
    expect(document).toMatchObject({
      Gateway: 'gw-test',
      RtpPacketsReceived: 500,
      RtpPacketsLost: 2,
      RtpJitter: 3.5,
      RtmpBytesOut: 160_000,
      RtmpReconnects: 1,
      EncoderRestarts: 0,
      RecordingBytes: 150_000,
    });
  });

  it('sends counters as what grew since the last report, so that CloudWatch sums them over tasks', () => {
    const { metrics, documents } = collect();
    metrics.report(figures());
    metrics.report(figures({ rtpPackets: 1000, rtpLost: 2, bytesOut: 300_000, encoderRestarts: 1, jitterMs: 9 }));
    // A relay that restarted counts from zero again: no negative count, and what it adds from there counts.
    metrics.report(figures({ rtpPackets: 40, bytesOut: 310_000, encoderRestarts: 1 }));
    metrics.report(figures({ rtpPackets: 90, bytesOut: 310_000, encoderRestarts: 1 }));
    const [, second, third, fourth] = documents();
    expect(second).toMatchObject({
      RtpPacketsReceived: 500,
      RtpPacketsLost: 0,
      RtmpBytesOut: 140_000,
      EncoderRestarts: 1,
    });
    expect(second.RtpJitter).toBe(9);
    expect(third).toMatchObject({ RtpPacketsReceived: 0, RtmpBytesOut: 10_000, EncoderRestarts: 0 });
    expect(fourth).toMatchObject({ RtpPacketsReceived: 50, RtmpBytesOut: 0 });
  });

  it('names no call: nothing of the figures but numbers and the gateway goes out', () => {
    const { metrics, lines } = collect();
    metrics.report(figures());
    expect(lines[0]).not.toMatch(/rtmp:\/\/|callId|live\/\*\*\*/);
  });
});
