// Lint runs in `npm test`, so CI catches what an editor would.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', '.keyhold/', 'coverage/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    // Launchers and scripts run on Node.
    files: ['**/*.mjs', '**/*.js'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', fetch: 'readonly' } },
  },
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-console': 'off',
      eqeqeq: ['error', 'always'],
    },
  },
  {
    // The safety core is pure: no I/O, no SDKs, no ambient clock.
    files: ['src/core/**/*.ts'],
    ignores: ['src/core/**/*.test.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: ['node:fs*', 'node:net', 'node:http*', '@aws-sdk/*', '@google-cloud/*', 'node-vault', 'better-sqlite3', 'hono*', '../stores/*', '../http/*'] }],
      'no-restricted-properties': ['error', { object: 'Date', property: 'now', message: 'Take the time from the Clock passed in.' }],
    },
  },
);
