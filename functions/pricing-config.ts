/**
 * The price table usage is estimated with (functions/core/call-usage.ts): docs/aws.md's list prices, each of which
 * `USAGE_PRICES` (JSON, or a file named by `USAGE_PRICES_FILE`) may replace, e.g. `{"dataOutGbUsd":0.085}`. Read
 * by the local server and every Lambda (infra/gateway-stack.ts sets it from the `usagePrices` context and the
 * task size), so API answers and status callbacks price alike. The name is defined once, here.
 */
import * as z from 'zod';
import { LIST_PRICES, type Pricing } from './core/call-usage.ts';
import { readJsonSetting } from './json-setting.ts';

export const PRICING_ENV = 'USAGE_PRICES';

export class PricingConfigError extends Error {
  override readonly name = 'PricingConfigError';
}

const price = z.number('must be a number').min(0, 'must not be negative').optional();
const size = z.number('must be a number').positive('must be more than 0').optional();
const overridesSchema = z.strictObject({
  vcpuHourUsd: price,
  gbHourUsd: price,
  ipv4HourUsd: price,
  dataOutGbUsd: price,
  taskVcpu: size,
  taskGb: size,
  minimumBillableSeconds: price,
}) satisfies z.ZodType<Partial<Pricing>>;

/**
 * Checks prices that replace list prices.
 * @param source what to name in the error (the variable, the file, the CDK context key).
 * @throws PricingConfigError naming `source` and the field.
 */
export function parsePriceOverrides(value: unknown, source: string): Partial<Pricing> {
  const result = overridesSchema.safeParse(value);
  if (result.success)
    return Object.fromEntries(Object.entries(result.data).filter(([, v]) => v !== undefined)) as Partial<Pricing>;
  const issue = result.error.issues[0]!;
  const field = issue.path.join('.');
  throw new PricingConfigError(`${source}: ${field ? `${field} ` : ''}${issue.message}`);
}

/** The list prices with what `USAGE_PRICES` replaces; fails naming the variable. */
export function readPricing(env: NodeJS.ProcessEnv): Pricing {
  const setting = readJsonSetting(env, PRICING_ENV);
  return setting ? { ...LIST_PRICES, ...parsePriceOverrides(setting.value, setting.source) } : LIST_PRICES;
}
