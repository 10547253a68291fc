import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import { Architecture, Runtime } from 'aws-cdk-lib/aws-lambda';
import { type ICommandHooks, NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const PROJECT_ROOT = fileURLToPath(new URL('../', import.meta.url));

export interface GatewayFunctionProps {
  /** Path under functions/aws/, e.g. `api-handler.ts`. */
  entry: string;
  environment: Record<string, string>;
  logRetention: RetentionDays;
  timeout: Duration;
  memorySize?: number;
  /** Where failed asynchronous invocations go (EventBridge targets invoke asynchronously). */
  deadLetterQueue?: IQueue;
  /**
   * Directories of the project (e.g. `functions/console/web`) copied into the bundle's root under their last name,
   * for files a module reads at run time relative to itself: beside the bundle they are where they were beside
   * the module.
   */
  besideBundle?: string[];
}

/**
 * A Lambda function of the gateway, bundled by esbuild on the machine that synthesizes (esbuild is a dependency,
 * so no Docker is needed). ESM with top-level await; the banner gives CommonJS dependencies the `require` that
 * ESM lacks. Node 24, the LTS line its makers support longest (Node 20's support ended in April 2026).
 */
export class GatewayFunction extends NodejsFunction {
  constructor(scope: Construct, id: string, props: GatewayFunctionProps) {
    const logGroup = new LogGroup(scope, `${id}Logs`, {
      retention: props.logRetention,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    super(scope, id, {
      entry: fileURLToPath(new URL(`../functions/aws/${props.entry}`, import.meta.url)),
      handler: 'handler',
      projectRoot: PROJECT_ROOT,
      depsLockFilePath: fileURLToPath(new URL('../package-lock.json', import.meta.url)),
      runtime: Runtime.NODEJS_24_X,
      architecture: Architecture.ARM_64,
      memorySize: props.memorySize ?? 256,
      timeout: props.timeout,
      environment: { NODE_OPTIONS: '--enable-source-maps', ...props.environment },
      logGroup,
      ...(props.deadLetterQueue ? { deadLetterQueue: props.deadLetterQueue, retryAttempts: 2 } : {}),
      bundling: {
        format: OutputFormat.ESM,
        target: 'node24',
        minify: true,
        sourceMap: true,
        mainFields: ['module', 'main'],
        banner: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);",
        forceDockerBundling: false,
        ...(props.besideBundle ? { commandHooks: copyBeside(props.besideBundle) } : {}),
      },
    });
  }
}

/** The shell commands that copy `directories` into the bundle once esbuild has written it. */
function copyBeside(directories: string[]): ICommandHooks {
  return {
    beforeBundling: () => [],
    beforeInstall: () => [],
    afterBundling: (inputDir, outputDir) =>
      directories.map((directory) => `cp -R "${join(inputDir, directory)}" "${join(outputDir, basename(directory))}"`),
  };
}
