/*
 * callmap_kafka: native scanner + pre-aggregator for the Kafka watcher (Node-API, C11).
 *
 * One handle per log source (a file or one pod-log stream). push() scans whole chunks, keeps the
 * partial last line across chunks (bounded by the line limit) and, for every line holding the
 * `Principal = ` marker, looks up the message key (the bytes the TypeScript parser would parse:
 * from the marker to the end of the line, minus a Strimzi ` [thread]` suffix when that provably
 * cannot change the parse). A new key is parsed once (parse_msg, a port of parse.ts) into a skip
 * reason or a decision; lines are counted per decision with the newest line time. flush() hands
 * the counted decisions to JavaScript, which builds the same observations as the pure TypeScript
 * path (docs/adr/0063-kafka-native-scanner.md).
 *
 * Pod mode additionally does the exactly-once de-duplication of watchers/kafka/resume.ts (the
 * kubelet stamp of every line, the multiset of lines at the newest stamp, the replay after a
 * reconnect), over bytes.
 *
 * Memory is bounded: at most MAX_KEYS keys (and decisions) and arena_cap bytes of key text. When
 * a line might not fit, push() returns early; JavaScript flushes with reset and pushes the rest
 * again.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <node_api.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define HAVE_AVX2_PATH 1
#endif

#define MARKER "Principal = "
#define MLEN 12
#define MAX_KEYS 20000u
#define SLOTS 65536u /* power of two, > 3 x MAX_KEYS (decision table) */
#define KSLOTS 32768u /* power of two, > 1.6 x MAX_KEYS (message keys: 8-byte slots) */
#define KEMPTY UINT64_MAX
#define ARENA_BASE ((size_t)4 << 20) /* plus 2 x BATCH + 1 maximal lines */
/* Accepted observation times (processor.ts MIN_TIME / MAX_TIME). */
#define MIN_TIME INT64_C(946684800000)
#define MAX_TIME INT64_C(7258118400000)

static inline int isdig(uint8_t c) { return c >= '0' && c <= '9'; }

/* [A-Za-z0-9_.$] as a table (one load per byte in the backward logger-name walks) */
static const uint8_t LOGGER_CHAR[256] = {
    ['0' ... '9'] = 1, ['A' ... 'Z'] = 1, ['a' ... 'z'] = 1, ['_'] = 1, ['.'] = 1, ['$'] = 1,
};

static inline int logger_char(uint8_t c) { return LOGGER_CHAR[c]; }

/* ------------------------------------------------------------------ message parser */
/*
 * parse.ts parseAuthorizerMessage over bytes, step for step (same searches in the same order, so
 * the same first occurrences). Every pattern is ASCII, and a UTF-8 range cut next to an ASCII byte
 * decodes to the same text as the matching slice of the decoded line, so the fields are equal.
 * test/unit/kafka/native-parity.test.ts checks it against the TypeScript parser.
 */
enum { P_OK = 0, P_GARBLED = 1, P_UNKNOWN_OPERATION = 2, P_UNKNOWN_RESOURCE_TYPE = 3, P_BAD_HOST = 4 };

typedef struct {
  uint32_t pr_s, pr_e, ip_s, ip_e, nm_s, nm_e;
  uint8_t allowed, op, rtype, ptype;
} dec_t;

static int cpu_avx2(void);

#ifdef HAVE_AVX2_PATH
/* memmem for 2 <= plen <= n - from: the pattern's first and last bytes compared at 32 positions
 * at a time, candidates checked in order with memcmp (glibc's memmem sets up shift tables on every
 * call, which costs more than parse_msg's short searches themselves). */
__attribute__((target("avx2,bmi"))) static int64_t find_avx2(const uint8_t *b, size_t from, size_t n,
                                                              const char *pat, size_t plen) {
  const __m256i f = _mm256_set1_epi8(pat[0]), l = _mm256_set1_epi8(pat[plen - 1]);
  size_t i = from;
  for (; i + plen - 1 + 32 <= n; i += 32) {
    __m256i a = _mm256_loadu_si256((const __m256i *)(b + i));
    __m256i z = _mm256_loadu_si256((const __m256i *)(b + i + plen - 1));
    uint32_t m = (uint32_t)_mm256_movemask_epi8(_mm256_and_si256(_mm256_cmpeq_epi8(a, f), _mm256_cmpeq_epi8(z, l)));
    while (m) {
      size_t q = i + (size_t)__builtin_ctz(m);
      if (memcmp(b + q + 1, pat + 1, plen - 2) == 0) return (int64_t)q;
      m &= m - 1;
    }
  }
  for (; i + plen <= n; i++)
    if (b[i] == (uint8_t)pat[0] && memcmp(b + i, pat, plen) == 0) return (int64_t)i;
  return -1;
}
#endif

/* Index of the first `pat` in b[from, n), or -1. */
static int64_t find(const uint8_t *b, size_t from, size_t n, const char *pat, size_t plen) {
  if (from > n || n - from < plen) return -1;
  if (plen == 1) {
    const uint8_t *q = memchr(b + from, pat[0], n - from);
    return q ? (int64_t)(q - b) : -1;
  }
#ifdef HAVE_AVX2_PATH
  if (cpu_avx2()) return find_avx2(b, from, n, pat, plen);
#endif
  const uint8_t *q = memmem(b + from, n - from, pat, plen);
  return q ? (int64_t)(q - b) : -1;
}

static int has_byte(const uint8_t *b, size_t s, size_t e, uint8_t c) { return e > s && memchr(b + s, c, e - s) != NULL; }

static int eq(const uint8_t *b, size_t s, size_t e, const char *lit) {
  size_t n = strlen(lit);
  return e - s == n && memcmp(b + s, lit, n) == 0;
}

/* OPERATIONS of parse.ts → index into native.ts NATIVE_OPERATIONS, or -1. */
static int map_operation(const uint8_t *b, size_t s, size_t e) {
  static const char *const names[][2] = {
      {"Read", "READ"},
      {"Write", "WRITE"},
      {"Create", "CREATE"},
      {"Delete", "DELETE"},
      {"Alter", "ALTER"},
      {"Describe", "DESCRIBE"},
      {"ClusterAction", "CLUSTER_ACTION"},
      {"DescribeConfigs", "DESCRIBE_CONFIGS"},
      {"AlterConfigs", "ALTER_CONFIGS"},
      {"IdempotentWrite", "IDEMPOTENT_WRITE"},
      {"All", "ALL"},
  };
  for (int i = 0; i < (int)(sizeof(names) / sizeof(names[0])); i++)
    if (eq(b, s, e, names[i][0]) || eq(b, s, e, names[i][1])) return i;
  return -1;
}

static int map_resource_type(const uint8_t *b, size_t s, size_t e) {
  static const char *const names[][2] = {
      {"Topic", "TOPIC"},
      {"Group", "GROUP"},
      {"Cluster", "CLUSTER"},
      {"TransactionalId", "TRANSACTIONAL_ID"},
      {"DelegationToken", "DELEGATION_TOKEN"},
      {"User", "USER"},
  };
  for (int i = 0; i < (int)(sizeof(names) / sizeof(names[0])); i++)
    if (eq(b, s, e, names[i][0]) || eq(b, s, e, names[i][1])) return i;
  return -1;
}

static int map_pattern_type(const uint8_t *b, size_t s, size_t e) {
  static const char *const names[] = {"LITERAL", "PREFIXED", "MATCH", "ANY"};
  for (int i = 0; i < 4; i++)
    if (eq(b, s, e, names[i])) return i;
  return -1;
}

static inline int is_alpha(uint8_t c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }
static inline int is_hex(uint8_t c) { return isdig(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

/* (25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d) over the whole of b[s, e) */
static int ipv4_octet(const uint8_t *b, size_t s, size_t e) {
  size_t n = e - s;
  if (n == 1) return isdig(b[s]);
  if (n == 2) return b[s] >= '1' && b[s] <= '9' && isdig(b[s + 1]);
  if (n == 3) {
    if (b[s] == '1') return isdig(b[s + 1]) && isdig(b[s + 2]);
    if (b[s] == '2') {
      if (b[s + 1] >= '0' && b[s + 1] <= '4') return isdig(b[s + 2]);
      if (b[s + 1] == '5') return b[s + 2] >= '0' && b[s + 2] <= '5';
    }
  }
  return 0;
}

/* validate.ts IPV4 */
static int is_ipv4(const uint8_t *b, size_t s, size_t e) {
  int parts = 0;
  size_t a = s;
  for (size_t i = s; i <= e; i++) {
    if (i == e || b[i] == '.') {
      if (!ipv4_octet(b, a, i)) return 0;
      parts++;
      a = i + 1;
    }
  }
  return parts == 4;
}

/* validate.ts isIp */
static int is_ip(const uint8_t *b, size_t s, size_t e) {
  if (is_ipv4(b, s, e)) return 1;
  size_t n = e - s;
  if (!has_byte(b, s, e, ':') || n < 2 || n > 45) return 0;
  for (size_t i = s; i < e; i++)
    if (!is_hex(b[i]) && b[i] != ':' && b[i] != '.') return 0;
  /* s.split('::'): non-overlapping, left to right */
  size_t hs[3], he[3];
  int halves = 0;
  size_t a = s;
  for (size_t i = s; i < e;) {
    if (i + 1 < e && b[i] == ':' && b[i + 1] == ':') {
      if (halves == 2) return 0;
      hs[halves] = a;
      he[halves] = i;
      halves++;
      i += 2;
      a = i;
    } else
      i++;
  }
  hs[halves] = a;
  he[halves] = e;
  halves++;
  int groups = 0;
  for (int h = 0; h < halves; h++) {
    if (he[h] == hs[h]) continue;
    size_t pa = hs[h];
    for (size_t i = hs[h]; i <= he[h]; i++) {
      if (i < he[h] && b[i] != ':') continue;
      int last = h == halves - 1 && i == he[h];
      size_t gl = i - pa;
      if (last && is_ipv4(b, pa, i))
        groups += 2;
      else if (gl >= 1 && gl <= 4) {
        for (size_t j = pa; j < i; j++)
          if (!is_hex(b[j])) return 0;
        groups += 1;
      } else
        return 0;
      pa = i + 1;
    }
  }
  return halves == 2 ? groups <= 7 : groups == 8;
}

/* Length of the JavaScript whitespace (String.prototype.trimEnd, regexp \s) ending at b[e). */
static size_t js_space_before(const uint8_t *b, size_t s, size_t e) {
  if (e <= s) return 0;
  uint8_t c = b[e - 1];
  if (c == ' ' || (c >= '\t' && c <= '\r')) return 1;
  if (e - s >= 2 && b[e - 2] == 0xC2 && c == 0xA0) return 2; /* U+00A0 */
  if (e - s >= 3) {
    uint8_t x = b[e - 3], y = b[e - 2];
    if (x == 0xE1 && y == 0x9A && c == 0x80) return 3;                            /* U+1680 */
    if (x == 0xE2 && y == 0x80 && ((c >= 0x80 && c <= 0x8A) || c == 0xA8 || c == 0xA9 || c == 0xAF))
      return 3;                                                                    /* U+2000-200A, 2028, 2029, 202F */
    if (x == 0xE2 && y == 0x81 && c == 0x9F) return 3;                             /* U+205F */
    if (x == 0xE3 && y == 0x80 && c == 0x80) return 3;                             /* U+3000 */
    if (x == 0xEF && y == 0xBB && c == 0xBF) return 3;                             /* U+FEFF */
  }
  return 0;
}

static size_t trim_end(const uint8_t *b, size_t s, size_t e) {
  size_t k;
  while ((k = js_space_before(b, s, e)) > 0) e -= k;
  return e;
}

/* ` (L)` ending at b[e) (e just past ')'), L = [A-Za-z0-9_.$]+, starting at or after s: its start. */
static int64_t logger_suffix_at(const uint8_t *b, size_t s, size_t e) {
  if (e < s + 4 || b[e - 1] != ')') return -1;
  size_t l = e - 1;
  while (l > s && logger_char(b[l - 1])) l--;
  if (l == e - 1 || l < s + 2 || b[l - 1] != '(' || b[l - 2] != ' ') return -1;
  return (int64_t)(l - 2);
}

/* parse.ts LAYOUT_SUFFIX.exec(rest) for rest = b[s, e): the match index, or -1. */
static int64_t layout_suffix(const uint8_t *b, size_t s, size_t e) {
  size_t t = trim_end(b, s, e);
  if (t == s) return -1;
  if (b[t - 1] == ')') return logger_suffix_at(b, s, t);
  if (b[t - 1] != ']') return -1;
  /* ` (L) [X]` with X free of ']': the leftmost '[' after the last ']' that has ` (L) ` before it */
  size_t lo = t - 1;
  while (lo > s && b[lo - 1] != ']') lo--;
  for (size_t q = lo; q < t - 1; q++) {
    if (b[q] != '[' || q < s + 2 || b[q - 1] != ' ') continue;
    int64_t m = logger_suffix_at(b, s, q - 1);
    if (m >= 0) return m;
  }
  return -1;
}

static int parse_msg(const uint8_t *b, size_t n, dec_t *d) {
  if (n < MLEN || memcmp(b, MARKER, MLEN) != 0) return P_GARBLED;
  /* / is (Allowed|Denied) ([Oo])peration = /g from MARKER.length */
  int64_t v = -1;
  size_t vlen = 0;
  for (int64_t p = find(b, MLEN, n, " is ", 4); p >= 0; p = find(b, (size_t)p + 1, n, " is ", 4)) {
    size_t a = (size_t)p + 4, w = 0;
    if (n - a >= 8 && memcmp(b + a, "Allowed ", 8) == 0)
      w = 8;
    else if (n - a >= 7 && memcmp(b + a, "Denied ", 7) == 0)
      w = 7;
    else
      continue;
    a += w;
    if (n - a >= 12 && (b[a] == 'O' || b[a] == 'o') && memcmp(b + a + 1, "peration = ", 11) == 0) {
      v = p;
      vlen = 4 + w + 12;
      d->allowed = w == 8;
      break;
    }
  }
  if (v < 0) return P_GARBLED;
  d->pr_s = MLEN;
  d->pr_e = (uint32_t)v;
  if (v == MLEN) return P_GARBLED;
  size_t i = (size_t)v + vlen;
  int64_t op_end = find(b, i, n, " from host = ", 13);
  if (op_end < 0) return P_GARBLED;
  size_t op_s = i, op_e = (size_t)op_end;
  if (op_e == op_s || has_byte(b, op_s, op_e, ' ')) return P_GARBLED;
  i = op_e + 13;
  int64_t res_at = find(b, i, n, " on resource = ", 15);
  if (res_at < 0) return P_GARBLED;
  int64_t host_space = find(b, i, n, " ", 1);
  size_t host_s = i, host_e = host_space >= 0 && host_space < res_at ? (size_t)host_space : (size_t)res_at;
  i = (size_t)res_at + 15;
  size_t r_s = i, r_e;
  int64_t for_at = find(b, i, n, " for request = ", 15);
  if (for_at >= 0) {
    r_e = (size_t)for_at;
    size_t req_s = (size_t)for_at + 15;
    int64_t ref_at = find(b, req_s, n, " with resourceRefCount = ", 25);
    if (ref_at < 0) return P_GARBLED;
    if ((size_t)ref_at == req_s || has_byte(b, req_s, (size_t)ref_at, ' ')) return P_GARBLED;
    size_t ns = (size_t)ref_at + 25, ne = ns;
    while (ne < n && isdig(b[ne])) ne++;
    if (ne == ns) return P_GARBLED;
    if (n - ne >= 15 && memcmp(b + ne, " based on rule ", 15) == 0) {
      size_t rs = ne + 15, re = rs;
      while (re < n && is_alpha(b[re])) re++;
      if (re == rs) return P_GARBLED;
    }
  } else {
    int64_t m = layout_suffix(b, i, n);
    r_e = trim_end(b, r_s, m >= 0 ? (size_t)m : n);
  }
  int64_t c1 = find(b, r_s, r_e, ":", 1);
  if (c1 <= (int64_t)r_s) return P_GARBLED;
  int rt = map_resource_type(b, r_s, (size_t)c1);
  if (rt < 0) {
    for (size_t k = r_s; k < (size_t)c1; k++)
      if (!is_alpha(b[k]) && b[k] != '_') return P_GARBLED;
    return P_UNKNOWN_RESOURCE_TYPE;
  }
  int pt = 0;
  size_t nm_s = (size_t)c1 + 1;
  int64_t c2 = find(b, (size_t)c1 + 1, r_e, ":", 1);
  if (c2 >= 0) {
    int x = map_pattern_type(b, (size_t)c1 + 1, (size_t)c2);
    if (x >= 0) {
      pt = x;
      nm_s = (size_t)c2 + 1;
    }
  }
  if (nm_s == r_e) return P_GARBLED;
  int op = map_operation(b, op_s, op_e);
  if (op < 0) return P_UNKNOWN_OPERATION;
  /* normaliseHost */
  size_t hs = host_s, he = host_e;
  if (he > hs && b[hs] == '/') hs++;
  const uint8_t *z = he > hs ? memchr(b + hs, '%', he - hs) : NULL;
  if (z) he = (size_t)(z - b);
  if (he > hs && b[hs] == '[' && b[he - 1] == ']') {
    hs++;
    he--;
  }
  if (!is_ip(b, hs, he)) return P_BAD_HOST;
  d->ip_s = (uint32_t)hs;
  d->ip_e = (uint32_t)he;
  d->nm_s = (uint32_t)nm_s;
  d->nm_e = (uint32_t)r_e;
  d->op = (uint8_t)op;
  d->rtype = (uint8_t)rt;
  d->ptype = (uint8_t)pt;
  return P_OK;
}

/* A message key's header, stored in the arena right before the key's bytes (8-byte aligned), so
 * that a lookup touches one slot and then one contiguous run of memory. Lines are counted per key
 * (flush folds the keys into their decisions), so the per-line update stays in that run too. */
typedef struct {
  uint32_t len;   /* key bytes following the header */
  int32_t dec;    /* its decision (P_OK) */
  uint8_t status; /* P_OK or the skip reason */
  uint8_t has_t;  /* max_t is set */
  uint8_t no_t;   /* some line had no usable time (JavaScript uses now()) */
  uint32_t epoch; /* the mapped window that last journaled (or added) it (read_mapped) */
  uint64_t count; /* lines since the last flush */
  int64_t max_t;  /* newest valid line time since the last flush */
  dec_t d;        /* field offsets relative to the key's start */
} ehdr_t;
#define EHDR ((sizeof(ehdr_t) + 7) & ~(size_t)7)

/* A distinct decision (client IP, resource, operation, verdict, principal): what an observation
 * is keyed by; several messages (e.g. `Read` and KRaft's `READ`) share one. */
typedef struct {
  uint64_t hash;
  uint32_t key;   /* arena offset of the first message key with it (its bytes hold the fields) */
  uint64_t count; /* lines since the last flush */
  int64_t max_t;  /* newest valid line time since the last flush */
  uint8_t has_t;  /* max_t is set */
  uint8_t no_t;   /* some line had no usable time (JavaScript uses now()) */
  int64_t obs_gen;  /* packed flush: the processor generation of its pending observation (-1: none) */
  uint32_t obs_idx; /* packed flush: that observation's index in the processor's pending list */
} decn_t;

/* A key's per-flush state before the mapped window being scanned first counted it (read_mapped
 * undoes a window that a truncation may have torn). */
typedef struct {
  uint32_t off;
  uint8_t has_t, no_t;
  uint64_t count;
  int64_t max_t;
} jrec_t;

typedef struct {
  size_t off, len;
  uint8_t used;
} item_t;

/* A multiset of lines (bytes), for the resume de-duplication. */
typedef struct {
  uint8_t *buf;
  size_t len, cap;
  item_t *items;
  size_t n, ncap;
} lines_t;

/* The last accepted `YYYY-MM-DD?HH:MM:SS` text and its seconds (most lines repeat the previous
 * line's second): a pure function of those 19 bytes, so reusing it cannot change a result. */
typedef struct {
  uint8_t txt[19];
  uint8_t valid;
  int64_t sec;
} tcache_t;

typedef struct kafka_s {
  int pod;
  int scalar;
  int vhash; /* message keys are hashed with hash_avx2 (else hash_bytes) */
  size_t max;
  /* partial line held across chunks */
  uint8_t *held;
  size_t held_len;
  int skipping;
  /* counters (cumulative) */
  double lines, dups, too_long, accepted;
  double splits, merges; /* readFile: ranges split over two threads, and of those merged */
  double mapped, cut;    /* readFile: ranges read through a mapping, and of those cut short by SIGBUS */
  /* aggregation table */
  uint32_t n_ent;
  uint64_t *slots; /* KSLOTS: hash >> 32 << 32 | arena offset of the key's header, or KEMPTY */
  uint8_t *arena;  /* headers and key bytes */
  size_t arena_used, arena_cap;
  size_t text_used, text_cap; /* key bytes in the arena (the bound of room_for) */
  decn_t *dec;
  uint32_t n_dec, dec_reported;
  int32_t *dslots;
  uint32_t *touched; /* keys (arena offsets) counted since the last flush, in first-seen order */
  uint32_t n_touched;
  uint32_t *dtouched; /* flush: decisions of the touched keys, in first-seen order */
  double skips[5]; /* lines skipped since the last flush, by parse status */
  /* resume state (pod mode) */
  int has_last;
  int64_t last_sec;
  int32_t last_ns;
  lines_t at_last;
  int replaying;
  int64_t rep_sec;
  int32_t rep_ns;
  lines_t replay;
  tcache_t tc;
  /* readFile (file mode): the handle's own read buffer, the part of it not scanned yet (the key
   * table filled), and the lock that flush() takes while a read runs on the thread pool */
  uint8_t *rbuf;
  size_t rlen, roff;
  uint8_t *ring; /* NRING read-ahead buffers of RBUF bytes */
  int busy; /* a readFile is in flight (main thread only) */
  pthread_mutex_t mu;
  int closed;
  /* readFile through a mapping: the journal of the window being scanned (jn_on), its epoch, and
   * the held line at its start (read_mapped) */
  int jn_on;
  uint32_t epoch, n_jn;
  jrec_t *jn;
  uint8_t *held_bak;
  /* readFile over a large backlog: the second half's scanner (same settings, own tables and
   * buffers), merged into this one afterwards (split_read); allocated at the first split */
  struct kafka_s *aux;
} kafka_t;

/* ------------------------------------------------------------------ small helpers */

/* The AVX2 paths (block scan, key hash) run when the CPU has AVX2, BMI and POPCNT. */
static int cpu_avx2(void) {
#ifdef HAVE_AVX2_PATH
  static int have = -1;
  if (have < 0) {
    __builtin_cpu_init();
    have = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("bmi") && __builtin_cpu_supports("popcnt");
  }
  return have;
#else
  return 0;
#endif
}


static inline int64_t fdiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) q--;
  return q;
}

/* parse.ts daysFromCivil */
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d) {
  int64_t yy = m <= 2 ? y - 1 : y;
  int64_t era = fdiv(yy, 400);
  int64_t yoe = yy - era * 400;
  int64_t doy = fdiv(153 * (m + (m > 2 ? -3 : 9)) + 2, 5) + d - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

static inline int64_t num(const uint8_t *b, size_t i, int n) {
  int64_t v = 0;
  for (int k = 0; k < n; k++) v = v * 10 + (b[i + k] - '0');
  return v;
}

/* `YYYY-MM-DD?HH:MM:SS` at b[i] with i + 19 <= available bytes; separator checked by callers. */
static inline int date_time_shape(const uint8_t *b, size_t i) {
  return isdig(b[i]) && isdig(b[i + 1]) && isdig(b[i + 2]) && isdig(b[i + 3]) && b[i + 4] == '-' &&
         isdig(b[i + 5]) && isdig(b[i + 6]) && b[i + 7] == '-' && isdig(b[i + 8]) && isdig(b[i + 9]) &&
         isdig(b[i + 11]) && isdig(b[i + 12]) && b[i + 13] == ':' && isdig(b[i + 14]) && isdig(b[i + 15]) &&
         b[i + 16] == ':' && isdig(b[i + 17]) && isdig(b[i + 18]);
}

/* memcmp(p, q, 19) == 0 as three loads each (bytes 0-7, 8-15, 15-18) */
static inline int same19(const uint8_t *p, const uint8_t *q) {
  uint64_t a0, a1, b0, b1;
  uint32_t a2, b2;
  memcpy(&a0, p, 8);
  memcpy(&b0, q, 8);
  memcpy(&a1, p + 8, 8);
  memcpy(&b1, q + 8, 8);
  memcpy(&a2, p + 15, 4);
  memcpy(&b2, q + 15, 4);
  return ((a0 ^ b0) | (a1 ^ b1) | (uint64_t)(a2 ^ b2)) == 0;
}

/* parse.ts stampMsBytes(b, i, end); b[end] is readable (it is the marker's first byte). */
static int stamp_ms_full(const uint8_t *b, size_t i, size_t end, int64_t *out, tcache_t *tc) {
  if (end < i + 19) return 0;
  int64_t sec;
  if (tc->valid && same19(b + i, tc->txt)) {
    sec = tc->sec;
  } else {
    if (!date_time_shape(b, i) || (b[i + 10] != 'T' && b[i + 10] != ' ')) return 0;
    int64_t y = num(b, i, 4), mo = num(b, i + 5, 2), d = num(b, i + 8, 2);
    int64_t h = num(b, i + 11, 2), mi = num(b, i + 14, 2), se = num(b, i + 17, 2);
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60) return 0;
    sec = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se;
    memcpy(tc->txt, b + i, 19);
    tc->sec = sec;
    tc->valid = 1;
  }
  size_t j = i + 19;
  int64_t ms = 0;
  if (j + 4 < end && (b[j] == '.' || b[j] == ',') && isdig(b[j + 1]) && isdig(b[j + 2]) && isdig(b[j + 3]) &&
      !isdig(b[j + 4])) { /* the usual three digits */
    ms = (b[j + 1] - '0') * 100 + (b[j + 2] - '0') * 10 + (b[j + 3] - '0');
    j += 4;
  } else if (j + 1 < end && (b[j] == '.' || b[j] == ',') && isdig(b[j + 1])) {
    j++;
    int digits = 0;
    while (j < end && isdig(b[j])) {
      if (digits < 3) {
        ms = ms * 10 + (b[j] - '0');
        digits++;
      }
      j++;
    }
    for (; digits < 3; digits++) ms *= 10;
  }
  int64_t off_min = 0;
  if (j < end && (b[j] == '+' || b[j] == '-') && j + 2 < end && isdig(b[j + 1]) && isdig(b[j + 2])) {
    int64_t oh = num(b, j + 1, 2);
    size_t k = j + 3;
    if (k < end && b[k] == ':') k++;
    if (k + 1 < end && isdig(b[k]) && isdig(b[k + 1])) off_min = (oh * 60 + num(b, k, 2)) * (b[j] == '-' ? -1 : 1);
  }
  *out = (sec - off_min * 60) * 1000 + ms;
  return 1;
}

/* stamp_ms_full, inline for the usual line: the cached second's text, three fraction digits and no
 * zone offset after them (the same answer: off_min stays 0 there); anything else takes the full path. */
static inline int stamp_ms(const uint8_t *b, size_t i, size_t end, int64_t *out, tcache_t *tc) {
  if (tc->valid && i + 24 <= end && same19(b + i, tc->txt)) {
    uint8_t f = b[i + 19], d1 = b[i + 20], d2 = b[i + 21], d3 = b[i + 22], x = b[i + 23];
    if ((f == '.' || f == ',') && isdig(d1) && isdig(d2) && isdig(d3) && !isdig(x) && x != '+' && x != '-') {
      *out = tc->sec * 1000 + (d1 - '0') * 100 + (d2 - '0') * 10 + (d3 - '0');
      return 1;
    }
  }
  return stamp_ms_full(b, i, end, out, tc);
}

/* parse.ts prefixTimeBytes(b, start, end) */
static int prefix_time(const uint8_t *b, size_t start, size_t end, int64_t *out, tcache_t *tc) {
  /* stamp_ms cannot succeed where the byte is no digit (nor can the cache, which holds an accepted
   * stamp's bytes), and it is a pure function of the bytes otherwise: parse.ts tries `start` and
   * then every digit run's start, so trying `start` once when it is a digit and then the later
   * digit runs gives the same answer. */
  if (isdig(b[start]) && stamp_ms(b, start, end, out, tc)) return 1;
  int64_t limit = (int64_t)end - 19;
  if (limit > (int64_t)start + 64) limit = (int64_t)start + 64;
  for (int64_t i = (int64_t)start + 1; i <= limit; i++) {
    if (isdig(b[i]) && !isdig(b[i - 1]))
      if (stamp_ms(b, (size_t)i, end, out, tc)) return 1;
  }
  return 0;
}

/* resume.ts stampKey over a line's bytes (without newline): seconds and nanos, or 0. */
static int stamp_key(const uint8_t *s, size_t len, int64_t *sec, int32_t *ns) {
  if (len < 19) return 0;
  if (!date_time_shape(s, 0) || (s[10] != 'T' && s[10] != ' ')) return 0;
  int64_t y = num(s, 0, 4), mo = num(s, 5, 2), d = num(s, 8, 2);
  int64_t h = num(s, 11, 2), mi = num(s, 14, 2), se = num(s, 17, 2);
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60) return 0;
  size_t j = 19;
  int64_t nanos = 0;
  if (j + 1 < len && (s[j] == '.' || s[j] == ',') && isdig(s[j + 1])) {
    j++;
    int digits = 0;
    while (j < len && isdig(s[j])) {
      if (digits < 9) {
        nanos = nanos * 10 + (s[j] - '0');
        digits++;
      }
      j++;
    }
    for (; digits < 9; digits++) nanos *= 10;
  }
  int64_t off_min = 0;
  if (j < len && s[j] == 'Z')
    j++;
  else if (j + 2 < len && (s[j] == '+' || s[j] == '-') && isdig(s[j + 1]) && isdig(s[j + 2])) {
    int64_t oh = num(s, j + 1, 2);
    size_t k = j + 3;
    if (k < len && s[k] == ':') k++;
    if (k + 1 < len && isdig(s[k]) && isdig(s[k + 1])) {
      off_min = (oh * 60 + num(s, k, 2)) * (s[j] == '-' ? -1 : 1);
      j = k + 2;
    }
  }
  if (j >= len || s[j] != ' ') return 0;
  *sec = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se - off_min * 60;
  *ns = (int32_t)nanos;
  return 1;
}

static inline uint64_t mix(uint64_t a, uint64_t w, uint64_t m) {
  a = (a ^ w) * m;
  return a ^ (a >> 29);
}

/* Four independent multiply-xorshift lanes over 32-byte blocks (keys are 100-400 bytes). */
static inline uint64_t hash_bytes(const uint8_t *p, size_t n) {
  const uint64_t m1 = 0xff51afd7ed558ccdull, m2 = 0xc4ceb9fe1a85ec53ull;
  uint64_t a = 0x9E3779B97F4A7C15ull ^ n, b = 0xC2B2AE3D27D4EB4Full, c = 0x165667B19E3779F9ull,
           d = 0x85EBCA77C2B2AE63ull;
  while (n >= 32) {
    uint64_t w[4];
    memcpy(w, p, 32);
    a = mix(a, w[0], m1);
    b = mix(b, w[1], m2);
    c = mix(c, w[2], m1);
    d = mix(d, w[3], m2);
    p += 32;
    n -= 32;
  }
  uint64_t w[4] = {0, 0, 0, 0};
  memcpy(w, p, n);
  a = mix(a, w[0], m1);
  b = mix(b, w[1], m2);
  c = mix(c, w[2], m1);
  d = mix(d, w[3], m2);
  uint64_t h = a ^ (b * 31) ^ (c * 131) ^ (d * 8191);
  h ^= h >> 33;
  h *= m1;
  h ^= h >> 33;
  return h;
}

#ifdef HAVE_AVX2_PATH
/*
 * The same role as hash_bytes, 32 bytes per step with AVX2 (xxh3-style accumulation: each 64-bit
 * lane adds the product of the low and high halves of (data ^ secret) and the data with swapped
 * halves; the secret changes with the block index so that reordered blocks hash differently).
 * A hash only places keys in the table: equal keys are still found by comparing their bytes.
 */
__attribute__((target("avx2"))) static uint64_t hash_avx2(const uint8_t *p, size_t n) {
  __m256i s = _mm256_set_epi64x(0x1cad21f72c81017cll, 0xdb979083e96dd4dell, 0x7c01812cf721ad1cll,
                                0xbe4ba423396cfeb8ll);
  const __m256i inc = _mm256_set1_epi64x(0x9E3779B97F4A7C15ll);
  __m256i acc = _mm256_set1_epi64x((long long)(n * 0xC2B2AE3D27D4EB4Full));
  size_t i = 0;
  /* two blocks per step (the same sums as one at a time: the result does not change) */
  const __m256i inc2 = _mm256_add_epi64(inc, inc);
  __m256i acc2 = _mm256_setzero_si256();
  for (; i + 64 <= n; i += 64) {
    __m256i d = _mm256_loadu_si256((const __m256i *)(p + i));
    __m256i e = _mm256_loadu_si256((const __m256i *)(p + i + 32));
    __m256i x = _mm256_xor_si256(d, s);
    __m256i y = _mm256_xor_si256(e, _mm256_add_epi64(s, inc));
    acc = _mm256_add_epi64(acc, _mm256_mul_epu32(x, _mm256_srli_epi64(x, 32)));
    acc2 = _mm256_add_epi64(acc2, _mm256_mul_epu32(y, _mm256_srli_epi64(y, 32)));
    acc = _mm256_add_epi64(acc, _mm256_shuffle_epi32(d, _MM_SHUFFLE(2, 3, 0, 1)));
    acc2 = _mm256_add_epi64(acc2, _mm256_shuffle_epi32(e, _MM_SHUFFLE(2, 3, 0, 1)));
    s = _mm256_add_epi64(s, inc2);
  }
  acc = _mm256_add_epi64(acc, acc2);
  for (; i + 32 <= n; i += 32) {
    __m256i d = _mm256_loadu_si256((const __m256i *)(p + i));
    __m256i x = _mm256_xor_si256(d, s);
    acc = _mm256_add_epi64(acc, _mm256_mul_epu32(x, _mm256_srli_epi64(x, 32)));
    acc = _mm256_add_epi64(acc, _mm256_shuffle_epi32(d, _MM_SHUFFLE(2, 3, 0, 1)));
    s = _mm256_add_epi64(s, inc);
  }
  if (i < n) {
    /* the last 32 bytes of the key (overlapping the previous block), or the short key zero-padded */
    uint8_t t[32] = {0};
    const uint8_t *q = p + n - 32;
    if (n < 32) {
      memcpy(t, p, n);
      q = t;
    }
    __m256i d = _mm256_loadu_si256((const __m256i *)q);
    __m256i x = _mm256_xor_si256(d, s);
    acc = _mm256_add_epi64(acc, _mm256_mul_epu32(x, _mm256_srli_epi64(x, 32)));
    acc = _mm256_add_epi64(acc, _mm256_shuffle_epi32(d, _MM_SHUFFLE(2, 3, 0, 1)));
  }
  uint64_t l[4];
  _mm256_storeu_si256((__m256i *)l, acc);
  const uint64_t m1 = 0xff51afd7ed558ccdull, m2 = 0xc4ceb9fe1a85ec53ull;
  uint64_t h = mix(mix(l[0], l[1], m1), l[2], m2);
  h = mix(h, l[3], m1);
  h ^= h >> 33;
  h *= m2;
  h ^= h >> 33;
  return h;
}
#endif

static const uint8_t *find_marker(const uint8_t *p, size_t n) {
  return n < MLEN ? NULL : memmem(p, n, MARKER, MLEN);
}

/* ------------------------------------------------------------------ aggregation */

/* Room for `pending` admitted lines plus one more, each possibly a new key of up to max bytes. */
static inline int room_for(const kafka_t *k, size_t pending) {
  return k->n_ent + pending < MAX_KEYS && k->text_used + (pending + 1) * (k->max + 1) <= k->text_cap;
}

static inline int room(const kafka_t *k) { return room_for(k, 0); }

static void table_clear(kafka_t *k) {
  k->n_ent = 0;
  k->arena_used = 0;
  k->text_used = 0;
  k->n_touched = 0;
  k->n_dec = 0;
  k->dec_reported = 0;
  memset(k->slots, 0xff, KSLOTS * sizeof(uint64_t));
  memset(k->dslots, 0xff, SLOTS * sizeof(int32_t));
}

#ifdef HAVE_AVX2_PATH
__attribute__((target("avx2"))) static int64_t last_of3_avx2(const uint8_t *p, size_t lo, size_t hi) {
  const __m256i sp = _mm256_set1_epi8(' '), op = _mm256_set1_epi8('['), cl = _mm256_set1_epi8(']');
  while (hi - lo >= 32) {
    __m256i v = _mm256_loadu_si256((const __m256i *)(p + hi - 32));
    __m256i x = _mm256_or_si256(_mm256_or_si256(_mm256_cmpeq_epi8(v, sp), _mm256_cmpeq_epi8(v, op)),
                                _mm256_cmpeq_epi8(v, cl));
    uint32_t m = (uint32_t)_mm256_movemask_epi8(x);
    if (m) return (int64_t)(hi - 32 + 31 - (size_t)__builtin_clz(m));
    hi -= 32;
  }
  while (hi > lo) {
    hi--;
    if (p[hi] == ' ' || p[hi] == '[' || p[hi] == ']') return (int64_t)hi;
  }
  return -1;
}
#endif

/* Index of the last ' ', '[' or ']' in p[lo, hi), or -1. */
static int64_t last_of3(const uint8_t *p, size_t lo, size_t hi) {
#ifdef HAVE_AVX2_PATH
  if (cpu_avx2()) return last_of3_avx2(p, lo, hi);
#endif
  while (hi > lo) {
    hi--;
    if (p[hi] == ' ' || p[hi] == '[' || p[hi] == ']') return (int64_t)hi;
  }
  return -1;
}

/*
 * End of the message key for the line p[marker, end): the Strimzi log4j1 ` [thread]` suffix is
 * left out only when it cannot change the parse (the same rule as processor.ts messageKeyEnd):
 * the text before it ends with ` (logger.name)` (not right after `=`) and has no `[` after its
 * last `]`, and the thread name has no space and no `]`, so none of the parser's search patterns
 * can occur in the suffix and the layout-suffix rule matches at the same place.
 */
static size_t key_end(const uint8_t *p, size_t marker, size_t end) {
  if (end < 2 || p[end - 1] != ']') return end;
  size_t stop = end >= 256 && end - 256 > marker ? end - 256 : marker;
  /* the last ' ', ']' or '[' in p(stop, end - 1): the thread name's '[' when it is a '[' */
  int64_t q = end - 1 > stop + 1 ? last_of3(p, stop + 1, end - 1) : -1;
  for (size_t k = q < 0 ? stop : (size_t)q; k > stop; k--) {
    uint8_t c = p[k];
    if (c == ' ' || c == ']') return end;
    if (c != '[') continue;
    if (k < marker + 2 || p[k - 1] != ' ' || p[k - 2] != ')') return end;
    /* B = p[marker, k-1) ends with ')' at k-2; require ` (L)` */
    size_t r = k - 2; /* index of ')' */
    size_t l = r;
    while (l > marker && logger_char(p[l - 1])) l--;
    if (l == r) return end; /* empty logger name */
    if (l < marker + 2 || p[l - 1] != '(' || p[l - 2] != ' ') return end;
    if (l - 2 > marker && p[l - 3] == '=') return end;
    /* an earlier ` (L') [` with no `]` after it would make the layout-suffix rule match there */
    const uint8_t *open = memrchr(p + marker, '[', l - 2 - marker);
    const uint8_t *close = memrchr(p + marker, ']', l - 2 - marker);
    if (open != NULL && (close == NULL || close < open)) return end;
    return k - 1;
  }
  return end;
}

static inline uint64_t rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

/* The decision of a parsed message entry: found or added. */
static int32_t decision_of(kafka_t *k, uint32_t e) {
  const ehdr_t *en = (const ehdr_t *)(k->arena + e);
  const uint8_t *b = k->arena + e + EHDR;
  const dec_t *d = &en->d;
  size_t pl = d->pr_e - d->pr_s, il = d->ip_e - d->ip_s, nl = d->nm_e - d->nm_s;
  uint64_t small = (uint64_t)d->op | (uint64_t)d->rtype << 8 | (uint64_t)d->ptype << 16 | (uint64_t)d->allowed << 24;
  uint64_t h = hash_bytes(b + d->pr_s, pl) ^ rotl(hash_bytes(b + d->ip_s, il), 21) ^
               rotl(hash_bytes(b + d->nm_s, nl), 42) ^ (small * 0x9E3779B97F4A7C15ull);
  uint32_t slot = (uint32_t)h & (SLOTS - 1);
  for (;;) {
    int32_t v = k->dslots[slot];
    if (v < 0) break;
    const decn_t *c = &k->dec[v];
    const ehdr_t *o = (const ehdr_t *)(k->arena + c->key);
    const uint8_t *ob = k->arena + c->key + EHDR;
    const dec_t *od = &o->d;
    if (c->hash == h && od->op == d->op && od->rtype == d->rtype && od->ptype == d->ptype &&
        od->allowed == d->allowed && od->pr_e - od->pr_s == pl && od->ip_e - od->ip_s == il &&
        od->nm_e - od->nm_s == nl && memcmp(ob + od->pr_s, b + d->pr_s, pl) == 0 &&
        memcmp(ob + od->ip_s, b + d->ip_s, il) == 0 && memcmp(ob + od->nm_s, b + d->nm_s, nl) == 0)
      return v;
    slot = (slot + 1) & (SLOTS - 1);
  }
  uint32_t idx = k->n_dec++;
  decn_t *c = &k->dec[idx];
  c->hash = h;
  c->key = e;
  c->count = 0;
  c->has_t = 0;
  c->no_t = 0;
  c->obs_gen = -1;
  c->obs_idx = 0;
  k->dslots[slot] = (int32_t)idx;
  return (int32_t)idx;
}

/* The message key's hash: one function per handle (the AVX2 one unless the scalar path is asked). */
static inline uint64_t key_hash(const kafka_t *k, const uint8_t *p, size_t n) {
#ifdef HAVE_AVX2_PATH
  if (k->vhash) return hash_avx2(p, n);
#endif
  return hash_bytes(p, n);
}

/* One line p[s, e) with the marker at m, key p[m, ke) of hash h. Caller checked room(). */
static void add_key(kafka_t *k, const uint8_t *p, size_t s, size_t m, size_t ke, uint64_t h) {
  const uint8_t *key = p + m;
  size_t klen = ke - m;
  uint32_t tag = (uint32_t)(h >> 32);
  uint32_t slot = (uint32_t)h & (KSLOTS - 1);
  ehdr_t *en = NULL;
  for (;;) {
    uint64_t v = k->slots[slot];
    if (v == KEMPTY) break;
    if ((uint32_t)(v >> 32) == tag) {
      ehdr_t *c = (ehdr_t *)(k->arena + (uint32_t)v);
      if (c->len == klen && memcmp((const uint8_t *)c + EHDR, key, klen) == 0) {
        en = c;
        break;
      }
    }
    slot = (slot + 1) & (KSLOTS - 1);
  }
  if (en == NULL) {
    k->n_ent++;
    uint32_t off = (uint32_t)k->arena_used;
    en = (ehdr_t *)(k->arena + off);
    memset(en, 0, sizeof(*en));
    en->len = (uint32_t)klen;
    memcpy(k->arena + off + EHDR, key, klen);
    k->arena_used = (off + EHDR + klen + 7) & ~(size_t)7;
    k->text_used += klen;
    en->status = (uint8_t)parse_msg(key, klen, &en->d);
    en->dec = en->status == P_OK ? decision_of(k, off) : -1;
    en->epoch = k->epoch; /* new in this window: an undo drops it whole */
    k->slots[slot] = (uint64_t)tag << 32 | off;
  }
  if (en->status != P_OK) {
    k->skips[en->status]++;
    return;
  }
  if (k->jn_on && en->epoch != k->epoch) { /* first count in this mapped window: journal its state */
    jrec_t *j = &k->jn[k->n_jn++];
    j->off = (uint32_t)((uint8_t *)en - k->arena);
    j->count = en->count;
    j->max_t = en->max_t;
    j->has_t = en->has_t;
    j->no_t = en->no_t;
    en->epoch = k->epoch;
  }
  int64_t t = 0;
  int valid = prefix_time(p, s, m, &t, &k->tc) && t >= MIN_TIME && t <= MAX_TIME;
  if (en->count == 0) k->touched[k->n_touched++] = (uint32_t)((uint8_t *)en - k->arena);
  en->count++;
  if (valid) {
    if (!en->has_t || t > en->max_t) en->max_t = t;
    en->has_t = 1;
  } else
    en->no_t = 1;
}

/* One line p[s, e) (no newline, no trailing CR) with the marker at m. Caller checked room(). */
static void add_marked(kafka_t *k, const uint8_t *p, size_t s, size_t m, size_t e) {
  size_t ke = key_end(p, m, e);
  add_key(k, p, s, m, ke, key_hash(k, p + m, ke - m));
}

/* Marker lines collected by the file scan, looked up in stages with prefetches so that the
 * cache misses of the slot, the entry and the key text of different lines overlap. */
#define BATCH 32
typedef struct {
  size_t s, m, e, ke;
  uint64_t h;
} pend_t;

/* The key slot of pending line j is read LAG lines after its prefetch; then the header and key
 * bytes it points at are prefetched, so that the compare in add_key finds them in cache. */
#ifndef LAG
#define LAG 4
#endif
static inline void prefetch_key(const kafka_t *k, const pend_t *x) {
  uint32_t slot = (uint32_t)x->h & (KSLOTS - 1), tag = (uint32_t)(x->h >> 32);
  uint64_t v = k->slots[slot];
  /* the first slots of the probe sequence (a collision moves a key one or two slots on) */
  for (int n = 0; v != KEMPTY && (uint32_t)(v >> 32) != tag && n < 3; n++) v = k->slots[slot = (slot + 1) & (KSLOTS - 1)];
  if (v == KEMPTY || (uint32_t)(v >> 32) != tag) return;
  const uint8_t *e = k->arena + (uint32_t)v;
  size_t n = EHDR + (x->ke - x->m);
  for (size_t o = 0; o < n; o += 64) __builtin_prefetch(e + o);
}

/* Stage 1 of a batch: key ends and hashes, prefetches of the slots and then of the keys. */
static void hash_batch(kafka_t *k, const uint8_t *p, pend_t *b, unsigned n) {
  for (unsigned j = 0; j < n; j++) {
    b[j].ke = key_end(p, b[j].m, b[j].e);
    b[j].h = key_hash(k, p + b[j].m, b[j].ke - b[j].m);
    __builtin_prefetch(&k->slots[(uint32_t)b[j].h & (KSLOTS - 1)]);
    if (j >= LAG) prefetch_key(k, &b[j - LAG]);
  }
  for (unsigned j = n > LAG ? n - LAG : 0; j < n; j++) prefetch_key(k, &b[j]);
}

/* Stage 2: look up / add and count, in line order. */
static void count_batch(kafka_t *k, const uint8_t *p, const pend_t *b, unsigned n) {
  for (unsigned j = 0; j < n; j++) add_key(k, p, b[j].s, b[j].m, b[j].ke, b[j].h);
}

static void add_batch(kafka_t *k, const uint8_t *p, pend_t *b, unsigned n) {
  hash_batch(k, p, b, n);
  count_batch(k, p, b, n);
}

/* ------------------------------------------------------------------ resume (pod mode) */

static int lines_add(lines_t *l, const uint8_t *p, size_t n) {
  if (l->len + n > l->cap) {
    size_t cap = l->cap ? l->cap : 1024;
    while (cap < l->len + n) cap *= 2;
    uint8_t *b = realloc(l->buf, cap);
    if (!b) return 0;
    l->buf = b;
    l->cap = cap;
  }
  if (l->n == l->ncap) {
    size_t c = l->ncap ? l->ncap * 2 : 16;
    item_t *it = realloc(l->items, c * sizeof(item_t));
    if (!it) return 0;
    l->items = it;
    l->ncap = c;
  }
  memcpy(l->buf + l->len, p, n);
  l->items[l->n].off = l->len;
  l->items[l->n].len = n;
  l->items[l->n].used = 0;
  l->n++;
  l->len += n;
  return 1;
}

static void lines_clear(lines_t *l) {
  l->n = 0;
  l->len = 0;
}

static void lines_free(lines_t *l) {
  free(l->buf);
  free(l->items);
  memset(l, 0, sizeof(*l));
}

static inline int cmp_key(int64_t s1, int32_t n1, int64_t s2, int32_t n2) {
  if (s1 != s2) return s1 < s2 ? -1 : 1;
  if (n1 != n2) return n1 < n2 ? -1 : 1;
  return 0;
}

/* resume.ts ResumeTracker.accept over bytes. */
static int accept_line(kafka_t *k, const uint8_t *p, size_t n) {
  int64_t sec;
  int32_t ns;
  if (!stamp_key(p, n, &sec, &ns)) return 1;
  if (k->replaying) {
    int c = cmp_key(sec, ns, k->rep_sec, k->rep_ns);
    if (c < 0) return 0;
    if (c == 0) {
      for (size_t i = 0; i < k->replay.n; i++) {
        item_t *it = &k->replay.items[i];
        if (!it->used && it->len == n && memcmp(k->replay.buf + it->off, p, n) == 0) {
          it->used = 1;
          return 0;
        }
      }
    } else {
      k->replaying = 0;
      lines_clear(&k->replay);
    }
  }
  int c = k->has_last ? cmp_key(sec, ns, k->last_sec, k->last_ns) : 1;
  if (c > 0) {
    k->has_last = 1;
    k->last_sec = sec;
    k->last_ns = ns;
    lines_clear(&k->at_last);
    lines_add(&k->at_last, p, n);
  } else if (c == 0)
    lines_add(&k->at_last, p, n);
  return 1;
}

/* ------------------------------------------------------------------ line handling */

/* A complete line p[0, n) (no newline). Caller checked room(). */
static void complete_line(kafka_t *k, const uint8_t *p, size_t n) {
  k->lines++;
  if (n > k->max) {
    k->too_long++;
    return;
  }
  size_t e = n > 0 && p[n - 1] == '\r' ? n - 1 : n;
  if (k->pod) {
    if (!accept_line(k, p, e)) {
      k->dups++;
      return;
    }
    k->accepted++;
  }
  const uint8_t *q = find_marker(p, e);
  if (q) add_marked(k, p, 0, (size_t)(q - p), e);
}

/* Lines of buf[ls, limit) (limit just past a newline), one at a time. Returns where it stopped. */
static size_t scan_scalar(kafka_t *k, const uint8_t *buf, size_t ls, size_t limit) {
  while (ls < limit) {
    if (!room(k)) return ls;
    const uint8_t *nl = memchr(buf + ls, '\n', limit - ls);
    if (!nl) return ls; /* a mapped file changed under the scan (see read_mapped): stop at this line */
    size_t e = (size_t)(nl - buf);
    complete_line(k, buf + ls, e - ls);
    ls = e + 1;
  }
  return ls;
}

#ifdef HAVE_AVX2_PATH
__attribute__((target("avx2,bmi,popcnt"))) static inline void newlines(kafka_t *k, size_t *ls, size_t base,
                                                                        uint64_t nl) {
  while (nl) {
    size_t q = base + (size_t)__builtin_ctzll(nl);
    if (q - *ls > k->max) k->too_long++;
    k->lines++;
    *ls = q + 1;
    nl &= nl - 1;
  }
}

/* File mode over buf[ls, limit): 64 bytes at a time, newline and marker candidates ('P' at i and
 * '=' at i + 10) from the same loads; candidates are verified with memcmp. */
__attribute__((target("avx2,bmi,popcnt"))) static size_t scan_file_avx2(kafka_t *k, const uint8_t *buf,
                                                                         size_t ls, size_t limit, size_t len) {
  const __m256i vnl = _mm256_set1_epi8('\n'), vp = _mm256_set1_epi8('P'), veq = _mm256_set1_epi8('=');
  /* Two batches in flight: a full batch is hashed (its keys prefetched) and then the previous
   * one counted, so that a batch's keys have a whole batch's time to arrive in cache. */
  pend_t bat[2][BATCH];
  pend_t *batch = bat[0], *prev = bat[1];
  unsigned nb = 0, np = 0;
  size_t i = ls;
  while (i < limit && i + 64 + MLEN <= len) {
    __m256i a0 = _mm256_loadu_si256((const __m256i *)(buf + i));
    __m256i a1 = _mm256_loadu_si256((const __m256i *)(buf + i + 32));
    uint64_t nl = (uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(a0, vnl)) |
                  ((uint64_t)(uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(a1, vnl)) << 32);
    uint64_t cp = (uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(a0, vp)) |
                  ((uint64_t)(uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(a1, vp)) << 32);
    uint64_t cand = 0;
    if (cp) { /* '=' ten bytes on only where some 'P' is */
      __m256i b0 = _mm256_loadu_si256((const __m256i *)(buf + i + 10));
      __m256i b1 = _mm256_loadu_si256((const __m256i *)(buf + i + 42));
      uint64_t ce = (uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(b0, veq)) |
                    ((uint64_t)(uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(b1, veq)) << 32);
      cand = cp & ce;
    }
    size_t left = limit - i;
    if (left < 64) {
      uint64_t lim = (UINT64_C(1) << left) - 1;
      nl &= lim;
      cand &= lim;
    }
    int jumped = 0;
    while (cand) {
      unsigned b = (unsigned)__builtin_ctzll(cand);
      size_t m = i + b;
      if (memcmp(buf + m, MARKER, MLEN) == 0) {
        newlines(k, &ls, i, nl & ((UINT64_C(1) << b) - 1));
        if (nb == BATCH) {
          hash_batch(k, buf, batch, nb);
          count_batch(k, buf, prev, np);
          pend_t *t = prev;
          prev = batch;
          batch = t;
          np = nb;
          nb = 0;
        }
        if (!room_for(k, np + nb)) {
          count_batch(k, buf, prev, np);
          add_batch(k, buf, batch, nb);
          return ls;
        }
        const uint8_t *e = m + MLEN < limit ? memchr(buf + m + MLEN, '\n', limit - (m + MLEN)) : NULL;
        if (!e) {
          /* no newline before limit although push saw one there: the bytes of a mapped file
           * changed under the scan (read_mapped). Stop at this line's start, lines before it counted. */
          count_batch(k, buf, prev, np);
          add_batch(k, buf, batch, nb);
          return ls;
        }
        size_t ep = (size_t)(e - buf);
        k->lines++;
        if (ep - ls > k->max)
          k->too_long++;
        else {
          batch[nb].s = ls;
          batch[nb].m = m;
          batch[nb].e = ep > ls && buf[ep - 1] == '\r' ? ep - 1 : ep;
          nb++;
        }
        ls = ep + 1;
        i = ep + 1;
        jumped = 1;
        break;
      }
      cand &= cand - 1;
    }
    if (jumped) continue;
    newlines(k, &ls, i, nl);
    i += 64;
  }
  count_batch(k, buf, prev, np);
  add_batch(k, buf, batch, nb);
  return scan_scalar(k, buf, ls, limit);
}
#endif

/* Complete lines of buf[ls, limit). */
static size_t scan(kafka_t *k, const uint8_t *buf, size_t ls, size_t limit, size_t len) {
  if (k->pod) return scan_scalar(k, buf, ls, limit);
#ifdef HAVE_AVX2_PATH
  if (k->vhash) return scan_file_avx2(k, buf, ls, limit, len);
#endif
  (void)len;
  return scan_scalar(k, buf, ls, limit);
}

/* lines.ts #hold */
static void hold(kafka_t *k, const uint8_t *p, size_t n) {
  if (k->skipping || n == 0) return;
  if (k->held_len + n > k->max) {
    k->held_len = 0;
    k->skipping = 1;
    return;
  }
  memcpy(k->held + k->held_len, p, n);
  k->held_len += n;
}

/* lines.ts #finishHeld; caller checked room(). */
static void finish_held(kafka_t *k) {
  if (k->skipping) {
    k->skipping = 0;
    k->lines++;
    k->too_long++;
    return;
  }
  size_t n = k->held_len;
  k->held_len = 0;
  complete_line(k, k->held, n);
}

/* Returns the offset reached: the chunk's length, or less when the key table is full (or, for a
 * mapped file, when its bytes changed under the scan: see read_mapped). */
static size_t push(kafka_t *k, const uint8_t *buf, size_t len, size_t start) {
  if (start >= len) return len;
  size_t pos = start;
  if (k->held_len > 0 || k->skipping) {
    const uint8_t *nl = memchr(buf + pos, '\n', len - pos);
    if (!nl) {
      hold(k, buf + pos, len - pos);
      return len;
    }
    if (!room(k)) return pos;
    size_t e = (size_t)(nl - buf);
    hold(k, buf + pos, e - pos);
    finish_held(k);
    pos = e + 1;
  }
  const uint8_t *last = pos < len ? memrchr(buf + pos, '\n', len - pos) : NULL;
  if (last) {
    size_t limit = (size_t)(last - buf) + 1;
    size_t r = scan(k, buf, pos, limit, len);
    if (r < limit) return r;
    pos = limit;
  }
  if (pos < len) hold(k, buf + pos, len - pos);
  return len;
}

/* ------------------------------------------------------------------ Node-API glue */

#define CHECK(call)                                                                                                \
  do {                                                                                                             \
    if ((call) != napi_ok) return NULL;                                                                            \
  } while (0)

static void free_kafka(kafka_t *k) {
  if (k->closed) return;
  k->closed = 1;
  if (k->aux) {
    free_kafka(k->aux);
    pthread_mutex_destroy(&k->aux->mu);
    free(k->aux);
    k->aux = NULL;
  }
  free(k->held);
  free(k->held_bak);
  free(k->jn);
  free(k->rbuf);
  free(k->ring);
  free(k->slots);
  free(k->arena);
  free(k->touched);
  free(k->dtouched);
  free(k->dec);
  free(k->dslots);
  lines_free(&k->at_last);
  lines_free(&k->replay);
  k->held = NULL;
  k->held_bak = NULL;
  k->jn = NULL;
  k->rbuf = NULL;
  k->ring = NULL;
  k->slots = NULL;
  k->arena = NULL;
  k->touched = NULL;
  k->dtouched = NULL;
  k->dec = NULL;
  k->dslots = NULL;
}

static void finalize(napi_env env, void *data, void *hint) {
  kafka_t *k = data;
  free_kafka(k);
  pthread_mutex_destroy(&k->mu);
  free(k);
}

/* Marks this module's externals: a handle of another addon (also an external) is refused. */
static const napi_type_tag KAFKA_TAG = {0x63616c6c6d61706bull, 0x61666b6168616e64ull};

static int is_kafka_handle(napi_env env, napi_value v) {
  bool tagged = false;
  return napi_check_object_type_tag(env, v, &KAFKA_TAG, &tagged) == napi_ok && tagged;
}

static kafka_t *get_any_handle(napi_env env, napi_value v) {
  void *p = NULL;
  if (!is_kafka_handle(env, v) || napi_get_value_external(env, v, &p) != napi_ok || p == NULL) {
    napi_throw_type_error(env, "KAFKA_NATIVE", "expected a kafka scanner handle");
    return NULL;
  }
  kafka_t *k = p;
  if (k->closed) {
    napi_throw_error(env, "KAFKA_NATIVE", "the kafka scanner was closed");
    return NULL;
  }
  return k;
}

/* A handle that no readFile is using and that holds no unscanned read (every call but flush and
 * readFile). */
static kafka_t *get_handle(napi_env env, napi_value v) {
  kafka_t *k = get_any_handle(env, v);
  if (k && k->roff < k->rlen && !k->busy) {
    napi_throw_error(env, "KAFKA_NATIVE", "readFile stopped at a full key table: flush(h, true), then call readFile again");
    return NULL;
  }
  if (k && k->busy) {
    napi_throw_error(env, "KAFKA_NATIVE", "a readFile on this kafka scanner is still running; await it first");
    return NULL;
  }
  return k;
}

static void write_counters(napi_env env, kafka_t *k, napi_value arr) {
  void *data = NULL;
  size_t n = 0;
  napi_typedarray_type t;
  if (napi_get_typedarray_info(env, arr, &t, &n, &data, NULL, NULL) != napi_ok || t != napi_float64_array || n < 4)
    return;
  double *d = data;
  d[0] = k->lines;
  d[1] = k->dups;
  d[2] = k->too_long;
  d[3] = k->accepted;
  if (n >= 6) {
    d[4] = k->splits;
    d[5] = k->merges;
  }
  if (n >= 8) {
    d[6] = k->mapped;
    d[7] = k->cut;
  }
}

/* A scanner's state and tables (NULL when out of memory). */
static kafka_t *new_kafka(int pod, int scalar, size_t max) {
  kafka_t *k = calloc(1, sizeof(kafka_t));
  if (!k) return NULL;
  pthread_mutex_init(&k->mu, NULL);
  k->pod = pod;
  k->scalar = scalar;
  k->vhash = !scalar && cpu_avx2();
  k->max = max;
  k->held = malloc(k->max + 1);
  k->slots = malloc(KSLOTS * sizeof(uint64_t));
  k->text_cap = ARENA_BASE + (2 * BATCH + 1) * (k->max + 1);
  k->arena_cap = k->text_cap + MAX_KEYS * (EHDR + 8);
  k->arena = malloc(k->arena_cap);
  k->touched = malloc(MAX_KEYS * sizeof(uint32_t));
  k->dtouched = malloc(MAX_KEYS * sizeof(uint32_t));
  k->dec = malloc(MAX_KEYS * sizeof(decn_t));
  k->dslots = malloc(SLOTS * sizeof(int32_t));
  if (!k->held || !k->slots || !k->arena || !k->touched || !k->dtouched || !k->dec || !k->dslots) {
    free_kafka(k);
    pthread_mutex_destroy(&k->mu);
    free(k);
    return NULL;
  }
  table_clear(k);
  return k;
}

/* create(pod: boolean, maxLineBytes: number, scalar: boolean) */
static napi_value js_create(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  bool pod = false, scalar = false;
  double max = 65536;
  if (argc > 0) napi_get_value_bool(env, argv[0], &pod);
  if (argc > 1) napi_get_value_double(env, argv[1], &max);
  if (argc > 2) napi_get_value_bool(env, argv[2], &scalar);
  if (!(max >= 16 && max <= 1048576)) {
    napi_throw_range_error(env, "KAFKA_NATIVE", "maxLineBytes must be between 16 and 1 MiB");
    return NULL;
  }
  kafka_t *k = new_kafka(pod, scalar, (size_t)max);
  if (!k) goto oom;
  napi_value ext;
  if (napi_create_external(env, k, finalize, NULL, &ext) != napi_ok) {
    free_kafka(k);
    free(k);
    return NULL;
  }
  if (napi_type_tag_object(env, ext, &KAFKA_TAG) != napi_ok) goto oom; /* the finalizer frees k */
  return ext;
oom:
  napi_throw_error(env, "KAFKA_NATIVE", "out of memory creating the kafka scanner");
  return NULL;
}

/* push(h, buf, offset, counters) → offset reached */
static napi_value js_push(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 4) {
    napi_throw_type_error(env, "KAFKA_NATIVE", "push(handle, buffer, offset, counters)");
    return NULL;
  }
  kafka_t *k = get_handle(env, argv[0]);
  if (!k) return NULL;
  void *data = NULL;
  size_t len = 0;
  napi_typedarray_type t;
  napi_value ab;
  size_t boff;
  if (napi_get_typedarray_info(env, argv[1], &t, &len, &data, &ab, &boff) != napi_ok || t != napi_uint8_array) {
    napi_throw_type_error(env, "KAFKA_NATIVE", "push: expected a Buffer");
    return NULL;
  }
  double off = 0;
  napi_get_value_double(env, argv[2], &off);
  /* clamp in double: converting an out-of-range double to size_t is undefined (Infinity gave 0) */
  size_t start = off > 0 ? (off >= (double)len ? len : (size_t)off) : 0;
  size_t r = push(k, data, len, start);
  write_counters(env, k, argv[3]);
  napi_value out;
  CHECK(napi_create_double(env, (double)r, &out));
  return out;
}

/* end(h, counters) → true when done, false when the table must be flushed first */
static napi_value js_end(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  kafka_t *k = argc > 0 ? get_handle(env, argv[0]) : NULL;
  if (!k) return NULL;
  bool done = true;
  if (k->held_len > 0 || k->skipping) {
    if (room(k))
      finish_held(k);
    else
      done = false;
  }
  if (argc > 1) write_counters(env, k, argv[1]);
  napi_value out;
  CHECK(napi_get_boolean(env, done, &out));
  return out;
}

/* discard(h) → bytes of the held partial line dropped */
static napi_value js_discard(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  kafka_t *k = argc > 0 ? get_handle(env, argv[0]) : NULL;
  if (!k) return NULL;
  size_t n = k->held_len;
  k->held_len = 0;
  k->skipping = 0;
  napi_value out;
  CHECK(napi_create_double(env, (double)n, &out));
  return out;
}

/* heldBytes(h) */
static napi_value js_held(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  kafka_t *k = argc > 0 ? get_handle(env, argv[0]) : NULL;
  if (!k) return NULL;
  napi_value out;
  CHECK(napi_create_double(env, (double)k->held_len, &out));
  return out;
}

typedef struct {
  int on;        /* the caller asked for the packed form */
  int64_t gen;   /* the processor's generation */
  uint32_t base; /* its pending observations so far */
  double room;   /* at most this many new observations (else the classic form) */
} packed_t;

static napi_value flush_locked(napi_env env, kafka_t *k, bool reset, int64_t from, const packed_t *pk);

/*
 * flush(h, reset) → undefined, or [rows, text, decisions, firstNewId, skips]:
 * rows: Float64Array of (decision id, line count, newest valid time or NaN, 1 when a line had no
 * usable time) for the decisions counted since the last flush, in first-seen order;
 * decisions: Float64Array, 7 per decision first seen since the last flush (ids firstNewId…):
 * lengths of principal, client IP and resource name (in `text`, per decision: principal \0 IP \0
 * name \0 and the four codes below as ASCII digits '0' + code: the decision's key),
 * operation, resource type, pattern type, allowed; skips: Float64Array of the lines skipped since
 * the last flush, by parse status (index 0 unused). With reset, the tables are emptied afterwards
 * (ids start again at 0).
 */
static napi_value js_flush(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  kafka_t *k = argc > 0 ? get_any_handle(env, argv[0]) : NULL;
  if (!k) return NULL;
  bool reset = false;
  if (argc > 1) napi_get_value_bool(env, argv[1], &reset);
  int64_t from = -1; /* absent: the decisions not sent before */
  napi_valuetype ty;
  if (argc > 2 && napi_typeof(env, argv[2], &ty) == napi_ok && ty == napi_number)
    napi_get_value_int64(env, argv[2], &from);
  packed_t pk = {0, 0, 0, 0};
  if (argc > 5) {
    double base = -1;
    if (napi_get_value_int64(env, argv[3], &pk.gen) != napi_ok || napi_get_value_double(env, argv[4], &base) != napi_ok ||
        napi_get_value_double(env, argv[5], &pk.room) != napi_ok || pk.gen < 0 || !(base >= 0) ||
        base > 4294967295.0 - MAX_KEYS || base != (double)(uint32_t)base) {
      napi_throw_type_error(env, "EINVAL", "kafka.flush: packed arguments are (gen >= 0, base index, room)");
      return NULL;
    }
    pk.on = 1;
    pk.base = (uint32_t)base;
  }
  /* a readFile may be scanning on the thread pool: wait for its current buffer */
  pthread_mutex_lock(&k->mu);
  napi_value r = flush_locked(env, k, reset, from, &pk);
  pthread_mutex_unlock(&k->mu);
  return r;
}

/* A new Float64Array of n numbers (*p: its memory). */
static napi_status new_f64(napi_env env, size_t n, double **p, napi_value *out) {
  napi_value ab;
  void *mem = NULL;
  napi_status st = napi_create_arraybuffer(env, n * sizeof(double), &mem, &ab);
  if (st != napi_ok) return st;
  *p = mem;
  return napi_create_typedarray(env, napi_float64_array, n, ab, 0, out);
}

/* The lines skipped since the last flush by parse status (a Float64Array), then zeroed. */
static napi_status take_skips(napi_env env, kafka_t *k, napi_value *out) {
  double *sp = NULL;
  napi_status st = new_f64(env, 5, &sp, out);
  if (st != napi_ok) return st;
  memcpy(sp, k->skips, 5 * sizeof(double));
  memset(k->skips, 0, sizeof(k->skips));
  return napi_ok;
}

/* A decision's facts as 7 numbers: the lengths of principal, client IP and resource name, then
 * the codes of operation, resource type, pattern type and the verdict. */
static void put_facts(double *row, const dec_t *d) {
  row[0] = (double)(d->pr_e - d->pr_s);
  row[1] = (double)(d->ip_e - d->ip_s);
  row[2] = (double)(d->nm_e - d->nm_s);
  row[3] = d->op;
  row[4] = d->rtype;
  row[5] = d->ptype;
  row[6] = d->allowed;
}

/* A JavaScript array of the n values v. */
static napi_value array_of(napi_env env, const napi_value *v, uint32_t n) {
  napi_value arr;
  CHECK(napi_create_array_with_length(env, n, &arr));
  for (uint32_t i = 0; i < n; i++) CHECK(napi_set_element(env, arr, i, v[i]));
  return arr;
}

/*
 * The packed form (processor.ts absorbPacked): [text, news, merges, fixes, skips, parsed].
 * news: Float64Array, 9 per decision counted since the last flush that has no pending
 * observation in generation gen yet (first-seen order; they become the pending observations
 * base, base + 1, …): lengths of principal, client IP and resource name (in `text`, one after the
 * other), operation, resource type, pattern type, allowed, line count, newest valid time (0 when
 * fixes has it); merges: Float64Array of (pending index, line count, newest valid time or NaN, 1
 * when a line had no usable time) for the others; fixes: (index in news, newest valid time or
 * NaN) of the new ones with a line that had no usable time; parsed: lines counted. Called with
 * the decisions already folded (dtouched[0, nt)); sets *done = false and changes nothing when
 * there are more new ones than room (the caller then gets the classic form).
 */
static napi_value flush_packed(napi_env env, kafka_t *k, uint32_t nt, const packed_t *pk, bool *done) {
  *done = false;
  uint32_t nn = 0, nm = 0, nf = 0;
  size_t tbytes = 0;
  for (uint32_t i = 0; i < nt; i++) {
    const decn_t *dc = &k->dec[k->dtouched[i]];
    if (dc->obs_gen == pk->gen) {
      nm++;
      continue;
    }
    nn++;
    nf += dc->no_t;
    const dec_t *d = &((const ehdr_t *)(k->arena + dc->key))->d;
    tbytes += (size_t)(d->pr_e - d->pr_s) + (d->ip_e - d->ip_s) + (d->nm_e - d->nm_s);
  }
  if ((double)nn > pk->room) return NULL;
  *done = true;
  napi_value v[6]; /* text, news, merges, fixes, skips, parsed */
  void *tp = NULL;
  double *n = NULL, *m = NULL, *f = NULL, parsed = 0;
  if (nn > 0)
    CHECK(napi_create_buffer(env, tbytes, &tp, &v[0]));
  else
    CHECK(napi_get_undefined(env, &v[0]));
  CHECK(new_f64(env, (size_t)nn * 9, &n, &v[1]));
  CHECK(new_f64(env, (size_t)nm * 4, &m, &v[2]));
  CHECK(new_f64(env, (size_t)nf * 2, &f, &v[3]));
  uint8_t *tw = tp;
  uint32_t j = 0;
  const double *m_end = m + (size_t)nm * 4;
  for (uint32_t i = 0; i < nt; i++) {
    decn_t *dc = &k->dec[k->dtouched[i]];
    parsed += (double)dc->count;
    /* (a decision is in dtouched once, so the bounds below always hold; checked all the same) */
    if (dc->obs_gen == pk->gen) {
      if (m >= m_end) continue;
      m[0] = dc->obs_idx;
      m[1] = (double)dc->count;
      m[2] = dc->has_t ? (double)dc->max_t : __builtin_nan("");
      m[3] = dc->no_t;
      m += 4;
    } else if (j < nn) {
      const ehdr_t *en = (const ehdr_t *)(k->arena + dc->key);
      const uint8_t *key = (const uint8_t *)en + EHDR;
      const dec_t *d = &en->d;
      size_t a = d->pr_e - d->pr_s, b = d->ip_e - d->ip_s, c = d->nm_e - d->nm_s;
      memcpy(tw, key + d->pr_s, a);
      memcpy(tw + a, key + d->ip_s, b);
      memcpy(tw + a + b, key + d->nm_s, c);
      tw += a + b + c;
      put_facts(n, d);
      n[7] = (double)dc->count;
      n[8] = dc->has_t && !dc->no_t ? (double)dc->max_t : 0;
      n += 9;
      if (dc->no_t) {
        f[0] = j;
        f[1] = dc->has_t ? (double)dc->max_t : __builtin_nan("");
        f += 2;
      }
      dc->obs_gen = pk->gen;
      dc->obs_idx = pk->base + j;
      j++;
    }
    dc->count = 0;
    dc->has_t = 0;
    dc->no_t = 0;
  }
  CHECK(take_skips(env, k, &v[4]));
  CHECK(napi_create_double(env, parsed, &v[5]));
  return array_of(env, v, 6);
}

static napi_value flush_locked(napi_env env, kafka_t *k, bool reset, int64_t from, const packed_t *pk) {
  napi_value undef;
  CHECK(napi_get_undefined(env, &undef));
  double skipped = 0;
  for (int i = 1; i < 5; i++) skipped += k->skips[i];
  /* classic form: the fields of the decisions from `from` (default: those not sent before) */
  uint32_t first = from < 0 ? k->dec_reported : from > (int64_t)k->n_dec ? k->n_dec : (uint32_t)from;
  if (k->n_touched == 0 && (pk->on || first == k->n_dec) && skipped == 0) {
    if (reset) table_clear(k);
    return undef;
  }
  /* fold the touched keys into their decisions, in first-seen order */
  uint32_t nt = 0;
  for (uint32_t i = 0; i < k->n_touched; i++) {
    ehdr_t *en = (ehdr_t *)(k->arena + k->touched[i]);
    decn_t *dc = &k->dec[en->dec];
    if (dc->count == 0) k->dtouched[nt++] = (uint32_t)en->dec;
    dc->count += en->count;
    if (en->has_t && (!dc->has_t || en->max_t > dc->max_t)) dc->max_t = en->max_t;
    dc->has_t |= en->has_t;
    dc->no_t |= en->no_t;
    en->count = 0;
    en->has_t = 0;
    en->no_t = 0;
  }
  if (pk->on) {
    bool done = false;
    napi_value r = flush_packed(env, k, nt, pk, &done);
    if (done) {
      k->dec_reported = k->n_dec;
      k->n_touched = 0;
      if (reset) table_clear(k);
      return r;
    }
  }
  uint32_t nn = k->n_dec - first;
  napi_value v[5]; /* rows, text, decisions, first, skips */
  void *tp = NULL;
  double *r = NULL, *e = NULL;
  CHECK(new_f64(env, (size_t)nt * 4, &r, &v[0]));
  for (uint32_t i = 0; i < nt; i++) {
    decn_t *dc = &k->dec[k->dtouched[i]];
    r[i * 4] = k->dtouched[i];
    r[i * 4 + 1] = (double)dc->count;
    r[i * 4 + 2] = dc->has_t ? (double)dc->max_t : __builtin_nan("");
    r[i * 4 + 3] = dc->no_t;
    dc->count = 0;
    dc->has_t = 0;
    dc->no_t = 0;
  }
  size_t tbytes = 0;
  for (uint32_t i = 0; i < nn; i++) {
    const dec_t *d = &((const ehdr_t *)(k->arena + k->dec[first + i].key))->d;
    tbytes += (d->pr_e - d->pr_s) + (d->ip_e - d->ip_s) + (d->nm_e - d->nm_s) + 7;
  }
  CHECK(napi_create_buffer(env, tbytes, &tp, &v[1]));
  CHECK(new_f64(env, (size_t)nn * 7, &e, &v[2]));
  uint8_t *tw = tp;
  for (uint32_t i = 0; i < nn; i++) {
    const ehdr_t *en = (const ehdr_t *)(k->arena + k->dec[first + i].key);
    const uint8_t *key = (const uint8_t *)en + EHDR;
    const dec_t *d = &en->d;
    size_t a = d->pr_e - d->pr_s, b = d->ip_e - d->ip_s, c = d->nm_e - d->nm_s;
    /* principal \0 client IP \0 resource name \0 and the four codes as digits: the decision's key
     * (processor.ts decisionKey), so JavaScript takes it as one slice of the decoded text */
    memcpy(tw, key + d->pr_s, a);
    tw[a] = 0;
    memcpy(tw + a + 1, key + d->ip_s, b);
    tw[a + 1 + b] = 0;
    memcpy(tw + a + b + 2, key + d->nm_s, c);
    uint8_t *cd = tw + a + b + c + 2;
    cd[0] = 0;
    cd[1] = (uint8_t)('0' + d->op);
    cd[2] = (uint8_t)('0' + d->rtype);
    cd[3] = (uint8_t)('0' + d->ptype);
    cd[4] = (uint8_t)('0' + d->allowed);
    tw += a + b + c + 7;
    put_facts(e + (size_t)i * 7, d);
  }
  CHECK(take_skips(env, k, &v[4]));
  CHECK(napi_create_double(env, (double)first, &v[3]));
  k->dec_reported = k->n_dec;
  k->n_touched = 0;
  if (reset) table_clear(k);
  return array_of(env, v, 5);
}

/* reconnect(h): resume.ts ResumeTracker.reconnect */
static napi_value js_reconnect(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  kafka_t *k = argc > 0 ? get_handle(env, argv[0]) : NULL;
  if (!k) return NULL;
  if (k->has_last) {
    lines_clear(&k->replay);
    for (size_t i = 0; i < k->at_last.n; i++)
      lines_add(&k->replay, k->at_last.buf + k->at_last.items[i].off, k->at_last.items[i].len);
    k->replaying = 1;
    k->rep_sec = k->last_sec;
    k->rep_ns = k->last_ns;
  }
  napi_value undef;
  CHECK(napi_get_undefined(env, &undef));
  return undef;
}

/* resetResume(h): resume.ts ResumeTracker.reset */
static napi_value js_reset_resume(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  kafka_t *k = argc > 0 ? get_handle(env, argv[0]) : NULL;
  if (!k) return NULL;
  k->has_last = 0;
  k->replaying = 0;
  lines_clear(&k->at_last);
  lines_clear(&k->replay);
  napi_value undef;
  CHECK(napi_get_undefined(env, &undef));
  return undef;
}

/* lastSeconds(h) → whole seconds of the newest stamp delivered, or undefined */
static napi_value js_last_seconds(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  kafka_t *k = argc > 0 ? get_handle(env, argv[0]) : NULL;
  if (!k) return NULL;
  napi_value out;
  if (!k->has_last)
    CHECK(napi_get_undefined(env, &out));
  else
    CHECK(napi_create_double(env, (double)k->last_sec, &out));
  return out;
}

/* close(h): frees the memory now (the finalizer would otherwise do it at GC) */
static napi_value js_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  void *p = NULL;
  if (argc == 0 || !is_kafka_handle(env, argv[0])) {
    napi_throw_type_error(env, "KAFKA_NATIVE", "expected a kafka scanner handle");
    return NULL;
  }
  if (napi_get_value_external(env, argv[0], &p) == napi_ok && p != NULL) {
    if (((kafka_t *)p)->busy) {
      napi_throw_error(env, "KAFKA_NATIVE", "a readFile on this kafka scanner is still running; await it first");
      return NULL;
    }
    free_kafka(p);
  }
  napi_value undef;
  CHECK(napi_get_undefined(env, &undef));
  return undef;
}

/* parse(buf) → [status, principal start, end, ip start, end, name start, end, op, type, pattern,
 * allowed] over the message `buf` (tests compare it with parse.ts). */
static napi_value js_parse(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  void *data = NULL;
  size_t len = 0;
  napi_typedarray_type t;
  if (argc < 1 || napi_get_typedarray_info(env, argv[0], &t, &len, &data, NULL, NULL) != napi_ok ||
      t != napi_uint8_array) {
    napi_throw_type_error(env, "KAFKA_NATIVE", "parse: expected a Buffer");
    return NULL;
  }
  dec_t d;
  memset(&d, 0, sizeof(d));
  int st = parse_msg(data, len, &d);
  double v[11] = {st, d.pr_s, d.pr_e, d.ip_s, d.ip_e, d.nm_s, d.nm_e, d.op, d.rtype, d.ptype, d.allowed};
  napi_value arr, x;
  CHECK(napi_create_array_with_length(env, 11, &arr));
  for (uint32_t i = 0; i < 11; i++) {
    CHECK(napi_create_double(env, v[i], &x));
    CHECK(napi_set_element(env, arr, i, x));
  }
  return arr;
}

/* keyEnd(buf, marker, end) → processor.ts messageKeyEnd (tests). */
static napi_value js_key_end(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  void *data = NULL;
  size_t len = 0;
  napi_typedarray_type t;
  double m = 0, e = 0;
  if (argc < 3 || napi_get_typedarray_info(env, argv[0], &t, &len, &data, NULL, NULL) != napi_ok ||
      t != napi_uint8_array || napi_get_value_double(env, argv[1], &m) != napi_ok ||
      napi_get_value_double(env, argv[2], &e) != napi_ok || !(m >= 0 && m <= e && e <= (double)len)) {
    napi_throw_type_error(env, "KAFKA_NATIVE", "keyEnd(buffer, marker, end)");
    return NULL;
  }
  napi_value out;
  CHECK(napi_create_double(env, (double)key_end(data, (size_t)m, (size_t)e), &out));
  return out;
}

/* ------------------------------------------------------------------ readFile (file mode) */
/*
 * readFile(h, fd, position, maxBytes, counters[, readBytes[, noThread[, splitMin[, splitAt[, map]]]]])
 * → Promise<[bytesRead,
 * status]>: reads the file from `position` with pread and scans it as push() would, on libuv's
 * thread pool, with the handle's own reused buffers (no JavaScript buffer per chunk): a reader
 * thread fills a ring of NRING buffers of RBUF bytes while the work's thread scans the filled
 * ones. It stops after `maxBytes` (status 0), at the end of the file (1), or at a full key table
 * (2: the rest of that buffer is kept in rbuf; flush with reset and call again, which scans it
 * before reading on from position + bytesRead). bytesRead counts the buffers scanned (buffers
 * read ahead and not scanned are read again next time). A read error rejects with the errno's
 * code (EIO, …). While it runs only flush() may use the handle (it waits on `mu` for the buffer
 * being scanned); everything else throws. Tests: `readBytes` reads less than RBUF per pread (buffer
 * ends anywhere); `noThread` reads and scans on one thread (the path taken when the reader
 * thread cannot be created).
 *
 * A range of at least MAP_MIN bytes (`map` 0, the default) is not copied but memory-mapped and
 * scanned in place in windows of `readBytes` (default RBUF) bytes, SIGBUS-safe against a
 * truncation (read_mapped, ADR 0065); `map` 1 maps every range (tests), 2 never. Ranges that
 * cannot be mapped use the pread path above.
 */
#define RBUF ((size_t)256 << 10)

typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  napi_ref ref;  /* keeps the handle alive while the work runs */
  napi_ref cref; /* the counters array, written on completion */
  kafka_t *k;
  int fd;
  int64_t pos;
  size_t max;
  size_t chunk; /* bytes per pread, <= RBUF */
  int no_thread; /* tests: read and scan on one thread */
  int map;       /* MAP_AUTO, MAP_ALWAYS (tests) or MAP_NEVER (pread only) */
  int64_t split_min; /* split a backlog of at least this many bytes over two threads (0: never) */
  int64_t split_at;  /* tests: where to look for the split's newline (-1: the middle) */
  /* results */
  int64_t got;
  int status;
  int err;
} rd_t;

/* Read-ahead: a reader thread fills a ring of NRING buffers with pread while the work's thread
 * scans the filled ones, so that the kernel's copy into the next buffer overlaps the scan. */
#define NRING 4u
typedef struct {
  rd_t *w;
  pthread_mutex_t m;
  pthread_cond_t cv;
  size_t len[NRING];
  unsigned head, tail; /* buffers filled / scanned (head - tail <= NRING) */
  int64_t ahead;       /* bytes read so far */
  int eof, err, done, stop;
  int rwait, swait; /* the reader / the scanner is waiting on cv (only then is it signalled) */
  int single; /* no reader thread: rd_reader fills the ring and returns */
} ring_t;

static void *rd_reader(void *arg) {
  ring_t *r = arg;
  rd_t *w = r->w;
  for (;;) {
    pthread_mutex_lock(&r->m);
    while (r->head - r->tail == NRING && !r->stop && !r->single) {
      r->rwait = 1;
      pthread_cond_wait(&r->cv, &r->m);
      r->rwait = 0;
    }
    int go = !r->stop && (size_t)r->ahead < w->max && r->head - r->tail < NRING;
    pthread_mutex_unlock(&r->m);
    if (!go) break;
    uint8_t *dst = w->k->ring + (size_t)(r->head % NRING) * RBUF;
    size_t want = w->max - (size_t)r->ahead < w->chunk ? w->max - (size_t)r->ahead : w->chunk; /* never past maxBytes */
    ssize_t n = pread(w->fd, dst, want, (off_t)(w->pos + r->ahead));
    if (n < 0 && errno == EINTR) continue;
    pthread_mutex_lock(&r->m);
    if (n < 0)
      r->err = errno;
    else if (n == 0)
      r->eof = 1;
    else {
      r->len[r->head % NRING] = (size_t)n;
      r->ahead += n;
      r->head++;
    }
    if (r->swait || n <= 0) pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->m);
    if (n <= 0) break;
  }
  pthread_mutex_lock(&r->m);
  r->done = 1;
  pthread_cond_broadcast(&r->cv);
  pthread_mutex_unlock(&r->m);
  return NULL;
}

/*
 * The mapped read (ADR 0065). A range of at least MAP_MIN bytes is memory-mapped (the size known
 * from fstat at that moment, never more than maxBytes) and scanned in windows of `chunk` bytes
 * straight from the page cache: no copy into read buffers, no reader thread. A file truncated
 * while mapped would raise SIGBUS on the pages past its new end. This module's SIGBUS handler
 * (installed once, process-wide, SA_SIGINFO) looks the fault address up in a table of the live
 * mappings; inside one, it maps anonymous zero pages over the faulting page to the mapping's end
 * (MAP_FIXED) and marks the mapping cut, so the faulting load is retried and reads zeros. Zeros
 * hold no newline: the scan then only completes the lines that ended before the truncation point,
 * and read_mapped, seeing the mark after the window, drops the partial line (real bytes + zeros)
 * and reports the position just after the last whole line as the end of the file. No longjmp out
 * of the scan is needed, so no half-counted batch or held lock is left behind. A fault outside
 * our mappings is passed to the handler installed before ours (or the default action: the
 * process dies of SIGBUS as it would have). When another handler has replaced ours since, or the
 * table is full, or mmap fails, the range is read with pread as before.
 */
#define MAP_AUTO 0
#define MAP_ALWAYS 1
#define MAP_NEVER 2
#define MAP_MIN RBUF
#define NMAPS 64
/* live mappings [lo, hi), page-aligned (lo 0: none; lo is written last and cleared first, so the
 * handler never sees a half-registered range), the slots claimed, and the cut marks */
static _Atomic uintptr_t map_lo[NMAPS], map_hi[NMAPS];
static _Atomic int map_used[NMAPS];
static _Atomic int map_cut[NMAPS]; /* set by the handler: zero pages were mapped in */
static struct sigaction prev_bus;
static size_t page_size;
static pthread_once_t bus_once = PTHREAD_ONCE_INIT;
static int bus_installed;

static void on_sigbus(int sig, siginfo_t *si, void *uc) {
  uintptr_t a = (uintptr_t)si->si_addr;
  int saved = errno;
  if (si->si_code > 0) /* a fault, not a kill(): maybe one of ours */
    for (int i = 0; i < NMAPS; i++) {
      uintptr_t lo = atomic_load(&map_lo[i]), hi = atomic_load(&map_hi[i]);
      if (lo == 0 || a < lo || a >= hi) continue;
      uintptr_t pg = a & ~(uintptr_t)(page_size - 1);
      /* mmap is a plain system call on Linux (safe in a handler); the range stays ours until
       * read_mapped unmaps it, after the scan that faulted has returned */
      if (mmap((void *)pg, hi - pg, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != MAP_FAILED) {
        atomic_store(&map_cut[i], 1);
        errno = saved;
        return;
      }
      break;
    }
  errno = saved;
  /* not ours: what would have happened without this module */
  if (prev_bus.sa_flags & SA_SIGINFO) {
    if (prev_bus.sa_sigaction) prev_bus.sa_sigaction(sig, si, uc);
    return;
  }
  if (prev_bus.sa_handler != SIG_DFL && prev_bus.sa_handler != SIG_IGN) {
    prev_bus.sa_handler(sig);
    return;
  }
  struct sigaction dfl;
  memset(&dfl, 0, sizeof(dfl));
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  sigaction(SIGBUS, &dfl, NULL);
  raise(sig); /* blocked while this handler runs: delivered (default action) when it returns */
}

static void bus_install(void) {
  long ps = sysconf(_SC_PAGESIZE);
  if (ps <= 0) return;
  page_size = (size_t)ps;
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_sigaction = on_sigbus;
  sa.sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK;
  sigemptyset(&sa.sa_mask);
  if (sigaction(SIGBUS, &sa, &prev_bus) == 0) bus_installed = 1;
}

/* Whether our handler is (still) the process's SIGBUS handler. */
static int bus_ready(void) {
  pthread_once(&bus_once, bus_install);
  if (!bus_installed) return 0;
  struct sigaction cur;
  return sigaction(SIGBUS, NULL, &cur) == 0 && (cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction == on_sigbus;
}

static int map_register(uintptr_t lo, uintptr_t hi) {
  for (int i = 0; i < NMAPS; i++) {
    int z = 0;
    if (atomic_load(&map_used[i]) == 0 && atomic_compare_exchange_strong(&map_used[i], &z, 1)) {
      atomic_store(&map_cut[i], 0);
      atomic_store(&map_hi[i], hi);
      atomic_store(&map_lo[i], lo);
      return i;
    }
  }
  return -1;
}

static void map_unregister(int i) {
  atomic_store(&map_lo[i], 0);
  atomic_store(&map_hi[i], 0);
  atomic_store(&map_used[i], 0);
}

/* The handle's state at the start of a mapped window (with the journal: what undo needs). */
typedef struct {
  uint32_t n_ent, n_dec, n_touched;
  size_t arena_used, text_used, held_len;
  double lines, too_long, skips[5];
  int skipping;
} ckpt_t;

static void window_begin(kafka_t *k, ckpt_t *c) {
  c->n_ent = k->n_ent;
  c->n_dec = k->n_dec;
  c->n_touched = k->n_touched;
  c->arena_used = k->arena_used;
  c->text_used = k->text_used;
  c->held_len = k->held_len;
  c->lines = k->lines;
  c->too_long = k->too_long;
  memcpy(c->skips, k->skips, sizeof(c->skips));
  c->skipping = k->skipping;
  memcpy(k->held_bak, k->held, k->held_len);
  if (++k->epoch == 0) k->epoch = 1;
  k->n_jn = 0;
  k->jn_on = 1;
}

/* Undoes the window begun with c: the keys' counts and times from the journal, the keys and
 * decisions added since (dropped; their hash tables rebuilt), the counters and the held line.
 * The line-time cache needs nothing (a pure function of a stamp's bytes). */
static void window_undo(kafka_t *k, const ckpt_t *c) {
  for (uint32_t i = k->n_jn; i-- > 0;) {
    const jrec_t *j = &k->jn[i];
    ehdr_t *en = (ehdr_t *)(k->arena + j->off);
    en->count = j->count;
    en->max_t = j->max_t;
    en->has_t = j->has_t;
    en->no_t = j->no_t;
  }
  if (k->arena_used != c->arena_used) {
    memset(k->slots, 0xff, KSLOTS * sizeof(uint64_t));
    for (size_t off = 0; off < c->arena_used;) {
      const ehdr_t *en = (const ehdr_t *)(k->arena + off);
      uint64_t h = key_hash(k, k->arena + off + EHDR, en->len);
      uint32_t slot = (uint32_t)h & (KSLOTS - 1);
      while (k->slots[slot] != KEMPTY) slot = (slot + 1) & (KSLOTS - 1);
      k->slots[slot] = (h >> 32) << 32 | off;
      off = (off + EHDR + en->len + 7) & ~(size_t)7;
    }
  }
  if (k->n_dec != c->n_dec) {
    memset(k->dslots, 0xff, SLOTS * sizeof(int32_t));
    for (uint32_t i = 0; i < c->n_dec; i++) {
      uint32_t slot = (uint32_t)k->dec[i].hash & (SLOTS - 1);
      while (k->dslots[slot] >= 0) slot = (slot + 1) & (SLOTS - 1);
      k->dslots[slot] = (int32_t)i;
    }
  }
  k->n_ent = c->n_ent;
  k->n_dec = c->n_dec;
  k->n_touched = c->n_touched;
  k->arena_used = c->arena_used;
  k->text_used = c->text_used;
  k->lines = c->lines;
  k->too_long = c->too_long;
  memcpy(k->skips, c->skips, sizeof(c->skips));
  k->skipping = c->skipping;
  memcpy(k->held, k->held_bak, c->held_len);
  k->held_len = c->held_len;
  k->jn_on = 0;
}

/*
 * Reads and scans [w->pos, w->pos + w->max) of w->fd into w->k through mappings of at most
 * MAP_PIECE bytes at a time (the mapped file pages in RSS stay bounded), in windows of w->chunk
 * bytes. Returns 0 when it did not map (nothing was scanned: the caller reads with pread).
 *
 * Each window is scanned with a journal (window_begin) and checked afterwards, under the handle's
 * lock: when the SIGBUS handler cut the mapping or fstat shows the file now ends before the
 * window's end, the file was truncated while the window was scanned, and some bytes may have been
 * read before the cut and others (zeros) after it, even within one line (lines are looked up in
 * batches after their end was found). The window is then undone (window_undo) and read again
 * with pread (which copies only bytes below the file's current end), and the read ends there as
 * at the end of the file: exactly what the pread path would have read.
 */
#define MAP_PIECE ((size_t)8 << 20)
static int read_mapped(rd_t *w) {
  kafka_t *k = w->k;
  struct stat st;
  if (w->map == MAP_NEVER || fstat(w->fd, &st) != 0 || !S_ISREG(st.st_mode)) return 0;
  if (st.st_size <= w->pos) { /* nothing there: the end of the file, as a pread returning 0 */
    if (w->map == MAP_AUTO) return 0;
    w->status = 1;
    return 1;
  }
  size_t len = (uint64_t)(st.st_size - w->pos) < w->max ? (size_t)(st.st_size - w->pos) : w->max;
  if ((w->map == MAP_AUTO && len < MAP_MIN) || !bus_ready()) return 0;
  if (!k->jn) k->jn = malloc(MAX_KEYS * sizeof(jrec_t));
  if (!k->held_bak) k->held_bak = malloc(k->max + 1);
  if (!k->jn || !k->held_bak) return 0;
  size_t off = 0; /* bytes of the range scanned */
  int cut = 0;
  while (off < len && !cut && w->status == 0 && !w->err) {
    int64_t at = w->pos + (int64_t)off;
    size_t lead = (size_t)at & (page_size - 1);
    size_t plen = len - off < MAP_PIECE ? len - off : MAP_PIECE;
    size_t mlen = (lead + plen + page_size - 1) & ~(page_size - 1);
    uint8_t *m = mmap(NULL, mlen, PROT_READ, MAP_SHARED, w->fd, (off_t)(at - (int64_t)lead));
    if (m == MAP_FAILED) {
      if (off == 0) return 0;
      break; /* status 0 with what was scanned: the next call reads on */
    }
    int slot = map_register((uintptr_t)m, (uintptr_t)m + mlen);
    if (slot < 0) {
      munmap(m, mlen);
      if (off == 0) return 0;
      break;
    }
    madvise(m, mlen, MADV_SEQUENTIAL);
    madvise(m, mlen, MADV_WILLNEED);
    k->mapped++;
    const uint8_t *base = m + lead;
    for (size_t po = 0; po < plen;) {
      size_t n = plen - po < w->chunk ? plen - po : w->chunk;
      const uint8_t *src = base + po;
      int64_t wat = at + (int64_t)po; /* the window's file offset */
      ckpt_t c;
      pthread_mutex_lock(&k->mu);
      window_begin(k, &c);
      size_t done = push(k, src, n, 0);
      if (done < n) memcpy(k->rbuf, src + done, n - done); /* full table: the rest, for the next call */
      struct stat now;
      int torn = atomic_load(&map_cut[slot]) || (fstat(w->fd, &now) == 0 && now.st_size < wat + (int64_t)n);
      if (!torn) {
        k->jn_on = 0;
        pthread_mutex_unlock(&k->mu);
        po += n;
        w->got = (int64_t)(off + po);
        if (done < n) {
          /* key table full (or the bytes changed under the scan without a truncation: a private
           * copy of the rest is scanned next call) */
          k->rlen = n - done;
          k->roff = 0;
          w->status = 2;
          break;
        }
        continue;
      }
      /* truncated while this window was scanned: undo it, read it again with pread, end there */
      window_undo(k, &c);
      k->cut++;
      cut = 1;
      ssize_t r;
      do r = pread(w->fd, k->rbuf, n, (off_t)wat);
      while (r < 0 && errno == EINTR);
      if (r < 0) {
        w->err = errno;
      } else {
        size_t d = push(k, k->rbuf, (size_t)r, 0);
        w->got = (int64_t)(off + po) + r;
        w->status = 1;
        if (d < (size_t)r) {
          k->rlen = (size_t)r;
          k->roff = d;
          w->status = 2;
        }
      }
      pthread_mutex_unlock(&k->mu);
      break;
    }
    map_unregister(slot);
    munmap(m, mlen);
    off += plen;
  }
  if (w->status == 0 && !w->err && (size_t)w->got == len && len < w->max) w->status = 1; /* the end of the file (as fstat saw it) */
  return 1;
}

/* Reads and scans [w->pos, w->pos + w->max) of w->fd into w->k with the read-ahead ring. */
static void read_range(rd_t *w) {
  kafka_t *k = w->k;
  if (w->max == 0) return;
  if (read_mapped(w)) return;
  ring_t r;
  memset(&r, 0, sizeof(r));
  r.w = w;
  pthread_mutex_init(&r.m, NULL);
  pthread_cond_init(&r.cv, NULL);
  pthread_t th;
  /* a follow-mode poll usually finds little or nothing new: no reader thread for one buffer's worth */
  struct stat st;
  int small = fstat(w->fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size - w->pos <= (int64_t)w->chunk;
  int threaded = !w->no_thread && !small && pthread_create(&th, NULL, rd_reader, &r) == 0;
  if (!threaded) { /* no thread: read a ring's worth, scan it, and so on (same result) */
    r.single = 1;
    rd_reader(&r);
  }
  for (;;) {
    pthread_mutex_lock(&r.m);
    while (r.tail == r.head && !r.done) {
      r.swait = 1;
      pthread_cond_wait(&r.cv, &r.m);
      r.swait = 0;
    }
    if (r.tail == r.head) { /* the reader stopped: end of file, error or maxBytes */
      pthread_mutex_unlock(&r.m);
      if (!threaded && !r.eof && !r.err && (size_t)w->got < w->max) {
        r.done = 0; /* read the next ring's worth */
        rd_reader(&r);
        continue;
      }
      break;
    }
    size_t n = r.len[r.tail % NRING];
    const uint8_t *src = k->ring + (size_t)(r.tail % NRING) * RBUF;
    pthread_mutex_unlock(&r.m);
    pthread_mutex_lock(&k->mu);
    size_t done = push(k, src, n, 0);
    pthread_mutex_unlock(&k->mu);
    w->got += (int64_t)n;
    if (done < n) {
      /* key table full: keep the rest of this buffer for the next call; buffers read ahead of it
       * are dropped (the next call reads them again from position + got) */
      memcpy(k->rbuf, src + done, n - done);
      k->rlen = n - done;
      k->roff = 0;
      w->status = 2;
      break;
    }
    pthread_mutex_lock(&r.m);
    r.tail++;
    if (r.rwait) pthread_cond_broadcast(&r.cv);
    pthread_mutex_unlock(&r.m);
  }
  pthread_mutex_lock(&r.m);
  r.stop = 1;
  pthread_cond_broadcast(&r.cv);
  pthread_mutex_unlock(&r.m);
  if (threaded) pthread_join(th, NULL);
  if (w->status != 2) {
    if (r.tail == r.head && r.err) w->err = r.err;
    else if (r.tail == r.head && r.eof) w->status = 1;
  }
  pthread_cond_destroy(&r.cv);
  pthread_mutex_destroy(&r.m);
}

/* The aux scanner of k, reset (allocated at the first use; NULL when out of memory). */
static kafka_t *aux_of(kafka_t *k) {
  if (!k->aux) {
    kafka_t *a = new_kafka(k->pod, k->scalar, k->max);
    if (!a) return NULL;
    a->vhash = k->vhash;
    a->rbuf = malloc(RBUF);
    a->ring = malloc(NRING * RBUF);
    if (!a->rbuf || !a->ring) {
      free_kafka(a);
      pthread_mutex_destroy(&a->mu);
      free(a);
      return NULL;
    }
    k->aux = a;
  }
  kafka_t *a = k->aux;
  table_clear(a);
  a->lines = a->too_long = 0;
  memset(a->skips, 0, sizeof(a->skips));
  a->held_len = 0;
  a->skipping = 0;
  a->rlen = a->roff = 0;
  a->tc.valid = 0;
  return a;
}

static void *aux_thread(void *arg) {
  read_range(arg);
  return NULL;
}

/* The key p[0, n) of hash h in k's table, or NULL; *slot is where it is or would go. */
static ehdr_t *find_key(const kafka_t *k, const uint8_t *p, size_t n, uint64_t h, uint32_t *slot) {
  uint32_t tag = (uint32_t)(h >> 32);
  uint32_t sl = (uint32_t)h & (KSLOTS - 1);
  for (;;) {
    uint64_t v = k->slots[sl];
    if (v == KEMPTY) break;
    if ((uint32_t)(v >> 32) == tag) {
      ehdr_t *c = (ehdr_t *)(k->arena + (uint32_t)v);
      if (c->len == n && memcmp((const uint8_t *)c + EHDR, p, n) == 0) {
        *slot = sl;
        return c;
      }
    }
    sl = (sl + 1) & (KSLOTS - 1);
  }
  *slot = sl;
  return NULL;
}

/* Whether every key of b can join a's table without a full table: then the sequential scan of
 * b's bytes after a's would not have stopped either. Its table would end with a's keys plus
 * those of b's that a lacks (counted here), and a table only grows between flushes, so that is
 * its largest state; room_for keeps room for 2 x BATCH pending lines on top of it. */
static int merge_fits(const kafka_t *a, const kafka_t *b) {
  size_t keys = a->n_ent, text = a->text_used;
  for (size_t off = 0; off < b->arena_used;) {
    const ehdr_t *eb = (const ehdr_t *)(b->arena + off);
    const uint8_t *key = b->arena + off + EHDR;
    size_t klen = eb->len;
    off = (off + EHDR + klen + 7) & ~(size_t)7;
    uint32_t slot;
    if (find_key(a, key, klen, key_hash(a, key, klen), &slot) == NULL) {
      keys++;
      text += klen;
    }
  }
  return keys + 2 * BATCH + 1 < MAX_KEYS && text + (2 * BATCH + 2) * (a->max + 1) <= a->text_cap;
}

/* Adds b (the scan of the bytes right after a's, from a line start) into a, with the same end
 * state as if a had scanned those bytes itself: b's keys in b's insertion order (= first-seen
 * order: new keys get their decisions in that order, keys not yet counted since a's last flush
 * are touched in that order), counts add, the newest time is a max, the no-time and has-time
 * flags or, line / too-long / skip counters add, and b's partial last line becomes a's. Caller
 * checked merge_fits and that a holds no partial line. */
static void merge_into(kafka_t *a, kafka_t *b) {
  for (size_t off = 0; off < b->arena_used;) {
    const ehdr_t *eb = (const ehdr_t *)(b->arena + off);
    const uint8_t *key = b->arena + off + EHDR;
    size_t klen = eb->len;
    off = (off + EHDR + klen + 7) & ~(size_t)7;
    uint64_t h = key_hash(a, key, klen);
    uint32_t tag = (uint32_t)(h >> 32);
    uint32_t slot;
    ehdr_t *en = find_key(a, key, klen, h, &slot);
    if (en == NULL) {
      a->n_ent++;
      uint32_t o = (uint32_t)a->arena_used;
      en = (ehdr_t *)(a->arena + o);
      memset(en, 0, sizeof(*en));
      en->len = (uint32_t)klen;
      memcpy(a->arena + o + EHDR, key, klen);
      a->arena_used = (o + EHDR + klen + 7) & ~(size_t)7;
      a->text_used += klen;
      en->status = eb->status; /* parse_msg of the same bytes */
      en->d = eb->d;
      en->dec = en->status == P_OK ? decision_of(a, o) : -1;
      a->slots[slot] = (uint64_t)tag << 32 | o;
    }
    if (en->status != P_OK || eb->count == 0) continue;
    if (en->count == 0) a->touched[a->n_touched++] = (uint32_t)((uint8_t *)en - a->arena);
    en->count += eb->count;
    if (eb->has_t && (!en->has_t || eb->max_t > en->max_t)) en->max_t = eb->max_t;
    en->has_t |= eb->has_t;
    en->no_t |= eb->no_t;
  }
  for (int i = 0; i < 5; i++) a->skips[i] += b->skips[i];
  a->lines += b->lines;
  a->too_long += b->too_long;
  memcpy(a->held, b->held, b->held_len);
  a->held_len = b->held_len;
  a->skipping = b->skipping;
}

#define SPLIT_PROBE ((size_t)64 << 10)

/* A large backlog on two threads: [pos, split) on this one into k, [split, pos + max) on another
 * into k->aux, split just after a newline near the middle; then aux is merged into k. Returns 0
 * when it did not split (nothing was read). Whenever the merged state could differ from one
 * sequential scan (k's half stopped early, at a full table or mid-line; aux's half failed or
 * filled its table; the two would not fit one table) aux's work is dropped and the second half
 * is read again sequentially into k, so the result is always the sequential one. */
static int split_read(rd_t *w, int64_t range) {
  kafka_t *k = w->k;
  int64_t probe = w->split_at >= 0 ? w->split_at : w->pos + range / 2;
  if (probe <= w->pos || probe >= w->pos + range) return 0;
  uint8_t *pb = k->rbuf; /* free: no unscanned rest (rd_execute scanned it) */
  ssize_t n;
  do n = pread(w->fd, pb, SPLIT_PROBE, (off_t)probe);
  while (n < 0 && errno == EINTR);
  if (n <= 0) return 0;
  const uint8_t *nl = memchr(pb, '\n', (size_t)n);
  if (!nl) return 0;
  int64_t split = probe + (nl - pb) + 1;
  if (split >= w->pos + range) return 0;
  kafka_t *a = aux_of(k);
  if (!a) return 0;
  rd_t wb;
  memset(&wb, 0, sizeof(wb));
  wb.k = a;
  wb.fd = w->fd;
  wb.pos = split;
  wb.max = w->max - (size_t)(split - w->pos);
  wb.chunk = w->chunk;
  wb.no_thread = w->no_thread;
  pthread_t th;
  if (pthread_create(&th, NULL, aux_thread, &wb) != 0) return 0;
  rd_t wa = *w;
  wa.max = (size_t)(split - w->pos);
  read_range(&wa);
  pthread_join(th, NULL);
  k->mapped += a->mapped; /* the second half's mapped ranges count as the handle's */
  k->cut += a->cut;
  a->mapped = a->cut = 0;
  w->got = wa.got;
  w->status = wa.status;
  w->err = wa.err;
  if (wa.err || wa.status != 0 || wa.got != split - w->pos) return 1; /* stopped in the first half */
  k->splits++;
  pthread_mutex_lock(&k->mu);
  int ok = !wb.err && wb.status != 2 && k->held_len == 0 && !k->skipping && merge_fits(k, a);
  if (ok) merge_into(k, a);
  pthread_mutex_unlock(&k->mu);
  if (ok) {
    k->merges++;
    w->got += wb.got;
    w->status = wb.status;
    return 1;
  }
  /* the second half again, sequentially */
  rd_t w2 = *w;
  w2.pos = split;
  w2.max = wb.max;
  w2.got = 0;
  w2.status = 0;
  w2.err = 0;
  read_range(&w2);
  w->got += w2.got;
  w->status = w2.status;
  w->err = w2.err;
  return 1;
}

static void rd_execute(napi_env env, void *data) {
  rd_t *w = data;
  kafka_t *k = w->k;
  if (k->roff < k->rlen) {
    pthread_mutex_lock(&k->mu);
    size_t r = push(k, k->rbuf, k->rlen, k->roff);
    pthread_mutex_unlock(&k->mu);
    if (r < k->rlen) {
      k->roff = r;
      w->status = 2;
      return;
    }
    k->rlen = k->roff = 0;
  }
  if (w->max == 0) return;
  if (w->split_min > 0) {
    struct stat st;
    int64_t range = fstat(w->fd, &st) == 0 && S_ISREG(st.st_mode) ? st.st_size - w->pos : 0;
    if (range > (int64_t)w->max) range = (int64_t)w->max;
    if (range >= w->split_min && split_read(w, range)) return;
  }
  read_range(w);
}

static void rd_complete(napi_env env, napi_status status, void *data) {
  rd_t *w = data;
  w->k->busy = 0;
  napi_value v, counters;
  if (napi_get_reference_value(env, w->cref, &counters) == napi_ok && counters != NULL) write_counters(env, w->k, counters);
  if (status != napi_ok || w->err != 0) {
    int e = status != napi_ok ? ECANCELED : w->err;
    const char *name = strerrorname_np(e);
    napi_value code = NULL, msg = NULL, err = NULL;
    if (napi_create_string_utf8(env, name ? name : "EIO", NAPI_AUTO_LENGTH, &code) == napi_ok &&
        napi_create_string_utf8(env, strerror(e), NAPI_AUTO_LENGTH, &msg) == napi_ok &&
        napi_create_error(env, code, msg, &err) == napi_ok)
      napi_reject_deferred(env, w->deferred, err);
  } else {
    napi_value a, b;
    if (napi_create_array_with_length(env, 2, &v) == napi_ok && napi_create_double(env, (double)w->got, &a) == napi_ok &&
        napi_create_double(env, w->status, &b) == napi_ok && napi_set_element(env, v, 0, a) == napi_ok &&
        napi_set_element(env, v, 1, b) == napi_ok)
      napi_resolve_deferred(env, w->deferred, v);
  }
  napi_delete_reference(env, w->ref);
  napi_delete_reference(env, w->cref);
  napi_delete_async_work(env, w->work);
  free(w);
}

/* readFile(h, fd, position, maxBytes, counters[, readBytes[, noThread[, splitMin[, splitAt[, map]]]]]) */
static napi_value js_read_file(napi_env env, napi_callback_info info) {
  size_t argc = 10;
  napi_value argv[10];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  napi_typedarray_type ct;
  size_t cn = 0;
  bool is_ta = false;
  if (argc < 5 || napi_is_typedarray(env, argv[4], &is_ta) != napi_ok || !is_ta ||
      napi_get_typedarray_info(env, argv[4], &ct, &cn, NULL, NULL, NULL) != napi_ok || ct != napi_float64_array ||
      cn < 4) {
    napi_throw_type_error(env, "KAFKA_NATIVE", "readFile(handle, fd, position, maxBytes, counters: Float64Array(4))");
    return NULL;
  }
  kafka_t *k = get_any_handle(env, argv[0]);
  if (!k) return NULL;
  if (k->busy) {
    napi_throw_error(env, "KAFKA_NATIVE", "a readFile on this kafka scanner is still running; await it first");
    return NULL;
  }
  int32_t fd = -1;
  double pos = -1, max = -1;
  if (napi_get_value_int32(env, argv[1], &fd) != napi_ok || fd < 0 ||
      napi_get_value_double(env, argv[2], &pos) != napi_ok || !(pos >= 0 && pos <= 9007199254740991.0) ||
      napi_get_value_double(env, argv[3], &max) != napi_ok || !(max >= 0 && max <= 1073741824.0)) {
    napi_throw_type_error(env, "KAFKA_NATIVE",
                          "readFile: fd must be an open descriptor, position a safe integer >= 0, maxBytes 0..1 GiB");
    return NULL;
  }
  if (k->pod) {
    napi_throw_error(env, "KAFKA_NATIVE", "readFile: only a file-mode scanner reads files");
    return NULL;
  }
  if (!k->rbuf) {
    k->rbuf = malloc(RBUF);
    k->ring = malloc(NRING * RBUF);
    if (!k->rbuf || !k->ring) {
      free(k->rbuf);
      free(k->ring);
      k->rbuf = k->ring = NULL;
      napi_throw_error(env, "KAFKA_NATIVE", "out of memory for the read buffer");
      return NULL;
    }
  }
  rd_t *w = calloc(1, sizeof(rd_t));
  if (!w) {
    napi_throw_error(env, "KAFKA_NATIVE", "out of memory for readFile");
    return NULL;
  }
  w->k = k;
  w->fd = fd;
  w->pos = (int64_t)pos;
  w->max = (size_t)max;
  w->chunk = RBUF;
  double rb = 0;
  if (argc > 5 && napi_get_value_double(env, argv[5], &rb) == napi_ok && rb >= 1 && rb < (double)RBUF)
    w->chunk = (size_t)rb;
  bool nt = false;
  if (argc > 6 && napi_get_value_bool(env, argv[6], &nt) == napi_ok) w->no_thread = nt;
  int32_t mm = MAP_AUTO;
  if (argc > 9 && napi_get_value_int32(env, argv[9], &mm) == napi_ok && mm >= MAP_AUTO && mm <= MAP_NEVER) w->map = mm;
  w->split_min = 0; /* one thread unless splitMin is given */
  w->split_at = -1;
  double sm = 0, sa = 0;
  if (argc > 7 && napi_get_value_double(env, argv[7], &sm) == napi_ok && sm >= 0 && sm <= 9007199254740991.0)
    w->split_min = (int64_t)sm;
  if (argc > 8 && napi_get_value_double(env, argv[8], &sa) == napi_ok && sa >= 0 && sa <= 9007199254740991.0)
    w->split_at = (int64_t)sa;
  napi_value promise, name;
  if (napi_create_promise(env, &w->deferred, &promise) != napi_ok) {
    free(w);
    return NULL;
  }
  if (napi_create_reference(env, argv[0], 1, &w->ref) != napi_ok ||
      napi_create_reference(env, argv[4], 1, &w->cref) != napi_ok ||
      napi_create_string_utf8(env, "callmap_kafka.readFile", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_create_async_work(env, NULL, name, rd_execute, rd_complete, w, &w->work) != napi_ok ||
      napi_queue_async_work(env, w->work) != napi_ok) {
    /* not queued: undo what was made */
    if (w->work) napi_delete_async_work(env, w->work);
    if (w->ref) napi_delete_reference(env, w->ref);
    if (w->cref) napi_delete_reference(env, w->cref);
    napi_value err, msg;
    napi_create_string_utf8(env, "readFile could not be queued", NAPI_AUTO_LENGTH, &msg);
    napi_create_error(env, NULL, msg, &err);
    napi_reject_deferred(env, w->deferred, err);
    free(w);
    return promise;
  }
  k->busy = 1;
  return promise;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"create", NULL, js_create, NULL, NULL, NULL, napi_enumerable, NULL},
      {"push", NULL, js_push, NULL, NULL, NULL, napi_enumerable, NULL},
      {"end", NULL, js_end, NULL, NULL, NULL, napi_enumerable, NULL},
      {"discard", NULL, js_discard, NULL, NULL, NULL, napi_enumerable, NULL},
      {"heldBytes", NULL, js_held, NULL, NULL, NULL, napi_enumerable, NULL},
      {"flush", NULL, js_flush, NULL, NULL, NULL, napi_enumerable, NULL},
      {"reconnect", NULL, js_reconnect, NULL, NULL, NULL, napi_enumerable, NULL},
      {"resetResume", NULL, js_reset_resume, NULL, NULL, NULL, napi_enumerable, NULL},
      {"lastSeconds", NULL, js_last_seconds, NULL, NULL, NULL, napi_enumerable, NULL},
      {"close", NULL, js_close, NULL, NULL, NULL, napi_enumerable, NULL},
      {"parse", NULL, js_parse, NULL, NULL, NULL, napi_enumerable, NULL},
      {"keyEnd", NULL, js_key_end, NULL, NULL, NULL, napi_enumerable, NULL},
      {"readFile", NULL, js_read_file, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  if (napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props) != napi_ok) return NULL;
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
