import type { CallSpec, StateEvent, TaskCommand } from '../../shared/call-types.ts';
import { FINAL_STATES } from '../../shared/call-types.ts';
import { LaunchError } from '../../shared/call-errors.ts';
import type { ObservedTask } from '../core/call-sweep.ts';
import type { Logger, TaskInspector, TaskLauncher } from '../core/ports.ts';
import { OwnedProcess } from '../../shared/owned-process.ts';
import { parseJsonLine, parseStateEvent } from '../../shared/task-messages.ts';
import { NODE_FLAGS, TASK_ENV } from '../../shared/task-env.ts';

/** Variables a task inherits; the server's own environment (API keys and the like) stays out. */
const INHERITED_ENV = [
  'PATH',
  'HOME',
  'LANG',
  'TMPDIR',
  'LOG_LEVEL',
  'NODE_OPTIONS',
  TASK_ENV.rtmpsCaFile,
  TASK_ENV.mediaPorts,
];

export interface LocalTaskLauncherOptions {
  /** Every state event a task prints on stdout. */
  onEvent: (event: StateEvent) => Promise<void>;
  /** A task exited without having reported a final state. */
  onCrash: (callId: string, message: string) => Promise<void>;
  logger: Logger;
  /** The media task's bundled entry module (media-task/bundle.ts), as the container runs it. */
  entry: string;
  bindAddress: string;
  publicAddress: string;
  /** How long a task may take to hang up after SIGTERM before it is killed. */
  stopGraceMs?: number;
}

interface RunningTask {
  process: OwnedProcess;
  sawFinal: boolean;
  /**
   * The task's events are recorded one after the other, in the order it printed them: recorded concurrently, a
   * `streaming` could land before the `answered` just before it, and the state machine would skip the latter.
   */
  recorded: Promise<void>;
}

/**
 * Runs each call's media task as a child process (the same entry point as the container), feeds its stdout
 * events to the recorder, and marks a task that dies without a final state as crashed. It is also the sweeper's
 * `TaskInspector` locally: a task is running while it is this server's live child.
 */
export class LocalTaskLauncher implements TaskLauncher, TaskInspector {
  private readonly tasks = new Map<string, RunningTask>();

  constructor(private readonly options: LocalTaskLauncherOptions) {}

  async launch(spec: CallSpec): Promise<{ taskRef: string }> {
    const { logger } = this.options;
    const env: NodeJS.ProcessEnv = Object.fromEntries(
      INHERITED_ENV.filter((name) => process.env[name] !== undefined).map((name) => [name, process.env[name]]),
    );
    // The spec travels in the environment, not in argv: argument lists are world-readable in `ps`.
    env[TASK_ENV.callSpec] = JSON.stringify(spec);
    env[TASK_ENV.eventSink] = 'stdout';
    env[TASK_ENV.bindAddress] = this.options.bindAddress;
    env[TASK_ENV.publicAddress] = this.options.publicAddress;

    const task: RunningTask = {
      process: undefined as unknown as OwnedProcess,
      sawFinal: false,
      recorded: Promise.resolve(),
    };
    try {
      task.process = await OwnedProcess.start({
        name: `media-task ${spec.callId}`,
        command: process.execPath,
        args: [...NODE_FLAGS, this.options.entry],
        env,
        stdin: true,
        onLine: (line, stream) =>
          stream === 'stdout' ? this.onTaskLine(spec.callId, task, line) : process.stderr.write(line + '\n'),
      });
    } catch (error) {
      throw new LaunchError(`media task did not start: ${(error as Error).message}`, { cause: error });
    }
    this.tasks.set(spec.callId, task);
    task.process.onExit((exit) => {
      if (!task.sawFinal) {
        const message = `media task exited without a final state (code ${exit.code}, signal ${exit.signal})`;
        logger.warn(message, { callId: spec.callId });
        task.recorded = task.recorded.then(() =>
          this.options
            .onCrash(spec.callId, message)
            .catch((error: unknown) => logger.error('could not record crash', { callId: spec.callId, error })),
        );
      }
      // Listed until what it printed (or its crash) is recorded: meanwhile a sweep must not find its call taskless.
      void task.recorded.then(() => this.tasks.delete(spec.callId));
    });
    return { taskRef: `local:${task.process.pid}` };
  }

  /**
   * Resolves once the task has exited and everything it printed is recorded (its final state included). A task
   * that does not exit within the stop grace after SIGTERM (hung, or stopped with SIGSTOP) is SIGKILLed.
   */
  async stop(callId: string): Promise<void> {
    const task = this.tasks.get(callId);
    await task?.process.close('SIGTERM', this.options.stopGraceMs ?? 12_000);
    await task?.recorded;
  }

  /**
   * `local:<pid>` of a live child is running; any other is missing. A pid alone is not asked of the OS: after
   * the server restarted, or once a pid is reused, it may name another process.
   */
  async inspect(taskRefs: readonly string[]): Promise<Map<string, ObservedTask>> {
    const running = new Set([...this.tasks.values()].map((task) => `local:${task.process.pid}`));
    return new Map(taskRefs.map((ref) => [ref, running.has(ref) ? { status: 'running' } : { status: 'missing' }]));
  }

  async sendCommand(callId: string, command: TaskCommand): Promise<void> {
    this.tasks.get(callId)?.process.writeLine(JSON.stringify(command));
  }

  /** Hangs up every live call (server shutdown) and waits for the tasks to exit. */
  async stopAll(): Promise<void> {
    await Promise.all([...this.tasks.keys()].map((callId) => this.stop(callId)));
  }

  get liveTasks(): number {
    return this.tasks.size;
  }

  private onTaskLine(callId: string, task: RunningTask, line: string): void {
    // A task's stdout is a process boundary: what is not a state event is logged and dropped, never recorded.
    const parsed = parseJsonLine(line, parseStateEvent);
    if (!parsed.ok) {
      this.options.logger.error('task printed a line that is not a state event; ignored', {
        callId,
        problem: parsed.problem,
        line: line.slice(0, 200),
      });
      return;
    }
    const event = parsed.value;
    if (event.callId !== callId) {
      this.options.logger.warn('task reported an event for another call; ignored', { callId });
      return;
    }
    if ((FINAL_STATES as readonly string[]).includes(event.type)) task.sawFinal = true;
    task.recorded = task.recorded.then(() =>
      this.options
        .onEvent(event)
        .catch((error: unknown) => this.options.logger.error('could not record event', { callId, error })),
    );
  }
}
