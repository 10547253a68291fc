/**
 * The walls between the deployables (eslint.config.js, README Architecture) are lint rules: an import across one
 * fails `npm run lint`. Each case lints a snippet as if it were a file at the given path, with the project's own
 * config, and expects the wall's rule to report it (or not, for what the walls allow).
 */
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

const eslint = new ESLint({ cwd: new URL('../..', import.meta.url).pathname });

async function wallErrors(filePath: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath });
  const walls = ['no-restricted-imports', 'no-restricted-syntax', 'no-restricted-properties'];
  return (result?.messages ?? [])
    .filter((message) => walls.includes(message.ruleId ?? ''))
    .map((message) => message.message);
}

describe('lint walls', () => {
  it.each([
    [
      'the media task imports the control plane',
      'media-task/sip/new-module.ts',
      "import { createApp } from '../../functions/app/create-app.ts';",
    ],
    [
      'the media task imports a control-plane type',
      'media-task/new-module.ts',
      "import type { TaskLauncher } from '../functions/core/ports.ts';",
    ],
    [
      'shared code imports the control plane',
      'shared/new-module.ts',
      "import { recordEvent } from '../functions/recorder.ts';",
    ],
    [
      'shared code imports the media task',
      'shared/aws/new-module.ts',
      "import { CallRunner } from '../../media-task/call-runner.ts';",
    ],
    [
      'the control plane imports a media task internal',
      'functions/local/new-module.ts',
      "import { readTaskConfig } from '../../media-task/config.ts';",
    ],
    [
      'the core imports an AWS client',
      'functions/core/new-module.ts',
      "import { DynamoDBClient } from '@aws-sdk/client-dynamodb';",
    ],
    ['the core spawns processes', 'functions/core/new-module.ts', "import { spawn } from 'node:child_process';"],
    ['the core opens sockets', 'functions/core/new-module.ts', "import { createSocket } from 'node:dgram';"],
    ['the core reads files', 'functions/core/new-module.ts', "import { readFile } from 'node:fs/promises';"],
    [
      'the core imports a shared AWS adapter',
      'functions/core/new-module.ts',
      "import { DynamoDbCallStore } from '../../shared/aws/dynamodb-call-store.ts';",
    ],
    [
      'an adapter reaches up into the Lambdas',
      'functions/adapters/new-module.ts',
      "import { handler } from '../aws/api-handler.ts';",
    ],
    [
      'webhooks reach up into the app',
      'functions/webhooks/new-module.ts',
      "import { CallService } from '../app/call-service.ts';",
    ],
    [
      'the media task re-exports the control plane',
      'media-task/new-module.ts',
      "export { recordEvent } from '../functions/recorder.ts';",
    ],
    [
      'the media task loads the control plane lazily',
      'media-task/new-module.ts',
      "export const load = () => import('../functions/recorder.ts');",
    ],
    [
      'the control plane loads a task internal lazily',
      'functions/local/new-module.ts',
      "export const load = () => import('../../media-task/main.ts');",
    ],
    [
      'the core loads an AWS client lazily',
      'functions/core/new-module.ts',
      "export const load = () => import('@aws-sdk/client-kms');",
    ],
  ])('refuses: %s', async (_name, filePath, code) => {
    expect(await wallErrors(filePath, code)).toHaveLength(1);
  });

  it.each([
    [
      'the control plane uses the media task public entry',
      'functions/local/new-module.ts',
      "import { bundleMediaTask } from '../../media-task/index.ts';",
    ],
    [
      'the media task uses shared code',
      'media-task/aws/new-module.ts',
      "import { parseTaskCommand } from '../../shared/task-messages.ts';",
    ],
    [
      'the core uses shared types',
      'functions/core/new-module.ts',
      "import { isFinal } from '../../shared/call-types.ts';",
    ],
    ['an adapter uses an SDK', 'functions/adapters/new-module.ts', "import { ECSClient } from '@aws-sdk/client-ecs';"],
    [
      'the media task loads its AWS mode lazily',
      'media-task/new-module.ts',
      "export const load = () => import('./aws/aws-mode.ts');",
    ],
  ])('allows: %s', async (_name, filePath, code) => {
    expect(await wallErrors(filePath, code)).toEqual([]);
  });
});

describe('the web console writes no markup', () => {
  it.each([
    ['innerHTML', 'row.innerHTML = call.callee;'],
    ['outerHTML', 'cell.outerHTML = message;'],
    ['insertAdjacentHTML', "list.insertAdjacentHTML('beforeend', reason);"],
    ['document.write', 'document.write(text);'],
    ['a parsed fragment', 'document.createRange().createContextualFragment(text);'],
  ])('refuses %s', async (_name, code) => {
    expect(await wallErrors('functions/console/web/new-module.js', code)).toHaveLength(1);
  });

  it('allows text', async () => {
    expect(await wallErrors('functions/console/web/new-module.js', 'cell.textContent = call.callee;')).toEqual([]);
  });
});
