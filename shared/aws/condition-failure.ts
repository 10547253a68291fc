/** A DynamoDB write refused by its condition: the expected outcome of a lost race, not a fault. */
export function isConditionFailure(error: unknown): boolean {
  return (error as Error | undefined)?.name === 'ConditionalCheckFailedException';
}
