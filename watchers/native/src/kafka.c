/*
 * callmap_kafka: native scanner + pre-aggregator for the Kafka watcher (Node-API, C11).
 *
 * One handle per log source (a file or one pod-log stream). push() scans whole chunks, keeps the
 * partial last line across chunks (bounded by the line limit) and, for every line holding the
 * `Principal = ` marker, aggregates by the message key (the bytes the TypeScript parser would
 * parse: from the marker to the end of the line, minus a Strimzi ` [thread]` suffix when that
 * provably cannot change the parse) with a count and the newest line time. flush() hands the
 * touched keys to JavaScript, which parses each distinct key once with the TypeScript parser and
 * builds the same observations as the pure TypeScript path (docs/adr/0063-kafka-native-scanner.md).
 *
 * Pod mode additionally does the exactly-once de-duplication of watchers/kafka/resume.ts (the
 * kubelet stamp of every line, the multiset of lines at the newest stamp, the replay after a
 * reconnect), over bytes.
 *
 * Memory is bounded: at most MAX_KEYS keys and ARENA_CAP bytes of key text. When a line might
 * not fit, push() returns early; JavaScript flushes with reset and pushes the rest again.
 */
#define _GNU_SOURCE
#include <node_api.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define HAVE_AVX2_PATH 1
#endif

#define MARKER "Principal = "
#define MLEN 12
#define MAX_KEYS 20000u
#define SLOTS 65536u /* power of two, > 3 x MAX_KEYS */
#define ARENA_CAP ((size_t)8 << 20)
/* Accepted observation times (processor.ts MIN_TIME / MAX_TIME). */
#define MIN_TIME INT64_C(946684800000)
#define MAX_TIME INT64_C(7258118400000)

typedef struct {
  uint64_t hash;
  size_t off;
  uint32_t len;
  uint64_t count; /* lines since the last flush */
  int64_t max_t;  /* newest valid line time since the last flush */
  uint8_t has_t;  /* max_t is set */
  uint8_t no_t;   /* some line had no usable time (JavaScript uses now()) */
} entry_t;

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

typedef struct {
  int pod;
  int scalar;
  size_t max;
  /* partial line held across chunks */
  uint8_t *held;
  size_t held_len;
  int skipping;
  /* counters (cumulative) */
  double lines, dups, too_long, accepted;
  /* aggregation table */
  entry_t *ent;
  uint32_t n_ent, reported;
  int32_t *slots;
  uint8_t *arena;
  size_t arena_used;
  uint32_t *touched;
  uint32_t n_touched;
  /* resume state (pod mode) */
  int has_last;
  int64_t last_sec;
  int32_t last_ns;
  lines_t at_last;
  int replaying;
  int64_t rep_sec;
  int32_t rep_ns;
  lines_t replay;
  int closed;
} kafka_t;

/* ------------------------------------------------------------------ small helpers */

static inline int isdig(uint8_t c) { return c >= '0' && c <= '9'; }

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

/* parse.ts stampMsBytes(b, i, end); b[end] is readable (it is the marker's first byte). */
static int stamp_ms(const uint8_t *b, size_t i, size_t end, int64_t *out) {
  if (end < i + 19) return 0;
  if (!date_time_shape(b, i) || (b[i + 10] != 'T' && b[i + 10] != ' ')) return 0;
  int64_t y = num(b, i, 4), mo = num(b, i + 5, 2), d = num(b, i + 8, 2);
  int64_t h = num(b, i + 11, 2), mi = num(b, i + 14, 2), se = num(b, i + 17, 2);
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60) return 0;
  size_t j = i + 19;
  int64_t ms = 0;
  if (j + 1 < end && (b[j] == '.' || b[j] == ',') && isdig(b[j + 1])) {
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
  *out = (days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se - off_min * 60) * 1000 + ms;
  return 1;
}

/* parse.ts prefixTimeBytes(b, start, end) */
static int prefix_time(const uint8_t *b, size_t start, size_t end, int64_t *out) {
  if (stamp_ms(b, start, end, out)) return 1;
  int64_t limit = (int64_t)end - 19;
  if (limit > (int64_t)start + 64) limit = (int64_t)start + 64;
  for (int64_t i = (int64_t)start; i <= limit; i++) {
    if (isdig(b[i]) && (i == (int64_t)start || !isdig(b[i - 1])))
      if (stamp_ms(b, (size_t)i, end, out)) return 1;
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

static inline uint64_t hash_bytes(const uint8_t *p, size_t n) {
  uint64_t a = 0x9E3779B97F4A7C15ull ^ n, b = 0xC2B2AE3D27D4EB4Full;
  while (n >= 16) {
    uint64_t w1, w2;
    memcpy(&w1, p, 8);
    memcpy(&w2, p + 8, 8);
    a = (a ^ w1) * 0xff51afd7ed558ccdull;
    b = (b ^ w2) * 0xc4ceb9fe1a85ec53ull;
    a ^= a >> 31;
    b ^= b >> 29;
    p += 16;
    n -= 16;
  }
  uint64_t w = 0, v = 0;
  if (n > 8) {
    memcpy(&w, p, 8);
    memcpy(&v, p + 8, n - 8);
  } else {
    memcpy(&w, p, n);
  }
  a = (a ^ w) * 0xff51afd7ed558ccdull;
  b = (b ^ v) * 0xc4ceb9fe1a85ec53ull;
  uint64_t h = a ^ (b >> 7) ^ (b << 13);
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  return h;
}

static const uint8_t *find_marker(const uint8_t *p, size_t n) {
  return n < MLEN ? NULL : memmem(p, n, MARKER, MLEN);
}

/* ------------------------------------------------------------------ aggregation */

static inline int room(const kafka_t *k) {
  return k->n_ent < MAX_KEYS && k->arena_used + k->max + 1 <= ARENA_CAP;
}

static void table_clear(kafka_t *k) {
  k->n_ent = 0;
  k->reported = 0;
  k->arena_used = 0;
  k->n_touched = 0;
  memset(k->slots, 0xff, SLOTS * sizeof(int32_t));
}

static inline int logger_char(uint8_t c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
         c == '$';
}

/*
 * End of the message key for the line p[marker, end): the Strimzi log4j1 ` [thread]` suffix is
 * left out only when it cannot change the parse (the same rule as processor.ts messageKeyEnd):
 * the text before it ends with ` (logger.name)` (not right after `=`), and the thread name has no
 * space and no `]`, so none of the parser's search patterns can occur in the suffix.
 */
static size_t key_end(const uint8_t *p, size_t marker, size_t end) {
  if (end < 2 || p[end - 1] != ']') return end;
  size_t stop = end >= 256 && end - 256 > marker ? end - 256 : marker;
  for (size_t k = end - 2; k > stop; k--) {
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
    return k - 1;
  }
  return end;
}

/* One line p[s, e) (no newline, no trailing CR) with the marker at m. Caller checked room(). */
static void add_marked(kafka_t *k, const uint8_t *p, size_t s, size_t m, size_t e) {
  size_t ke = key_end(p, m, e);
  int64_t t = 0;
  int valid = prefix_time(p, s, m, &t) && t >= MIN_TIME && t <= MAX_TIME;
  const uint8_t *key = p + m;
  size_t klen = ke - m;
  uint64_t h = hash_bytes(key, klen);
  uint32_t slot = (uint32_t)h & (SLOTS - 1);
  entry_t *en = NULL;
  uint32_t idx = 0;
  for (;;) {
    int32_t v = k->slots[slot];
    if (v < 0) break;
    entry_t *c = &k->ent[v];
    if (c->hash == h && c->len == klen && memcmp(k->arena + c->off, key, klen) == 0) {
      en = c;
      idx = (uint32_t)v;
      break;
    }
    slot = (slot + 1) & (SLOTS - 1);
  }
  if (en == NULL) {
    idx = k->n_ent++;
    en = &k->ent[idx];
    en->hash = h;
    en->off = k->arena_used;
    en->len = (uint32_t)klen;
    en->count = 0;
    en->has_t = 0;
    en->no_t = 0;
    memcpy(k->arena + k->arena_used, key, klen);
    k->arena_used += klen;
    k->slots[slot] = (int32_t)idx;
  }
  if (en->count == 0) k->touched[k->n_touched++] = idx;
  en->count++;
  if (valid) {
    if (!en->has_t || t > en->max_t) en->max_t = t;
    en->has_t = 1;
  } else
    en->no_t = 1;
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
  size_t i = ls;
  while (i < limit && i + 64 + MLEN <= len) {
    __m256i a0 = _mm256_loadu_si256((const __m256i *)(buf + i));
    __m256i a1 = _mm256_loadu_si256((const __m256i *)(buf + i + 32));
    __m256i b0 = _mm256_loadu_si256((const __m256i *)(buf + i + 10));
    __m256i b1 = _mm256_loadu_si256((const __m256i *)(buf + i + 42));
    uint64_t nl = (uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(a0, vnl)) |
                  ((uint64_t)(uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(a1, vnl)) << 32);
    uint64_t cp = (uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(a0, vp)) |
                  ((uint64_t)(uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(a1, vp)) << 32);
    uint64_t ce = (uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(b0, veq)) |
                  ((uint64_t)(uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(b1, veq)) << 32);
    uint64_t cand = cp & ce;
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
        if (!room(k)) return ls;
        const uint8_t *e = memchr(buf + m + MLEN, '\n', limit - (m + MLEN));
        size_t ep = (size_t)(e - buf);
        k->lines++;
        if (ep - ls > k->max)
          k->too_long++;
        else
          add_marked(k, buf, ls, m, ep > ls && buf[ep - 1] == '\r' ? ep - 1 : ep);
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
  return scan_scalar(k, buf, ls, limit);
}
static int have_avx2 = -1;
#endif

/* Complete lines of buf[ls, limit). */
static size_t scan(kafka_t *k, const uint8_t *buf, size_t ls, size_t limit, size_t len) {
  if (k->pod) return scan_scalar(k, buf, ls, limit);
#ifdef HAVE_AVX2_PATH
  if (have_avx2 < 0) {
    __builtin_cpu_init();
    have_avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("bmi") && __builtin_cpu_supports("popcnt");
  }
  if (have_avx2 && !k->scalar) return scan_file_avx2(k, buf, ls, limit, len);
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

/* Returns the offset reached: the chunk's length, or less when the key table is full. */
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
  free(k->held);
  free(k->ent);
  free(k->slots);
  free(k->arena);
  free(k->touched);
  lines_free(&k->at_last);
  lines_free(&k->replay);
  k->held = NULL;
  k->ent = NULL;
  k->slots = NULL;
  k->arena = NULL;
  k->touched = NULL;
}

static void finalize(napi_env env, void *data, void *hint) {
  kafka_t *k = data;
  free_kafka(k);
  free(k);
}

static kafka_t *get_handle(napi_env env, napi_value v) {
  void *p = NULL;
  if (napi_get_value_external(env, v, &p) != napi_ok || p == NULL) {
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
  kafka_t *k = calloc(1, sizeof(kafka_t));
  if (!k) goto oom;
  k->pod = pod;
  k->scalar = scalar;
  k->max = (size_t)max;
  k->held = malloc(k->max + 1);
  k->ent = malloc(MAX_KEYS * sizeof(entry_t));
  k->slots = malloc(SLOTS * sizeof(int32_t));
  k->arena = malloc(ARENA_CAP);
  k->touched = malloc(MAX_KEYS * sizeof(uint32_t));
  if (!k->held || !k->ent || !k->slots || !k->arena || !k->touched) {
    free_kafka(k);
    free(k);
    goto oom;
  }
  table_clear(k);
  napi_value ext;
  if (napi_create_external(env, k, finalize, NULL, &ext) != napi_ok) {
    free_kafka(k);
    free(k);
    return NULL;
  }
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
  size_t start = off > 0 ? (size_t)off : 0;
  size_t r = push(k, data, len, start > len ? len : start);
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

/*
 * flush(h, reset) → undefined, or [rows, keys, keyEnds, firstNewId]:
 * rows: Float64Array of (id, count, newest valid time or NaN, 1 when a line had no usable time);
 * keys: Buffer with the text of keys first seen since the last flush (ids firstNewId…), keyEnds
 * their end offsets. With reset, the key table is emptied afterwards (ids start again at 0).
 */
static napi_value js_flush(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  kafka_t *k = argc > 0 ? get_handle(env, argv[0]) : NULL;
  if (!k) return NULL;
  bool reset = false;
  if (argc > 1) napi_get_value_bool(env, argv[1], &reset);
  napi_value undef;
  CHECK(napi_get_undefined(env, &undef));
  if (k->n_touched == 0 && k->reported == k->n_ent) {
    if (reset) table_clear(k);
    return undef;
  }
  uint32_t nt = k->n_touched, nn = k->n_ent - k->reported;
  napi_value rows_ab, rows, keys, ends_ab, ends, first, arr;
  void *rp = NULL, *ep = NULL, *kp = NULL;
  CHECK(napi_create_arraybuffer(env, (size_t)nt * 4 * sizeof(double), &rp, &rows_ab));
  CHECK(napi_create_typedarray(env, napi_float64_array, (size_t)nt * 4, rows_ab, 0, &rows));
  double *r = rp;
  for (uint32_t i = 0; i < nt; i++) {
    entry_t *en = &k->ent[k->touched[i]];
    r[i * 4] = k->touched[i];
    r[i * 4 + 1] = (double)en->count;
    r[i * 4 + 2] = en->has_t ? (double)en->max_t : __builtin_nan("");
    r[i * 4 + 3] = en->no_t;
    en->count = 0;
    en->has_t = 0;
    en->no_t = 0;
  }
  size_t kbytes = 0;
  if (nn > 0) kbytes = k->arena_used - k->ent[k->reported].off;
  CHECK(napi_create_buffer(env, kbytes, &kp, &keys));
  if (kbytes > 0) memcpy(kp, k->arena + k->ent[k->reported].off, kbytes);
  CHECK(napi_create_arraybuffer(env, (size_t)nn * sizeof(double), &ep, &ends_ab));
  CHECK(napi_create_typedarray(env, napi_float64_array, nn, ends_ab, 0, &ends));
  double *e = ep;
  size_t base = nn > 0 ? k->ent[k->reported].off : 0;
  for (uint32_t i = 0; i < nn; i++) {
    entry_t *en = &k->ent[k->reported + i];
    e[i] = (double)(en->off + en->len - base);
  }
  CHECK(napi_create_double(env, (double)k->reported, &first));
  k->reported = k->n_ent;
  k->n_touched = 0;
  if (reset) table_clear(k);
  CHECK(napi_create_array_with_length(env, 4, &arr));
  CHECK(napi_set_element(env, arr, 0, rows));
  CHECK(napi_set_element(env, arr, 1, keys));
  CHECK(napi_set_element(env, arr, 2, ends));
  CHECK(napi_set_element(env, arr, 3, first));
  return arr;
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
  if (argc > 0 && napi_get_value_external(env, argv[0], &p) == napi_ok && p != NULL) free_kafka(p);
  napi_value undef;
  CHECK(napi_get_undefined(env, &undef));
  return undef;
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
  };
  if (napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props) != napi_ok) return NULL;
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
