/**
 * `npx cdk deploy` / `npx cdk synth` entry (cdk.json). Sizes and ranges come from context, e.g.
 * `npx cdk deploy -c taskCpu=512 -c taskMemoryMiB=1024 -c taskArchitecture=X86_64 -c peerCidr=203.0.113.0/24,198.51.100.0/24`.
 */
import { App } from 'aws-cdk-lib';
import { GatewayStack } from './gateway-stack.ts';
import { readStackContext } from './stack-context.ts';

const app = new App();
new GatewayStack(app, app.node.tryGetContext('stackName') ?? 'SipRtmpGateway', {
  ...readStackContext((key) => app.node.tryGetContext(key)),
  env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
});
app.synth();
