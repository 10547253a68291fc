/**
 * The task's figures as CloudWatch metrics, on ECS only: one EMF line (shared/aws/emf.ts) on stdout per stats
 * report, which the awslogs driver ships to CloudWatch Logs. Counters go as what grew since the last report, so
 * that CloudWatch's Sum over a period is what all tasks did in it; jitter goes as the report's own value. Locally
 * stdout is the server's event channel, and the server has its Prometheus metrics: main.ts makes none there.
 */
import { emfLine, TASK_METRIC, type EmfValue } from '../../shared/aws/emf.ts';
import type { TaskFigures } from '../call-runner.ts';

type Counter = Exclude<keyof typeof TASK_METRIC, 'jitter'>;

const COUNTERS: Record<Counter, { unit: EmfValue['unit']; of: (figures: TaskFigures) => number }> = {
  rtpPackets: { unit: 'Count', of: (f) => f.rtpPackets },
  rtpLost: { unit: 'Count', of: (f) => f.rtpLost },
  rtpForeignDropped: { unit: 'Count', of: (f) => f.rtpForeignDropped ?? 0 },
  bytesOut: { unit: 'Bytes', of: (f) => f.bytesOut },
  reconnects: { unit: 'Count', of: (f) => (f.destinations ?? []).reduce((sum, d) => sum + d.reconnects, 0) },
  encoderRestarts: { unit: 'Count', of: (f) => f.encoderRestarts },
  recordingBytes: { unit: 'Bytes', of: (f) => f.recordingBytes },
};

export class TaskMetrics {
  private readonly last = new Map<Counter, number>();

  constructor(
    private readonly gateway: string,
    private readonly write: (line: string) => void = (line) => void process.stdout.write(line + '\n'),
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** Prints the figures of one stats report. */
  report(figures: TaskFigures): void {
    const values: EmfValue[] = [];
    for (const [counter, { unit, of }] of Object.entries(COUNTERS) as [Counter, (typeof COUNTERS)[Counter]][]) {
      const total = of(figures);
      // A total that went down (a relay restarted its count) is no negative count; what it adds from there is.
      values.push({ name: TASK_METRIC[counter], unit, value: Math.max(0, total - (this.last.get(counter) ?? 0)) });
      this.last.set(counter, total);
    }
    values.push({ name: TASK_METRIC.jitter, unit: 'Milliseconds', value: figures.jitterMs });
    this.write(emfLine(this.gateway, values, this.now()));
  }
}
