import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Peer, Port, SecurityGroup, SubnetType, Vpc } from 'aws-cdk-lib/aws-ec2';
import { Platform } from 'aws-cdk-lib/aws-ecr-assets';
import {
  Cluster,
  ContainerImage,
  CpuArchitecture,
  FargateTaskDefinition,
  LogDrivers,
  OperatingSystemFamily,
  type ContainerDefinition,
} from 'aws-cdk-lib/aws-ecs';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { formatPortRange, TASK_ENV } from '../shared/task-env.ts';
import { PROJECT_ROOT } from './gateway-function.ts';

export type TaskArchitecture = 'ARM64' | 'X86_64';

/**
 * The task's SIP and RTP ports unless the `mediaPortFrom`/`mediaPortTo` context says otherwise. A task runs one
 * call on an address of its own (one SIP port, two RTP/RTCP pairs), so a thousand ports leave ample room.
 */
export const DEFAULT_MEDIA_PORTS = { from: 20000, to: 20999 } as const;

export interface MediaTaskProps {
  /** Fargate CPU units (256 = 0.25 vCPU). */
  cpu: number;
  memoryMiB: number;
  architecture: TaskArchitecture;
  /**
   * Inbound ports for SIP and RTP: the task binds its SIP socket (UDP, or the TCP listener) and its RTP/RTCP pairs
   * inside them (MEDIA_PORTS), and the security group opens them and no others: UDP for SIP and RTP/RTCP, TCP for
   * SIP over TCP. Strict RTP in the relay then drops media from whoever else reaches them.
   */
  mediaPorts: { from: number; to: number };
  /** Who may send SIP and RTP to tasks; the SIP provider's signalling and media servers' ranges when known. */
  peerCidrs: string[];
  logRetention: RetentionDays;
  /** The variables every task gets (table, bus, key): never a secret, the task definition is readable. */
  environment: Record<string, string>;
}

/**
 * The media task's home: a VPC with public subnets only (no NAT gateway to pay for: tasks get public IPs), an ECS
 * cluster, and the Fargate task definition whose image is built from media-task/Dockerfile. `cdk synth` only
 * stages the build context; the image is built by `cdk deploy` (Docker needed there, not here).
 */
export class MediaTask extends Construct {
  readonly vpc: Vpc;
  readonly cluster: Cluster;
  readonly securityGroup: SecurityGroup;
  readonly taskDefinition: FargateTaskDefinition;
  readonly container: ContainerDefinition;

  constructor(scope: Construct, id: string, props: MediaTaskProps) {
    super(scope, id);
    this.vpc = new Vpc(this, 'Vpc', {
      maxAzs: 2,
      natGateways: 0,
      subnetConfiguration: [{ name: 'public', subnetType: SubnetType.PUBLIC, cidrMask: 24 }],
    });
    this.cluster = new Cluster(this, 'Cluster', { vpc: this.vpc });

    this.securityGroup = new SecurityGroup(this, 'TaskSecurityGroup', {
      vpc: this.vpc,
      description: 'Media tasks: SIP signalling and RTP from peers; all outbound (SIP, RTMP, AWS APIs)',
      allowAllOutbound: true,
    });
    const { from, to } = props.mediaPorts;
    for (const cidr of props.peerCidrs) {
      const peer = cidr === '0.0.0.0/0' ? Peer.anyIpv4() : Peer.ipv4(cidr);
      this.securityGroup.addIngressRule(peer, Port.udpRange(from, to), 'SIP over UDP and RTP/RTCP');
      this.securityGroup.addIngressRule(peer, Port.tcpRange(from, to), 'SIP over TCP (requests into the dialog)');
    }

    const architecture = props.architecture === 'ARM64' ? CpuArchitecture.ARM64 : CpuArchitecture.X86_64;
    this.taskDefinition = new FargateTaskDefinition(this, 'TaskDefinition', {
      cpu: props.cpu,
      memoryLimitMiB: props.memoryMiB,
      runtimePlatform: { cpuArchitecture: architecture, operatingSystemFamily: OperatingSystemFamily.LINUX },
    });
    const logGroup = new LogGroup(this, 'Logs', {
      retention: props.logRetention,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.container = this.taskDefinition.addContainer('media', {
      // The context is the project root (the task imports functions/core); .dockerignore keeps it to what the
      // build needs, which also keeps the staged copy in cdk.out small.
      image: ContainerImage.fromAsset(PROJECT_ROOT, {
        file: 'media-task/Dockerfile',
        platform: props.architecture === 'ARM64' ? Platform.LINUX_ARM64 : Platform.LINUX_AMD64,
      }),
      logging: LogDrivers.awsLogs({ streamPrefix: 'call', logGroup }),
      environment: {
        [TASK_ENV.bindAddress]: '0.0.0.0',
        [TASK_ENV.eventSink]: 'eventbridge',
        [TASK_ENV.mediaPorts]: formatPortRange({ min: from, max: to }),
        ...props.environment,
      },
      // The task promises to hang up within 10 s of SIGTERM, then uploads the call's recording, if any, for up to
      // 100 s more (media-task/main.ts); ECS kills it after this, Fargate's longest.
      stopTimeout: Duration.seconds(120),
      essential: true,
    });
    // Public IP discovery (media-task/aws/public-address.ts). EC2 offers no resource-level permission for it.
    this.taskDefinition.addToTaskRolePolicy(
      new PolicyStatement({ actions: ['ec2:DescribeNetworkInterfaces'], resources: ['*'] }),
    );
  }

  /** Task ARNs of this cluster, for StopTask and TagResource. */
  taskArnPattern(): string {
    const stack = Stack.of(this);
    return stack.formatArn({ service: 'ecs', resource: 'task', resourceName: `${this.cluster.clusterName}/*` });
  }
}
