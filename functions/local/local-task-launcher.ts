import type { CallSpec, StateEvent, TaskCommand } from '../../shared/call-types.ts';
import { FINAL_STATES } from '../../shared/call-types.ts';
import { LaunchError } from '../../shared/call-errors.ts';
import type { ObservedTask } from '../core/call-sweep.ts';
import type { Logger, TaskInspector, TaskLauncher } from '../core/ports.ts';
import { OwnedProcess } from '../../shared/owned-process.ts';
import { parseJsonLine, parseStandbyReady, parseStateEvent } from '../../shared/task-messages.ts';
import type { StandbyLauncher } from '../standby-pool.ts';
import { NODE_FLAGS, TASK_ENV } from '../../shared/task-env.ts';

/** The longest a refill waits for one standby task to be ready before it starts the next. */
const BOOT_WAIT_MS = 10_000;

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
  /** Where tasks write the recordings calls ask for (functions/local/local-recordings.ts serves them). */
  recordingDir?: string;
  /** A standby task printed that it is ready for a call. */
  onStandbyReady?: (taskRef: string) => void;
  /** A standby task exited before it was given a call. */
  onStandbyExit?: (taskRef: string) => void;
}

interface RunningTask {
  process: OwnedProcess;
  taskRef: string;
  /** Undefined while a standby task waits for its call. */
  callId?: string;
  sawFinal: boolean;
  /**
   * The task's events are recorded one after the other, in the order it printed them: recorded concurrently, a
   * `streaming` could land before the `answered` just before it, and the state machine would skip the latter.
   */
  recorded: Promise<void>;
}

/**
 * Runs each call's media task as a child process (the same entry point as the container), feeds its stdout
 * events to the recorder, and marks a task that dies without a final state as crashed. Standby tasks are the same
 * program started without a call; `handOver` writes them their spec. It is also the sweeper's `TaskInspector`
 * locally: a task is running while it is this server's live child.
 */
export class LocalTaskLauncher implements TaskLauncher, TaskInspector, StandbyLauncher {
  /** Tasks with a call, by callId. */
  private readonly tasks = new Map<string, RunningTask>();
  /** Standby tasks waiting for a call, by taskRef. */
  private readonly standbys = new Map<string, RunningTask>();
  /** Standby tasks not ready yet, each with what resolves `booted`. */
  private readonly booting = new Map<string, { done: Promise<void>; resolve: () => void }>();

  private readonly stopGraceMs: number;

  constructor(private readonly options: LocalTaskLauncherOptions) {
    this.stopGraceMs = options.stopGraceMs ?? 12_000;
  }

  async launch(spec: CallSpec): Promise<{ taskRef: string }> {
    // The spec travels in the environment, not in argv: argument lists are world-readable in `ps`.
    const task = await this.spawn(`media-task ${spec.callId}`, { [TASK_ENV.callSpec]: JSON.stringify(spec) });
    this.adopt(task, spec.callId);
    return { taskRef: task.taskRef };
  }

  async startStandby(): Promise<string> {
    const task = await this.spawn('media-task standby', { [TASK_ENV.standby]: '1' });
    this.standbys.set(task.taskRef, task);
    let resolve!: () => void;
    const done = new Promise<void>((settle) => (resolve = settle));
    this.booting.set(task.taskRef, { done, resolve });
    if (!task.process.running) this.bootDone(task.taskRef);
    return task.taskRef;
  }

  async booted(taskRef: string): Promise<void> {
    const boot = this.booting.get(taskRef);
    if (!boot) return;
    // A task that hangs in its start must not hold up every later refill.
    const timer = setTimeout(() => this.bootDone(taskRef), BOOT_WAIT_MS);
    await boot.done;
    clearTimeout(timer);
  }

  private bootDone(taskRef: string): void {
    this.booting.get(taskRef)?.resolve();
    this.booting.delete(taskRef);
  }

  /** Nothing to seal: the spec, password included, goes on the task's stdin. */
  async seal(): Promise<undefined> {
    return undefined;
  }

  /** Over stdin, as the spec would have come in the environment: neither is visible to other users. */
  async handOver(taskRef: string, spec: CallSpec): Promise<void> {
    const task = this.standbys.get(taskRef);
    if (!task?.process.writeLine(JSON.stringify({ type: 'assign', spec })))
      throw new LaunchError(`standby task ${taskRef} is gone`);
    this.standbys.delete(taskRef);
    this.adopt(task, spec.callId);
  }

  async stopStandby(taskRef: string): Promise<void> {
    await this.standbys.get(taskRef)?.process.close('SIGTERM', this.stopGraceMs);
  }

  private async spawn(name: string, extraEnv: NodeJS.ProcessEnv): Promise<RunningTask> {
    const env: NodeJS.ProcessEnv = Object.fromEntries(
      INHERITED_ENV.filter((key) => process.env[key] !== undefined).map((key) => [key, process.env[key]]),
    );
    Object.assign(env, extraEnv, {
      [TASK_ENV.eventSink]: 'stdout',
      [TASK_ENV.bindAddress]: this.options.bindAddress,
      [TASK_ENV.publicAddress]: this.options.publicAddress,
      ...(this.options.recordingDir ? { [TASK_ENV.recordingDir]: this.options.recordingDir } : {}),
    });
    const task: RunningTask = {
      process: undefined as unknown as OwnedProcess,
      taskRef: '',
      sawFinal: false,
      recorded: Promise.resolve(),
    };
    try {
      task.process = await OwnedProcess.start({
        name,
        command: process.execPath,
        args: [...NODE_FLAGS, this.options.entry],
        env,
        stdin: true,
        onLine: (line, stream) =>
          stream === 'stdout' ? this.onTaskLine(task, line) : process.stderr.write(line + '\n'),
      });
    } catch (error) {
      throw new LaunchError(`media task did not start: ${(error as Error).message}`, { cause: error });
    }
    task.taskRef = `local:${task.process.pid}`;
    task.process.onExit((exit) => {
      if (task.callId === undefined) {
        this.standbys.delete(task.taskRef);
        this.bootDone(task.taskRef);
        this.options.onStandbyExit?.(task.taskRef);
      } else this.onTaskExit(task, task.callId, exit);
    });
    return task;
  }

  /** The task now runs `callId`: its events are recorded, its exit without a final state is a crash. */
  private adopt(task: RunningTask, callId: string): void {
    task.callId = callId;
    this.tasks.set(callId, task);
  }

  private onTaskExit(task: RunningTask, callId: string, exit: { code: number | null; signal: string | null }): void {
    const { logger } = this.options;
    if (!task.sawFinal) {
      const message = `media task exited without a final state (code ${exit.code}, signal ${exit.signal})`;
      logger.warn(message, { callId });
      task.recorded = task.recorded.then(() =>
        this.options
          .onCrash(callId, message)
          .catch((error: unknown) => logger.error('could not record crash', { callId, error })),
      );
    }
    // Listed until what it printed (or its crash) is recorded: meanwhile a sweep must not find its call taskless.
    void task.recorded.then(() => this.tasks.delete(callId));
  }

  /**
   * Resolves once the task has exited and everything it printed is recorded (its final state included). A task
   * that does not exit within the stop grace after SIGTERM (hung, or stopped with SIGSTOP) is SIGKILLed.
   */
  async stop(callId: string): Promise<void> {
    const task = this.tasks.get(callId);
    await task?.process.close('SIGTERM', this.stopGraceMs);
    await task?.recorded;
  }

  /**
   * `local:<pid>` of a live child is running; any other is missing. A pid alone is not asked of the OS: after
   * the server restarted, or once a pid is reused, it may name another process.
   */
  async inspect(taskRefs: readonly string[]): Promise<Map<string, ObservedTask>> {
    const running = new Set([...this.tasks.values(), ...this.standbys.values()].map((task) => task.taskRef));
    return new Map(taskRefs.map((ref) => [ref, running.has(ref) ? { status: 'running' } : { status: 'missing' }]));
  }

  async sendCommand(callId: string, command: TaskCommand): Promise<void> {
    this.tasks.get(callId)?.process.writeLine(JSON.stringify(command));
  }

  /** Hangs up every live call and stops every standby task (server shutdown); waits for them to exit. */
  async stopAll(): Promise<void> {
    await Promise.all([
      ...[...this.tasks.keys()].map((callId) => this.stop(callId)),
      ...[...this.standbys.keys()].map((taskRef) => this.stopStandby(taskRef)),
    ]);
  }

  get liveTasks(): number {
    return this.tasks.size;
  }

  private onTaskLine(task: RunningTask, line: string): void {
    const { callId } = task;
    if (callId === undefined) {
      if (parseJsonLine(line, parseStandbyReady).ok) {
        this.bootDone(task.taskRef);
        this.options.onStandbyReady?.(task.taskRef);
      } else this.options.logger.error('standby task printed a line that is not its ready notice; ignored', {});
      return;
    }
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
