/** Test doubles for the core's ports: an in-memory `CallStore` (also run through the shared store suite) and a
 * recording `TaskLauncher`. Test-only: production backends are the adapters. */
import {
  CallNotFoundError,
  ConcurrentUpdateError,
  LaunchError,
  StreamKeyInUseError,
} from '../../shared/call-errors.ts';
import { isFinal } from '../../shared/call-types.ts';
import type { CallSpec, TaskCommand } from '../../shared/call-types.ts';
import type {
  CallListFilter,
  CallRecord,
  CallSecret,
  CallStore,
  HostResolver,
  TaskLauncher,
} from '../../functions/core/ports.ts';

const clone = <T>(value: T): T => structuredClone(value);

export class MemoryCallStore implements CallStore {
  readonly records = new Map<string, { record: CallRecord; secret?: CallSecret }>();

  async create(record: CallRecord, secret: CallSecret): Promise<'created' | CallRecord> {
    const existing = this.records.get(record.callId);
    if (existing) return clone(existing.record);
    const owner = [...this.records.values()].find(
      (r) => r.record.streamKey === record.streamKey && !isFinal(r.record.state),
    );
    if (owner) throw new StreamKeyInUseError(owner.record.callId);
    this.records.set(record.callId, { record: clone({ ...record, version: 1 }), secret: clone(secret) });
    return 'created';
  }
  async get(callId: string) {
    const entry = this.records.get(callId);
    return entry && clone(entry.record);
  }
  async getSecret(callId: string) {
    const entry = this.records.get(callId);
    return entry && clone(entry.secret);
  }
  async list(filter: CallListFilter = {}) {
    return [...this.records.values()]
      .map((entry) => clone(entry.record))
      .filter((r) => filter.live === undefined || filter.live === !isFinal(r.state))
      .filter((r) => filter.state === undefined || r.state === filter.state)
      .sort((a, b) => (a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : 0));
  }
  async update(next: CallRecord, expectedVersion: number) {
    const entry = this.records.get(next.callId);
    if (!entry) throw new CallNotFoundError(next.callId);
    if (entry.record.version !== expectedVersion) throw new ConcurrentUpdateError(next.callId);
    entry.record = clone({ ...next, version: expectedVersion + 1 });
    if (isFinal(entry.record.state)) delete entry.secret;
    return clone(entry.record);
  }
}

export type LauncherCall =
  | { op: 'launch'; spec: CallSpec }
  | { op: 'stop'; callId: string; taskRef?: string }
  | { op: 'command'; callId: string; command: TaskCommand; taskRef?: string };

export class FakeLauncher implements TaskLauncher {
  readonly calls: LauncherCall[] = [];
  failLaunch = false;

  async launch(spec: CallSpec) {
    this.calls.push({ op: 'launch', spec: clone(spec) });
    if (this.failLaunch) throw new LaunchError('no capacity');
    return { taskRef: `task-${spec.callId}` };
  }
  async stop(callId: string, taskRef?: string) {
    this.calls.push({ op: 'stop', callId, taskRef });
  }
  async sendCommand(callId: string, command: TaskCommand, taskRef?: string) {
    this.calls.push({ op: 'command', callId, command, taskRef });
  }
  get launches() {
    return this.calls.filter((call) => call.op === 'launch');
  }
}

/** A resolver that knows only `names` (name → addresses); every other name gets no answer, as offline. */
export const fakeDns =
  (names: Record<string, readonly string[]> = {}): HostResolver =>
  async (host) =>
    names[host] ?? [];
