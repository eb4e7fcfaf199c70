/**
 * Where a benchmark child's peak RSS goes: the largest V8 heap (total) and off-heap (external,
 * mostly Buffers) sizes seen, sampled every 50 ms with the cheap V8 statistics call.
 */
import v8 from 'node:v8';

export interface PeakMemory {
  heapTotal: number;
  external: number;
}

export function samplePeakMemory(): PeakMemory {
  const peak = { heapTotal: 0, external: 0 };
  setInterval(() => {
    const h = v8.getHeapStatistics();
    peak.heapTotal = Math.max(peak.heapTotal, h.total_heap_size);
    peak.external = Math.max(peak.external, h.external_memory);
  }, 50).unref();
  return peak;
}
