import type { HealthConfig } from '@strata/api/images/v1';
import type { HealthSettings } from '@strata/containers';

const MS_NANOS = 1_000_000;

/** The API's HealthConfig of health settings (milliseconds to nanoseconds, as Docker's and the API's). */
export function healthToWire(h: HealthSettings): HealthConfig {
  return {
    test: [...(h.test ?? [])],
    intervalNanos: Math.round((h.intervalMs ?? 0) * MS_NANOS),
    timeoutNanos: Math.round((h.timeoutMs ?? 0) * MS_NANOS),
    startPeriodNanos: Math.round((h.startPeriodMs ?? 0) * MS_NANOS),
    startIntervalNanos: Math.round((h.startIntervalMs ?? 0) * MS_NANOS),
    retries: h.retries ?? 0,
  };
}

/** Health settings of the API's HealthConfig: an empty test and zero fields are unset. */
export function healthFromWire(h: HealthConfig): HealthSettings {
  const out: HealthSettings = {};
  if (h.test.length > 0) out.test = [...h.test];
  if (h.intervalNanos !== 0) out.intervalMs = h.intervalNanos / MS_NANOS;
  if (h.timeoutNanos !== 0) out.timeoutMs = h.timeoutNanos / MS_NANOS;
  if (h.startPeriodNanos !== 0) out.startPeriodMs = h.startPeriodNanos / MS_NANOS;
  if (h.startIntervalNanos !== 0) out.startIntervalMs = h.startIntervalNanos / MS_NANOS;
  if (h.retries !== 0) out.retries = h.retries;
  return out;
}
