/**
 * Structured logs: one JSON object per line on stderr (stdout carries state events in local mode). Values under
 * keys that name secrets are masked here, once, so no caller can leak a SIP password by logging an object.
 */
export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
}

type Level = 'debug' | 'info' | 'warn' | 'error';
const LEVELS: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };
const SECRET_KEY = /pass(word)?|secret|token|authorization/i;

/** Replaces the values of secret-named keys, at any depth, with "***". */
export function maskSecrets(value: unknown, depth = 0): unknown {
  if (depth > 8 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((item) => maskSecrets(item, depth + 1));
  if (value instanceof Error) return { name: value.name, message: value.message };
  return Object.fromEntries(
    Object.entries(value).map(([key, item]) => [key, SECRET_KEY.test(key) ? '***' : maskSecrets(item, depth + 1)]),
  );
}

export function createLogger(
  base: Record<string, unknown> = {},
  options: { level?: Level; write?: (line: string) => void } = {},
): Logger {
  const threshold = LEVELS[options.level ?? (process.env.LOG_LEVEL as Level | undefined) ?? 'info'] ?? LEVELS.info;
  const write = options.write ?? ((line: string) => process.stderr.write(line + '\n'));
  const log = (level: Level, message: string, fields?: Record<string, unknown>) => {
    if (LEVELS[level] < threshold) return;
    const time = new Date().toISOString();
    // A field named like a reserved key must not replace the log line's own time, level or message.
    const {
      time: _t,
      level: _l,
      message: _m,
      ...rest
    } = maskSecrets({ ...base, ...fields }) as Record<string, unknown>;
    write(JSON.stringify({ time, level, message, ...rest }));
  };
  return {
    debug: (message, fields) => log('debug', message, fields),
    info: (message, fields) => log('info', message, fields),
    warn: (message, fields) => log('warn', message, fields),
    error: (message, fields) => log('error', message, fields),
    child: (fields) => createLogger({ ...base, ...fields }, options),
  };
}

/** For tests and libraries that want silence. */
export const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  child: () => silentLogger,
};
