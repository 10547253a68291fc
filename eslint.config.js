// ESLint, flat config. Besides typescript-eslint's recommended rules, this file keeps the walls between the two
// deployables (README, Architecture): `npm run lint` fails on an import across one, and test/lint/walls.test.ts
// shows it does. Formatting is Prettier's (`npm run format`); eslint-config-prettier turns off what it owns.
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import prettier from 'eslint-config-prettier';
import tseslint from 'typescript-eslint';

/** Import paths are matched as written, e.g. `../../functions/core/ports.ts`. */
const wall = (group, message) => ({ group, message });

const noFunctions = wall(['**/functions/**'], 'functions/ is the control plane; what both sides use lives in shared/.');
const noMediaTask = wall(
  ['**/media-task/**'],
  'media-task/ is the other deployable; what both sides use lives in shared/.',
);
const onlyTaskEntry = wall(
  ['**/media-task/**', '!**/media-task/index.ts'],
  'the control plane may use media-task/index.ts only (the task public surface); shared code goes to shared/.',
);
/** The pure core (STYLE.md): no SDK and no I/O, nor the shared modules that do it. */
const pureCore = [
  wall(['@aws-sdk/*'], 'functions/core is pure: AWS clients belong in adapters.'),
  wall(
    ['node:child_process', 'child_process', 'node:dgram', 'dgram', 'node:fs', 'node:fs/*', 'fs', 'fs/*'],
    'functions/core does no I/O.',
  ),
  wall(
    ['**/shared/aws/**', '**/shared/owned-process.ts'],
    'functions/core is pure: adapters and processes are for the edges.',
  ),
];
/** Adapters implement the core's ports; they do not reach up into the app, the Lambdas or the local server. */
const adaptersStayDown = wall(
  ['../app/*', '../aws/*', '../local/*'],
  'an adapter depends on the core and shared/ only.',
);
/** Webhook routes take the call service they need as an interface (WebhookCalls), not from functions/app. */
const webhooksStayDown = wall(['../app/*'], 'webhooks declare what they need of the app instead of importing it.');

/**
 * no-restricted-imports sees static imports and re-exports only; a dynamic `import()` with a literal path is held
 * to the same walls by no-restricted-syntax. (\x2F is `/`, which esquery's regex literal cannot hold.)
 */
const dynamicWall = (regex, message) => ({ selector: `ImportExpression > Literal[value=/${regex}/]`, message });
const dynamic = {
  noFunctions: dynamicWall('(^|\\x2F)functions\\x2F', noFunctions.message),
  noMediaTask: dynamicWall('(^|\\x2F)media-task\\x2F', noMediaTask.message),
  onlyTaskEntry: dynamicWall('(^|\\x2F)media-task\\x2F(?!index\\.ts$)', onlyTaskEntry.message),
  pureCore: dynamicWall(
    '^(@aws-sdk\\x2F|(node:)?(child_process|dgram|fs)(\\x2F|$))|shared\\x2F(aws\\x2F|owned-process)',
    pureCore[0].message,
  ),
};

const restrict = (patterns, syntax) => ({
  'no-restricted-imports': ['error', { patterns }],
  'no-restricted-syntax': ['error', ...syntax],
});

export default defineConfig(
  { ignores: ['node_modules/', 'cdk.out/', '.data/', '**/*.d.ts'] },
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    rules: {
      // A callback declared before the value it reads is assigned (an owner's onLine reading its own handle).
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
      // `_name` marks a binding kept on purpose (destructured away, a parameter a signature needs).
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' },
      ],
    },
  },
  {
    // These modules check input for control characters (SIP headers, SDP, RTMP URLs, call fields, terminal output).
    files: [
      'shared/call-spec-schema.ts',
      'media-task/pipeline/ffmpeg-args.ts',
      'media-task/sip/sip-framing.ts',
      'test/support/baresip.ts',
    ],
    rules: { 'no-control-regex': 'off' },
  },
  {
    // Tests read API answers' JSON loosely and assert its shape themselves.
    files: ['test/**'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  {
    // The web console's browser modules: tsc checks their names against the DOM's (checkJs), which knows the
    // browser's globals where no-undef would need them listed. They build the page with DOM calls and
    // textContent only: nothing a call carries is ever parsed as markup.
    files: ['functions/console/web/**/*.js'],
    rules: {
      'no-undef': 'off',
      'no-restricted-properties': [
        'error',
        ...['innerHTML', 'outerHTML', 'insertAdjacentHTML', 'write', 'writeln', 'createContextualFragment'].map(
          (property) => ({ property, message: 'the console writes text and DOM nodes, never markup (dom.js).' }),
        ),
      ],
    },
  },
  {
    // The CLI's executable is plain JavaScript run by node.
    files: ['**/*.mjs'],
    languageOptions: { globals: { process: 'readonly', fetch: 'readonly', console: 'readonly' } },
  },
  { files: ['media-task/**'], rules: restrict([noFunctions], [dynamic.noFunctions]) },
  { files: ['shared/**'], rules: restrict([noFunctions, noMediaTask], [dynamic.noFunctions, dynamic.noMediaTask]) },
  { files: ['functions/**'], rules: restrict([onlyTaskEntry], [dynamic.onlyTaskEntry]) },
  {
    files: ['functions/core/**'],
    rules: restrict([onlyTaskEntry, ...pureCore], [dynamic.onlyTaskEntry, dynamic.pureCore]),
  },
  { files: ['functions/adapters/**'], rules: restrict([onlyTaskEntry, adaptersStayDown], [dynamic.onlyTaskEntry]) },
  { files: ['functions/webhooks/**'], rules: restrict([onlyTaskEntry, webhooksStayDown], [dynamic.onlyTaskEntry]) },
  prettier,
);
