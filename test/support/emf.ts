/**
 * What CloudWatch requires of an Embedded Metric Format document, checked the way its extraction reads one
 * (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html):
 * a problem list, empty when the line would become metrics.
 */
const UNITS = new Set(['Count', 'Bytes', 'Milliseconds', 'Seconds', 'None']);

export function emfProblems(document: any): string[] {
  const problems: string[] = [];
  const aws = document?._aws;
  if (!Number.isInteger(aws?.Timestamp)) problems.push('_aws.Timestamp is no epoch-milliseconds integer');
  const directives = aws?.CloudWatchMetrics;
  if (!Array.isArray(directives) || directives.length === 0) return [...problems, 'no _aws.CloudWatchMetrics'];
  for (const directive of directives) {
    if (typeof directive.Namespace !== 'string' || !directive.Namespace) problems.push('no Namespace');
    for (const set of directive.Dimensions ?? []) {
      if (!Array.isArray(set) || set.length > 30) problems.push('a dimension set is no array of up to 30');
      for (const name of set) if (typeof document[name] !== 'string') problems.push(`dimension ${name} has no value`);
    }
    if (!Array.isArray(directive.Metrics) || directive.Metrics.length === 0 || directive.Metrics.length > 100)
      problems.push('Metrics must hold 1 to 100 entries');
    for (const metric of directive.Metrics ?? []) {
      if (typeof metric.Name !== 'string') problems.push('a metric has no Name');
      if (metric.Unit !== undefined && !UNITS.has(metric.Unit)) problems.push(`${metric.Name}: unit ${metric.Unit}`);
      const value = document[metric.Name];
      if (typeof value !== 'number' || !Number.isFinite(value)) problems.push(`${metric.Name} has no numeric value`);
    }
  }
  return problems;
}
