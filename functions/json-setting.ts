/**
 * Settings given as JSON (API keys, prices): inline in a variable `NAME`, or in the file that `NAME_FILE` names,
 * which suits a list of keys an operator edits. Errors name the variable or the file, never quote the text: it may
 * hold keys.
 */
import { readFileSync } from 'node:fs';

export class JsonSettingError extends Error {
  override readonly name = 'JsonSettingError';
}

export interface JsonSetting {
  value: unknown;
  /** What later errors about the value name: the variable, or the file and the variable that named it. */
  source: string;
  /** The file it came from, to read again. */
  file?: string;
}

/** Reads `name` or the file `${name}_FILE` names; undefined when neither is set. */
export function readJsonSetting(env: NodeJS.ProcessEnv, name: string): JsonSetting | undefined {
  const fileName = `${name}_FILE`;
  const inline = env[name] || undefined;
  const file = env[fileName] || undefined;
  if (inline !== undefined && file !== undefined) throw new JsonSettingError(`set ${name} or ${fileName}, not both`);
  if (inline !== undefined) return { value: parseJson(inline, name), source: name };
  if (file === undefined) return undefined;
  const source = `${fileName} (${file})`;
  return { value: readJsonFile(file, source), source, file };
}

/** Reads and parses a settings file (again); `source` as `readJsonSetting` named it. */
export function readJsonFile(file: string, source: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new JsonSettingError(`${source} cannot be read: ${(error as NodeJS.ErrnoException).code ?? 'error'}`, {
      cause: error,
    });
  }
  return parseJson(text, source);
}

function parseJson(text: string, source: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    // JSON.parse's message quotes the text, which may hold keys: not passed on.
    throw new JsonSettingError(`${source} is not valid JSON`);
  }
}
