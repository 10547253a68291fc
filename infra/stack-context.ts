import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { MIN_MEDIA_PORTS } from '../shared/task-env.ts';
import { DEFAULT_RETENTION_DAYS } from '../shared/aws/dynamodb-call-store.ts';
import { DEFAULT_RECORDING_RETENTION_DAYS, type GatewayStackProps } from './gateway-stack.ts';
import { DEFAULT_MEDIA_PORTS } from './media-task-construct.ts';
import { parsePriceOverrides } from '../functions/pricing-config.ts';
import type { Pricing } from '../functions/core/call-usage.ts';

export class StackContextError extends Error {
  override readonly name = 'StackContextError';
}

/** The values CloudWatch Logs accepts for a retention period. */
const RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
];

/** Fargate's valid sizes for the small end (CPU units → MiB of memory). */
const FARGATE_MEMORY: Record<number, number[]> = {
  256: [512, 1024, 2048],
  512: [1024, 2048, 3072, 4096],
  1024: [2048, 3072, 4096, 5120, 6144, 7168, 8192],
  2048: Array.from({ length: 13 }, (_, i) => 4096 + i * 1024),
};

const MAX_PEER_CIDRS = 25;

function isIpv4Cidr(text: string): boolean {
  const match = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(text);
  return !!match && match.slice(1, 5).every((octet) => Number(octet) <= 255) && Number(match[5]) <= 32;
}

/** Reads `-c key=value` context (strings on the command line, numbers in cdk.json) and fails naming the key. */
export function readStackContext(get: (key: string) => unknown): Omit<GatewayStackProps, 'env'> {
  const number = (key: string): number | undefined => {
    const raw = get(key);
    if (raw === undefined) return undefined;
    const value = Number(raw);
    if (!Number.isInteger(value))
      throw new StackContextError(`context ${key} must be a whole number, not ${JSON.stringify(raw)}`);
    return value;
  };
  const taskCpu = number('taskCpu') ?? 256;
  const taskMemoryMiB = number('taskMemoryMiB') ?? 512;
  if (!FARGATE_MEMORY[taskCpu]?.includes(taskMemoryMiB)) {
    throw new StackContextError(
      `taskCpu=${taskCpu} with taskMemoryMiB=${taskMemoryMiB} is not a Fargate size (see FARGATE_MEMORY in infra/stack-context.ts)`,
    );
  }
  const architecture = get('taskArchitecture') ?? 'ARM64';
  if (architecture !== 'ARM64' && architecture !== 'X86_64')
    throw new StackContextError('context taskArchitecture must be ARM64 or X86_64');
  const from = number('mediaPortFrom') ?? DEFAULT_MEDIA_PORTS.from;
  const to = number('mediaPortTo') ?? DEFAULT_MEDIA_PORTS.to;
  if (!(from >= 1024 && to - from + 1 >= MIN_MEDIA_PORTS && to <= 65535)) {
    throw new StackContextError(
      `context mediaPortFrom..mediaPortTo must be a range of at least ${MIN_MEDIA_PORTS} ports within 1024–65535`,
    );
  }
  // A provider publishes its signalling and media addresses as several ranges (docs/aws.md): a list, each range
  // two security group rules, within the default quota of 60 inbound rules.
  const peerCidrs = String(get('peerCidr') ?? '0.0.0.0/0')
    .split(',')
    .map((cidr) => cidr.trim());
  if (peerCidrs.length > MAX_PEER_CIDRS || !peerCidrs.every(isIpv4Cidr)) {
    throw new StackContextError(
      `context peerCidr must be an IPv4 CIDR, or up to ${MAX_PEER_CIDRS} of them separated by commas`,
    );
  }
  const genericTrigger = get('genericTrigger') ?? false;
  if (genericTrigger !== true && genericTrigger !== false && genericTrigger !== 'true' && genericTrigger !== 'false') {
    throw new StackContextError('context genericTrigger must be true or false');
  }
  const twilioSecretArn = get('twilioSecretArn');
  // The complete ARN (with Secrets Manager's 6-character suffix): IAM grants on a partial ARN would need a wildcard.
  if (
    twilioSecretArn !== undefined &&
    !(
      typeof twilioSecretArn === 'string' &&
      /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[\w/+=.@-]+-[A-Za-z0-9]{6}$/.test(twilioSecretArn)
    )
  ) {
    throw new StackContextError(
      'context twilioSecretArn must be the complete ARN of a Secrets Manager secret (as create-secret prints it)',
    );
  }
  const failedCallsAlarmThreshold = number('failedCallsAlarmThreshold') ?? 5;
  if (failedCallsAlarmThreshold < 1) throw new StackContextError('context failedCallsAlarmThreshold must be 1 or more');
  const alarmEmail = get('alarmEmail');
  if (alarmEmail !== undefined && !(typeof alarmEmail === 'string' && /^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(alarmEmail))) {
    throw new StackContextError('context alarmEmail must be an email address');
  }
  const callRetentionDays = number('callRetentionDays') ?? DEFAULT_RETENTION_DAYS;
  if (!(Number.isInteger(callRetentionDays) && callRetentionDays >= 1 && callRetentionDays <= 3650))
    throw new StackContextError('context callRetentionDays must be 1–3650 days');
  const recordingRetentionDays = number('recordingRetentionDays') ?? DEFAULT_RECORDING_RETENTION_DAYS;
  if (!(recordingRetentionDays >= 1 && recordingRetentionDays <= 3650))
    throw new StackContextError('context recordingRetentionDays must be 1–3650 days');
  const standbyTasks = number('standbyTasks') ?? 1;
  if (!(standbyTasks >= 0 && standbyTasks <= 100)) throw new StackContextError('context standbyTasks must be 0–100');
  const rawPrices = get('usagePrices');
  let usagePrices: Partial<Pricing> | undefined;
  try {
    usagePrices =
      rawPrices === undefined
        ? undefined
        : parsePriceOverrides(typeof rawPrices === 'string' ? JSON.parse(rawPrices) : rawPrices, 'context usagePrices');
  } catch (error) {
    throw new StackContextError(
      error instanceof SyntaxError ? 'context usagePrices must be JSON' : (error as Error).message,
    );
  }
  const logRetentionDays = number('logRetentionDays') ?? 30;
  if (!RETENTION_DAYS.includes(logRetentionDays))
    throw new StackContextError(`context logRetentionDays must be one of ${RETENTION_DAYS.join(', ')}`);
  return {
    taskCpu,
    taskMemoryMiB,
    taskArchitecture: architecture,
    mediaPorts: { from, to },
    peerCidrs,
    logRetention: logRetentionDays as RetentionDays,
    callRetentionDays,
    recordingRetentionDays,
    genericTrigger: genericTrigger === true || genericTrigger === 'true',
    ...(twilioSecretArn ? { twilioSecretArn } : {}),
    failedCallsAlarmThreshold,
    ...(alarmEmail ? { alarmEmail } : {}),
    standbyTasks,
    ...(usagePrices ? { usagePrices } : {}),
  };
}
