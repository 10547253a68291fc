/**
 * The local task's stdin, the server's pipe: JSON lines, first (for a standby task) the `assign` line with the
 * call's spec, then commands. A process boundary all the same: a line that is not what is expected is logged and
 * dropped. Commands that arrive before the call runs are kept for it, in order.
 */
import type { Interface } from 'node:readline';
import type { CallSpec, TaskCommand } from '../shared/call-types.ts';
import type { Logger } from '../shared/log.ts';
import { parseAssignment, parseJsonLine, parseTaskCommand } from '../shared/task-messages.ts';

export class StdinChannel {
  private awaitingAssignment: ((spec: CallSpec) => void) | undefined;
  private runCommand: ((command: TaskCommand) => void) | undefined;
  private readonly early: TaskCommand[] = [];
  private readonly closed: Promise<void>;

  constructor(
    lines: Interface,
    private readonly logger: Logger,
  ) {
    this.closed = new Promise((resolve) => lines.once('close', () => resolve()));
    lines.on('line', (line) => this.onLine(line));
  }

  /** The spec of a standby task's call; undefined when stdin closes or `signal` aborts first. */
  assignment(signal: AbortSignal): Promise<CallSpec | undefined> {
    const aborted = new Promise<undefined>((resolve) => signal.addEventListener('abort', () => resolve(undefined)));
    const assigned = new Promise<CallSpec>((resolve) => (this.awaitingAssignment = resolve));
    return Promise.race([assigned, aborted, this.closed.then(() => undefined)]);
  }

  /** From now on commands go to `run`, those that came earlier first. */
  onCommand(run: (command: TaskCommand) => void): void {
    this.runCommand = run;
    for (const command of this.early.splice(0)) this.dispatch(command);
  }

  /** Resolves when the server closes the pipe (it stopped, or died). */
  onClose(handler: () => void): void {
    void this.closed.then(handler);
  }

  private onLine(line: string): void {
    const waiting = this.awaitingAssignment;
    if (waiting) {
      const assignment = parseJsonLine(line, parseAssignment);
      if (!assignment.ok) {
        this.logger.error('standby task ignored a line that is not an assignment', { problem: assignment.problem });
        return;
      }
      this.awaitingAssignment = undefined;
      waiting(assignment.value);
      return;
    }
    const command = parseJsonLine(line, parseTaskCommand);
    if (!command.ok) {
      this.logger.error('invalid task command ignored', { problem: command.problem, line: line.slice(0, 200) });
      return;
    }
    if (this.runCommand) this.dispatch(command.value);
    else this.early.push(command.value);
  }

  private dispatch(command: TaskCommand): void {
    try {
      this.runCommand?.(command);
    } catch (error) {
      this.logger.error('task command failed', { type: command.type, error });
    }
  }
}
