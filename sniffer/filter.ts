/**
 * The kernel (BPF) filter: only DNS responses and connection openings reach user space.
 * `udp[]`/`tcp[]` index IPv4 only in libpcap, so IPv6 gets fixed-offset clauses (no extension
 * headers; rare on pod networks).
 *   - UDP from port 53 with the QR bit set (DNS flags byte = UDP payload offset 2)
 *   - TCP from port 53 carrying data (PSH), for DNS over TCP
 *   - any TCP segment with SYN set (SYN and SYN-ACK)
 */
export const CAPTURE_FILTER = [
  '(udp src port 53 and udp[10] & 0x80 != 0)',
  '(ip6 and ip6[6] == 17 and udp src port 53 and ip6[50] & 0x80 != 0)',
  '(tcp src port 53 and tcp[tcpflags] & tcp-push != 0)',
  '(ip6 and ip6[6] == 6 and tcp src port 53 and ip6[53] & 0x08 != 0)',
  '(tcp[tcpflags] & tcp-syn != 0)',
  '(ip6 and ip6[6] == 6 and ip6[53] & 0x02 != 0)',
].join(' or ');
