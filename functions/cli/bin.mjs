#!/usr/bin/env node
// The CLI's executable (package.json `bin`). It registers tsx because the project runs its TypeScript sources
// directly, without a build step.
import { register } from 'tsx/esm/api';

register();
const { runCli } = await import('./gateway-cli.ts');
const readStdin = async () => {
  let text = '';
  for await (const chunk of process.stdin) text += chunk;
  return text;
};
process.exitCode = await runCli(process.argv.slice(2), {
  env: process.env,
  fetch,
  out: (line) => process.stdout.write(line + '\n'),
  err: (line) => process.stderr.write(line + '\n'),
  readStdin,
});
