/** Test doubles for the core's ports: an in-memory `CallStore` (also run through the shared store suite) and a
 * recording `TaskLauncher`. Test-only: production backends are the adapters. */
import {
  CallNotFoundError,
  ConcurrencyLimitError,
  ConcurrentUpdateError,
  LaunchError,
  StreamKeyInUseError,
} from '../../shared/call-errors.ts';
import { isFinal } from '../../shared/call-types.ts';
import { SINGLE_KEY_NAME, type ApiKey, type ApiKeySource } from '../../functions/core/api-keys.ts';
import type { CallSpec, TaskCommand } from '../../shared/call-types.ts';
import type {
  CallListFilter,
  CallRecord,
  CallSecret,
  CallStore,
  CreateOptions,
  HostResolver,
  TaskLauncher,
} from '../../functions/core/ports.ts';

const clone = <T>(value: T): T => structuredClone(value);

export class MemoryCallStore implements CallStore {
  readonly records = new Map<string, { record: CallRecord; secret?: CallSecret }>();

  async create(record: CallRecord, secret: CallSecret, options: CreateOptions = {}): Promise<'created' | CallRecord> {
    const existing = this.records.get(record.callId);
    if (existing) return clone(existing.record);
    const live = [...this.records.values()].map((r) => r.record).filter((r) => !isFinal(r.state));
    const owner = live.find((r) => r.streamKey === record.streamKey);
    if (owner) throw new StreamKeyInUseError(owner.callId);
    const { keyLimit } = options;
    if (record.keyName !== undefined && keyLimit !== undefined) {
      if (live.filter((r) => r.keyName === record.keyName).length >= keyLimit)
        throw new ConcurrencyLimitError(record.keyName, keyLimit);
    }
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

/** Keys as the app asks for them; a bare string is the one key of the `API_KEY` setting. */
export const fixedKeys =
  (...keys: (ApiKey | string)[]): ApiKeySource =>
  async () =>
    keys.map((key) => (typeof key === 'string' ? { name: SINGLE_KEY_NAME, key } : key));

/** A resolver that knows only `names` (name → addresses); every other name gets no answer, as offline. */
export const fakeDns =
  (names: Record<string, readonly string[]> = {}): HostResolver =>
  async (host) =>
    names[host] ?? [];
