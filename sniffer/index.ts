/** Public API of the sniffer for other components (the demo, tests, benchmarks). */
export {
  buildDnsMessage,
  buildDnsResponse,
  buildTcpSyn,
  type DnsRecordSpec,
  type DnsResponseSpec,
  frame,
  LINK_TYPE_OF,
  LINKS,
  type Link,
  type TcpSynSpec,
} from './build.ts';
export { type PacketCallback, type PcapReadResult, readPcapFile } from './pcap/reader.ts';
export {
  createPcapWriter,
  encodePcap,
  type PcapPacket,
  type PcapWriteOptions,
  type PcapWriter,
  writePcap,
} from './pcap/writer.ts';
export { formatReplaySummary, type ObservationSink, type ReplaySummary, replayPcap } from './replay.ts';
