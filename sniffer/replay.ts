/** `callmap sniffer --pcap FILE`: the capture path driven by a file instead of libpcap. */
import type { Observation } from '../mapper/contract/index.ts';
import { readPcapFile } from './pcap/reader.ts';
import { PacketProcessor, type PacketStats } from './processor.ts';

/** The part of the mapper client's ObservationReporter the sniffer needs. */
export interface ObservationSink {
  add(obs: Observation): void;
  /** Sends what is queued; awaited between file chunks when much was added. */
  flush?(): Promise<unknown>;
}

export interface ReplaySummary extends PacketStats {
  /** Corrupt pcap records skipped (plus 1 when the file ended inside a record). */
  corruptRecords: number;
  truncated: boolean;
  format: 'pcap' | 'pcapng';
  /** Aggregated observations handed to the reporter. */
  observations: number;
}

export interface ReplayOptions {
  /** Duplicate window in ms (default 1000; packet times come from the file). */
  dedupeWindowMs?: number;
  /** Flush the sink after this many observations were added (default 10 000). */
  flushEvery?: number;
}

/** Replays a pcap/pcapng file through the decoders into `reporter`; returns the counts. */
export async function replayPcap(
  file: string,
  reporter: ObservationSink,
  opts: ReplayOptions = {},
): Promise<ReplaySummary> {
  let added = 0;
  let sinceFlush = 0;
  const drain = (): void => {
    for (const o of proc.drain()) {
      reporter.add(o);
      added++;
      sinceFlush++;
    }
  };
  const proc: PacketProcessor = new PacketProcessor({
    dedupeWindowMs: opts.dedupeWindowMs ?? 1000,
    onFull: drain,
  });
  const flushEvery = opts.flushEvery ?? 10_000;
  const res = await readPcapFile(file, (buf, off, len, lt, sec, ms) => proc.handleAt(buf, off, len, lt, sec, ms), {
    afterChunk: async () => {
      if (sinceFlush >= flushEvery && reporter.flush) {
        sinceFlush = 0;
        await reporter.flush();
      }
    },
  });
  drain();
  return {
    ...proc.stats,
    corruptRecords: res.corrupt + (res.truncated ? 1 : 0),
    truncated: res.truncated,
    format: res.format,
    observations: added,
  };
}

/** The one-line summary printed by `callmap sniffer --pcap`. */
export function formatReplaySummary(file: string, s: ReplaySummary): string {
  const malformed = s.malformed + s.corruptRecords;
  return (
    `replayed ${file}: ${s.seen} packets, ${s.dnsAnswers} DNS answers, ${s.tcpConnections} TCP connections, ` +
    `${malformed} malformed skipped (${s.duplicates} duplicates, ${s.ignored} ignored, ${s.observations} observations reported)`
  );
}
