/**
 * How a Fargate task learns the address its SIP and RTP peers must use. With `assignPublicIp`, the public IPv4
 * is a 1:1 NAT in front of the ENI's private address: no interface of the container has it, so it cannot be read
 * locally. ECS task metadata v4 (`$ECS_CONTAINER_METADATA_URI_V4/task`) gives the ENI's private IP and MAC
 * address but not the public IP nor the ENI id; EC2 DescribeNetworkInterfaces, filtered by both, returns the ENI
 * with its `Association.PublicIp`. That needs `ec2:DescribeNetworkInterfaces` (an action without resource-level
 * permissions) and no outside service: an HTTP "what is my IP" echo or STUN would make the task depend on a third
 * party. The association can lag the task's start by a moment, hence the retries.
 */
import { DescribeNetworkInterfacesCommand, type EC2Client } from '@aws-sdk/client-ec2';

export class PublicAddressError extends Error {
  override readonly name = 'PublicAddressError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** The part of the task metadata v4 `/task` answer we read (awsvpc mode: every container shares the ENI). */
interface TaskMetadataAnswer {
  TaskARN?: string;
  Containers?: { Networks?: { IPv4Addresses?: string[]; MACAddress?: string }[] }[];
}

/** The task's own ARN, which signs its events (state-event-intake.ts), and its ENI's private side. */
export interface TaskMetadata {
  taskArn: string;
  privateAddress: string;
  macAddress: string;
}

export interface DiscoverOptions {
  metadata: Pick<TaskMetadata, 'privateAddress' | 'macAddress'>;
  ec2: EC2Client;
  attempts?: number;
  delayMs?: number;
}

export interface TaskAddresses {
  privateAddress: string;
  publicAddress: string;
}

export async function discoverPublicAddress(options: DiscoverOptions): Promise<TaskAddresses> {
  const { privateAddress, macAddress } = options.metadata;
  const attempts = options.attempts ?? 10;
  for (let attempt = 1; ; attempt++) {
    const { NetworkInterfaces = [] } = await options.ec2.send(
      new DescribeNetworkInterfacesCommand({
        Filters: [
          { Name: 'mac-address', Values: [macAddress] },
          { Name: 'addresses.private-ip-address', Values: [privateAddress] },
        ],
      }),
    );
    const publicAddress = NetworkInterfaces[0]?.Association?.PublicIp;
    if (publicAddress) return { privateAddress, publicAddress };
    if (attempt >= attempts) {
      const why = NetworkInterfaces.length
        ? 'it has no public IP (is assignPublicIp ENABLED and the subnet public?)'
        : 'EC2 does not know it';
      throw new PublicAddressError(`no public address for ENI ${macAddress} (${privateAddress}): ${why}`);
    }
    await new Promise((resolve) => setTimeout(resolve, options.delayMs ?? 1_000));
  }
}

/** `$ECS_CONTAINER_METADATA_URI_V4/task`: the task's ARN and its awsvpc ENI. */
export async function readTaskMetadata(metadataUri: string, fetchImpl: typeof fetch = fetch): Promise<TaskMetadata> {
  let metadata: TaskMetadataAnswer;
  try {
    const response = await fetchImpl(`${metadataUri}/task`);
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    metadata = (await response.json()) as TaskMetadataAnswer;
  } catch (error) {
    throw new PublicAddressError(`task metadata unreadable: ${(error as Error).message}`, { cause: error });
  }
  const taskArn = metadata.TaskARN;
  if (!taskArn) throw new PublicAddressError('task metadata names no TaskARN');
  for (const container of metadata.Containers ?? []) {
    for (const network of container.Networks ?? []) {
      const privateAddress = network.IPv4Addresses?.[0];
      if (privateAddress && network.MACAddress) return { taskArn, privateAddress, macAddress: network.MACAddress };
    }
  }
  throw new PublicAddressError('task metadata names no awsvpc network with an IPv4 and MAC address');
}
