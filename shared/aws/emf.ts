/**
 * CloudWatch metrics in Embedded Metric Format: one JSON line on stdout that CloudWatch Logs turns into metrics
 * (no PutMetricData call, no permission, no latency), printed by the Lambdas (functions/aws/metrics.ts) and by
 * the media task on ECS (media-task/metrics/task-metrics.ts), whose log driver ships stdout to CloudWatch Logs.
 * https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html
 *
 * One namespace and one dimension, the gateway (stack) name, so that two stacks in one account do not share
 * alarms; never a callId, which would make a metric (and a bill) per call.
 */

export const METRICS_NAMESPACE = 'SipRtmpGateway';
export const METRICS_DIMENSION = 'Gateway';

/** The media task's metrics, summed over its calls per period (counters) or sampled (jitter). */
export const TASK_METRIC = {
  rtpPackets: 'RtpPacketsReceived',
  rtpLost: 'RtpPacketsLost',
  rtpForeignDropped: 'RtpForeignDropped',
  /** Milliseconds, each stats report's: Maximum and Average are the statistics that mean something. */
  jitter: 'RtpJitter',
  bytesOut: 'RtmpBytesOut',
  reconnects: 'RtmpReconnects',
  encoderRestarts: 'EncoderRestarts',
  recordingBytes: 'RecordingBytes',
} as const;

export type EmfUnit = 'Count' | 'Bytes' | 'Milliseconds';

export interface EmfValue {
  name: string;
  unit: EmfUnit;
  value: number;
}

/** One EMF document: the metrics' values under `gateway`'s dimension, at `now`. */
export function emfLine(gateway: string, values: readonly EmfValue[], now: Date): string {
  return JSON.stringify({
    _aws: {
      Timestamp: now.getTime(),
      CloudWatchMetrics: [
        {
          Namespace: METRICS_NAMESPACE,
          Dimensions: [[METRICS_DIMENSION]],
          Metrics: values.map(({ name, unit }) => ({ Name: name, Unit: unit })),
        },
      ],
    },
    [METRICS_DIMENSION]: gateway,
    ...Object.fromEntries(values.map(({ name, value }) => [name, value])),
  });
}
