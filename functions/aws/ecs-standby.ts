/**
 * The ECS launcher and the standby pool as both the API Lambda (claims, refills) and the sweeper Lambda (tends
 * the pool every minute) build them, from the same environment.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { ECSClient } from '@aws-sdk/client-ecs';
import { DynamoDbCommandMailbox } from '../../shared/aws/dynamodb-command-mailbox.ts';
import { DynamoDbStandbyRegistry } from '../../shared/aws/dynamodb-standby-registry.ts';
import { EcsTaskInspector } from '../adapters/ecs-task-inspector.ts';
import { EcsTaskLauncher } from '../adapters/ecs-task-launcher.ts';
import type { Logger } from '../core/ports.ts';
import { StandbyPool } from '../standby-pool.ts';
import type { TaskLaunchConfig } from './aws-config.ts';
import type { SecretCipher } from '../../shared/aws/secret-cipher.ts';

export function ecsLaunching(
  config: TaskLaunchConfig & { tableName: string },
  clients: { ecs: ECSClient; dynamodb: DynamoDBClient; cipher: SecretCipher },
  logger: Logger,
): { launcher: EcsTaskLauncher; inspector: EcsTaskInspector; pool: StandbyPool } {
  const { ecs, dynamodb, cipher } = clients;
  const launcher = new EcsTaskLauncher({
    ecs,
    cipher,
    mailbox: new DynamoDbCommandMailbox({ client: dynamodb, tableName: config.tableName }),
    cluster: config.clusterArn,
    taskDefinition: config.taskDefinitionArn,
    containerName: config.containerName,
    subnets: config.subnetIds,
    securityGroups: config.securityGroupIds,
  });
  const inspector = new EcsTaskInspector({ ecs, cluster: config.clusterArn, logger });
  const pool = new StandbyPool({
    registry: new DynamoDbStandbyRegistry({ client: dynamodb, tableName: config.tableName }),
    launcher,
    inspector,
    policy: config.standby,
    logger,
  });
  return { launcher, inspector, pool };
}
