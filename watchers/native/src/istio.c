/*
 * callmap_istio: native fast path of the Istio watcher (docs/adr/0052-istio-native-parser.md).
 *
 * One "source" object per scraped proxy holds:
 *  - the streaming Prometheus text reader (line carry across chunks, line-length cap),
 *  - a tuple cache: the raw projection-relevant label values of a series (metric, reporter,
 *    workloads, namespaces, services, method, path) -> what the TypeScript projection made of
 *    them (an edge index, or a skip reason), asked once per new tuple through a JS callback,
 *  - the counter state per edge (last committed value, sum on the current page, generation),
 *    kept in insertion order so commit() yields deltas in the same order as the TS Map.
 * Only edges whose counter changed cross back into JS (commit()).
 *
 * The line grammar mirrors watchers/istio/prometheus.ts (its full walk) byte for byte; the
 * tests run both over the fixture corpus and random pages and compare.
 */
#include <emmintrin.h>
#include <immintrin.h>
#include <math.h>
#include <node_api.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(call)                                                                                \
  do {                                                                                             \
    if ((call) != napi_ok) return NULL;                                                            \
  } while (0)

enum {
  SKIP_MALFORMED = 0,
  SKIP_TOO_LONG = 1,
  SKIP_INVALID_VALUE = 2,
  NUM_SKIPS = 7,
};

/* Fields of a tuple, in key order. F_URLPATH is folded into F_PATH before keying. */
enum { F_REPORTER, F_SW, F_SNS, F_DW, F_DNS, F_DS, F_DSN, F_METHOD, F_PATH, F_URLPATH, NF };
#define NKEYED 9

typedef struct {
  const uint8_t *p;
  uint32_t len;
  uint8_t present;
} Field;

/* A distinct label tuple. Kept densely in first-sight order (pages list their series in the same
 * order every scrape), with the key bytes in an arena in the same order, so a steady page reads
 * both sequentially; `next` predicts the tuple of the following line. */
typedef struct {
  uint64_t hash;
  uint64_t keyoff; /* into the key arena */
  uint32_t keylen;
  uint32_t gen;
  int64_t code; /* <0: -(2+skip reason); >=0: edge index * 4 + flags */
  uint32_t next; /* the tuple that followed this one on the last page read, or NONE */
} Tuple;

#define NONE 0xFFFFFFFFu

/* A known series (ADR 0053): the raw bytes of a line from its start through the '}' that closes
 * its labels (its "key": the value and timestamp never contain '}', and the full walk's result
 * depends on nothing else), and the tuple the full walk made of it. A line that starts with the
 * predicted series' key bytes takes that tuple and has only its value read: no quote scan, no
 * label walk, no line-end search over the labels. Series are kept densely in first-sight order;
 * `next` predicts the series of the next line. The key is stored as a list of segments (the
 * metric and '{', then each label with its ',' or '}'), each interned once per proxy: a page's
 * label pairs repeat across its series, so a key costs about 4 bytes per label, not its length. */
typedef struct {
  uint64_t hash;   /* of its segment ids */
  uint32_t segoff; /* its first segment entry in s->ids */
  uint32_t nseg;
  uint32_t keylen;
  uint32_t gen;
  uint32_t tuple;
  uint32_t next;
  uint8_t metric;
} Series;

/* An interned segment: bytes in s->segbytes (kept with SEG_PAD readable bytes after the end). */
typedef struct {
  uint64_t hash;
  uint32_t off, len;
} Seg;

/* Longer keys (pathological label values) are not kept: such lines take the full walk. A label
 * takes at least 5 key bytes (`a="",`), so a kept key has at most MAX_SERIES_KEY / 5 + 1 segments. */
#define MAX_SERIES_KEY 8192
#define MAX_BOUNDS 2048
#define SEG_PAD 64
/* A key's segment entry, 32 bits: the segment id and its length when under 255 (so the compare can
 * advance through a key without waiting for the segment table), else 255: look it up. */
#define ENT(id, len) (((uint32_t)(id) << 8) | (uint32_t)((len) < 255 ? (len) : 255))
#define ENT_ID(e) ((e) >> 8)
#define ENT_LEN(s, e) (((e) & 255) != 255 ? ((e) & 255) : (s)->segs[ENT_ID(e)].len)
#define MAX_SEGS ((1u << 24) - 1)
/* Consecutive labels are merged into one segment while it stays within two 64-byte compares (fewer
 * segments per key; the segments unique to a series grow a little). */
#define SEG_MERGE 128
#define SEG_RECENT 1024
#define LEARN_PROBE 8

/* An edge (what the TS projection made of a tuple), identified by its record: the projection's
 * fields as a string from JS (engine.ts edgeRecord), stored one byte per char when every char
 * fits (latin1), else as UTF-16. Kept densely in first-sight order (= the TS Map's order). */
typedef struct {
  double last;
  double cur;
  uint64_t hash;
  uint64_t recoff; /* into the record arena */
  uint32_t reclen; /* bytes */
  uint32_t gen;
  uint32_t server; /* server id + 1 for reporter="destination" edges, else 0 */
  uint32_t id;     /* stable while the edge lives (commit() hands out ids, not records); reused once it is gone */
  uint32_t seq;    /* created since the last commit: JS built its Edge as pending[seq] (ADR 0054); else NONE */
  uint8_t has_last;
  uint8_t wide;  /* record stored as UTF-16 */
  uint8_t known; /* JS holds this id's Edge (a commit adopted it) */
} Edge;

typedef struct {
  /* reader */
  uint8_t *carry;
  size_t carry_len, carry_cap;
  int skipping;
  size_t max_line;
  unsigned metrics_mask;
  /* scratch for one line */
  uint8_t *scratch;
  size_t scratch_cap;
  uint8_t *key;
  size_t key_cap;
  uint32_t *qpos; /* quote positions of the current line */
  size_t qpos_cap;
  /* page counters */
  double parsed, without_path, paths_dropped;
  double known;  /* lines read by the known-series fast path */
  double misses; /* lines that could have been (and, with learn, were) learned as series */
  /* Learning series costs about as much as the full walk again: it is done on a page when the last
   * committed page mostly hit known series (or none was committed yet), else after 1, 2, 4, then
   * every LEARN_PROBE pages, so a proxy whose label sets change every scrape pays little more than
   * the full walk, and one that changed once is fast again two pages later. */
  int learn;
  double last_known, last_misses;
  uint32_t committed, since_learn, backoff;
  double skipped[NUM_SKIPS];
  /* tuple cache */
  Tuple *tuples; /* dense, first-sight order */
  size_t tcount, tuples_cap;
  uint32_t *table; /* open addressing: tuple index + 1, 0 = empty */
  size_t tcap;
  uint32_t head;     /* first tuple of the last page */
  uint32_t last;     /* tuple of the previous line on this page */
  size_t touched;    /* distinct tuples seen with the current generation */
  uint8_t *arena;
  size_t arena_len, arena_cap;
  /* known series (the fast path) */
  Series *series; /* dense, first-sight order */
  size_t scount, series_cap;
  uint32_t *stable; /* open addressing: series index + 1, 0 = empty */
  size_t stcap;
  uint32_t shead;   /* first series of the last page */
  uint32_t slast;   /* series of the previous series line on this page */
  uint32_t missed;  /* the series predicted for the line being walked, when it did not match */
  size_t stouched;  /* distinct series seen with the current generation */
  uint32_t *ids;    /* the series' segment entries (ENT: id and length), in series order */
  size_t ids_len, ids_cap;
  Seg *segs;        /* interned segments */
  size_t nsegs, segs_cap;
  uint32_t *segtable; /* open addressing: segment id + 1, 0 = empty */
  size_t segtcap;
  uint8_t *segbytes;
  size_t segbytes_len, segbytes_cap; /* cap excludes the SEG_PAD tail */
  uint32_t *segrecent; /* SEG_RECENT recently interned ids by hash (id + 1), a hint */
  uint32_t *bounds; /* the current line's segment ends (full walk), MAX_BOUNDS */
  size_t nbounds;
  /* edges */
  Edge *edges; /* dense, first-sight order */
  size_t ecount, ecap;
  uint32_t *etable; /* open addressing: edge index + 1, 0 = empty */
  size_t etcap;
  uint8_t *rec; /* record arena */
  size_t rec_len, rec_cap;
  uint16_t *u16; /* scratch for a record read from JS */
  size_t u16_cap;
  uint8_t *recbuf; /* the record's identity bytes */
  size_t recbuf_cap;
  uint32_t *free_ids; /* ids of forgotten edges, reused first: ids stay below the peak live edge count */
  size_t nfree, free_cap;
  uint32_t next_id;
  uint32_t seq; /* edges created since the last commit: the next one's JS pending slot */
  uint8_t *server_seen; /* commit scratch, per server id */
  size_t server_seen_cap;
  uint32_t gen;
  /* JS callbacks for the current push */
  napi_env env;
  napi_value resolve, number;
  int failed; /* a JS callback threw: stop and rethrow */
  int busy;   /* inside push()/end(): the callbacks must not call into this source */
  napi_value chunk_ab; /* push(): the chunk's ArrayBuffer (a callback must not detach it), else NULL */
} Source;

/* After a JS callback: 0 (and a thrown error) when it detached the chunk being parsed, whose
 * memory the parser still points into. */
static int chunk_alive(Source *s) {
  bool detached = false;
  if (!s->chunk_ab) return 1;
  if (napi_is_detached_arraybuffer(s->env, s->chunk_ab, &detached) == napi_ok && !detached) return 1;
  napi_throw_error(s->env, "ISTIO_NATIVE_ARG", "a parser callback detached the chunk being parsed");
  return 0;
}

static const char *const METRICS[2] = {"istio_requests_total", "istio_tcp_connections_opened_total"};
static const size_t METRIC_LEN[2] = {20, 34};

/* ---------- small helpers ---------- */

/* Gives memory back when an array is mostly empty (after series vanished). */
static void shrink(void **p, size_t *cap, size_t used, size_t elem) {
  if (*cap <= 1024 || used * 4 > *cap) return;
  size_t n = used * 2 > 1024 ? used * 2 : 1024;
  void *q = realloc(*p, n * elem);
  if (q) {
    *p = q;
    *cap = n;
  }
}

static int grow(void **p, size_t *cap, size_t need, size_t elem) {
  if (need <= *cap) return 1;
  size_t n = *cap ? *cap : 64;
  while (n < need) n *= 2;
  void *q = realloc(*p, n * elem);
  if (!q) return 0;
  *p = q;
  *cap = n;
  return 1;
}

/* Frees a scratch buffer above 64 KiB (it grows again on demand). */
static void trim(void *p, size_t *cap, size_t elem) {
  void **pp = p;
  if (*cap * elem > (64u << 10)) {
    free(*pp);
    *pp = NULL;
    *cap = 0;
  }
}

static inline int blank(uint8_t c) { return c == ' ' || c == '\t' || c == '\r'; }
static inline int namechar(uint8_t c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == ':';
}

static inline uint64_t rd64(const uint8_t *p) {
  uint64_t v;
  memcpy(&v, p, 8);
  return v;
}

static uint64_t hash_bytes(const uint8_t *p, size_t n) {
  uint64_t h = 0x243F6A8885A308D3ULL ^ (n * 0x9E3779B97F4A7C15ULL);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    h ^= rd64(p + i) * 0x87C37B91114253D5ULL;
    h = ((h << 31) | (h >> 33)) * 0x4CF5AD432745937FULL;
  }
  uint64_t tail = 0;
  if (i < n) {
    if (n >= 8)
      tail = rd64(p + n - 8); /* the last 8 bytes, overlapping the words above */
    else if (n >= 4) {
      uint32_t lo, hi;
      memcpy(&lo, p, 4), memcpy(&hi, p + n - 4, 4);
      tail = (uint64_t)lo | ((uint64_t)hi << 32);
    } else
      for (size_t k = 0; k < n; k++) tail |= (uint64_t)p[k] << (8 * k);
  }
  h ^= tail * 0x87C37B91114253D5ULL;
  h ^= h >> 33;
  h *= 0xFF51AFD7ED558CCDULL;
  h ^= h >> 33;
  h *= 0xC4CEB9FE1A85EC53ULL;
  h ^= h >> 33;
  return h;
}

/* Bits set in a 16-bit mask (SWAR: no POPCNT instruction assumed, no libgcc call). */
static inline unsigned popcount16(unsigned x) {
  x = x - ((x >> 1) & 0x5555u);
  x = (x & 0x3333u) + ((x >> 2) & 0x3333u);
  x = (x + (x >> 4)) & 0x0F0Fu;
  return (x + (x >> 8)) & 0x1Fu;
}

/* Positions of every '"' in [from, len) of a line, found 16 bytes at a time (SSE2), plus whether
 * the line holds a backslash there. `avail` bytes are readable from t (>= len): a load may pass
 * the line's end inside the buffer; the bits past it are dropped. Returns the count; pos[count]
 * is len (sentinel). */
static size_t scan_quotes(const uint8_t *t, size_t from, size_t len, size_t avail, uint32_t *pos, int *has_bs) {
  size_t n = 0, b = from;
  const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\');
  unsigned bs = 0;
  for (; b < len && b + 16 <= avail; b += 16) {
    __m128i v = _mm_loadu_si128((const __m128i *)(t + b));
    unsigned m = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, quote));
    unsigned k = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, bslash));
    if (len - b < 16) {
      unsigned keep = (1u << (len - b)) - 1;
      m &= keep;
      k &= keep;
    }
    bs |= k;
    /* Branch-light extraction: four slots written whatever the count (pos has room), the rare
     * rest in a loop. */
    unsigned cnt = popcount16(m);
    uint32_t base = (uint32_t)b;
    pos[n] = base + (uint32_t)__builtin_ctz(m | 0x10000u);
    m &= m - 1;
    pos[n + 1] = base + (uint32_t)__builtin_ctz(m | 0x10000u);
    m &= m - 1;
    pos[n + 2] = base + (uint32_t)__builtin_ctz(m | 0x10000u);
    m &= m - 1;
    pos[n + 3] = base + (uint32_t)__builtin_ctz(m | 0x10000u);
    m &= m - 1;
    if (cnt > 4) {
      size_t j = n + 4;
      while (m) {
        pos[j++] = base + (uint32_t)__builtin_ctz(m);
        m &= m - 1;
      }
    }
    n += cnt;
  }
  for (; b < len; b++) {
    if (t[b] == '"') pos[n++] = (uint32_t)b;
    else if (t[b] == '\\') bs = 1;
  }
  pos[n] = (uint32_t)len;
  *has_bs = bs != 0;
  return n;
}

/* The same with AVX2 over 64-byte blocks (picked at load time when the CPU has it); the rest of
 * the line goes through the SSE2 loop. */
__attribute__((target("avx2,popcnt,bmi"))) static size_t scan_quotes_avx2(const uint8_t *t, size_t from, size_t len,
                                                                        size_t avail, uint32_t *pos, int *has_bs) {
  size_t n = 0, b = from;
  const __m256i quote = _mm256_set1_epi8('"'), bslash = _mm256_set1_epi8('\\');
  uint64_t bs = 0;
  for (; b < len && b + 64 <= avail; b += 64) {
    __m256i v0 = _mm256_loadu_si256((const __m256i *)(t + b));
    __m256i v1 = _mm256_loadu_si256((const __m256i *)(t + b + 32));
    uint64_t m = (uint64_t)(uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(v0, quote)) |
                 ((uint64_t)(uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(v1, quote)) << 32);
    uint64_t k = (uint64_t)(uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(v0, bslash)) |
                 ((uint64_t)(uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(v1, bslash)) << 32);
    if (len - b < 64) {
      uint64_t keep = (1ULL << (len - b)) - 1;
      m &= keep;
      k &= keep;
    }
    bs |= k;
    unsigned cnt = (unsigned)_mm_popcnt_u64(m);
    uint32_t base = (uint32_t)b;
    /* Eight slots written whatever the count (pos has room; tzcnt(0) = 64), the rare rest in a loop. */
    for (int j = 0; j < 8; j++) {
      pos[n + j] = base + (uint32_t)_tzcnt_u64(m);
      m = _blsr_u64(m);
    }
    if (cnt > 8) {
      size_t j = n + 8;
      while (m) {
        pos[j++] = base + (uint32_t)_tzcnt_u64(m);
        m = _blsr_u64(m);
      }
    }
    n += cnt;
  }
  int bs2 = 0;
  n += scan_quotes(t, b < len ? b : len, len, avail, pos + n, &bs2);
  *has_bs = bs != 0 || bs2;
  return n;
}

typedef size_t (*ScanQuotes)(const uint8_t *, size_t, size_t, size_t, uint32_t *, int *);
static ScanQuotes scan_quotes_best = scan_quotes;

/* Bytes equal, for the short values of a tuple (inline; no libc call). */
static inline __attribute__((always_inline)) int eq_bytes(const uint8_t *a, const uint8_t *b, size_t n) {
  if (n >= 8) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
      if (rd64(a + i) != rd64(b + i)) return 0;
    return i == n || rd64(a + n - 8) == rd64(b + n - 8);
  }
  if (n >= 4) {
    uint32_t x, y, z, w;
    memcpy(&x, a, 4), memcpy(&y, b, 4), memcpy(&z, a + n - 4, 4), memcpy(&w, b + n - 4, 4);
    return x == y && z == w;
  }
  for (size_t i = 0; i < n; i++)
    if (a[i] != b[i]) return 0;
  return 1;
}

/* ---------- tuple cache ---------- */

/* Rebuilds an open-addressing index at `cap` slots (a power of two; slot = entry index + 1, 0 =
 * empty) over `n` records of `stride` bytes whose uint64_t hash sits at `hash_off`; replaces
 * *table and *tcap. 0 when out of memory (the old index is kept). */
static int index_rebuild(uint32_t **table, size_t *tcap, size_t cap, const void *records, size_t n,
                         size_t stride, size_t hash_off) {
  uint32_t *t = calloc(cap, sizeof(uint32_t));
  if (!t) return 0;
  free(*table);
  *table = t;
  *tcap = cap;
  size_t mask = cap - 1;
  const unsigned char *rec = records;
  for (size_t r = 0; r < n; r++) {
    uint64_t h;
    memcpy(&h, rec + r * stride + hash_off, sizeof h);
    size_t i = (size_t)h & mask;
    while (t[i]) i = (i + 1) & mask;
    t[i] = (uint32_t)r + 1;
  }
  return 1;
}

static int table_rebuild(Source *s, size_t cap) {
  return index_rebuild(&s->table, &s->tcap, cap, s->tuples, s->tcount, sizeof(*s->tuples), offsetof(Tuple, hash));
}

static uint32_t tuple_find(const Source *s, uint64_t h, const uint8_t *key, size_t klen) {
  size_t mask = s->tcap - 1;
  size_t i = (size_t)h & mask;
  for (;;) {
    uint32_t e = s->table[i];
    if (!e) return NONE;
    const Tuple *t = &s->tuples[e - 1];
    if (t->hash == h && t->keylen == klen && memcmp(s->arena + t->keyoff, key, klen) == 0) return e - 1;
    i = (i + 1) & mask;
  }
}

static uint32_t tuple_insert(Source *s, uint64_t h, const uint8_t *key, size_t klen, int64_t code) {
  if (!grow((void **)&s->arena, &s->arena_cap, s->arena_len + klen, 1)) return NONE;
  if (!grow((void **)&s->tuples, &s->tuples_cap, s->tcount + 1, sizeof(Tuple))) return NONE;
  if ((s->tcount + 1) * 2 > s->tcap && !table_rebuild(s, s->tcap * 2)) return NONE;
  uint32_t r = (uint32_t)s->tcount++;
  Tuple *t = &s->tuples[r];
  t->hash = h;
  t->keyoff = s->arena_len;
  t->keylen = (uint32_t)klen;
  t->gen = s->gen - 1; /* tuple_apply marks it seen */
  t->code = code;
  t->next = NONE;
  memcpy(s->arena + s->arena_len, key, klen);
  s->arena_len += klen;
  size_t mask = s->tcap - 1;
  size_t i = (size_t)h & mask;
  while (s->table[i]) i = (i + 1) & mask;
  s->table[i] = r + 1;
  return r;
}

/* ---------- known series ---------- */

static int stable_rebuild(Source *s, size_t cap) {
  return index_rebuild(&s->stable, &s->stcap, cap, s->series, s->scount, sizeof(*s->series), offsetof(Series, hash));
}

static int segtable_rebuild(Source *s, size_t cap) {
  return index_rebuild(&s->segtable, &s->segtcap, cap, s->segs, s->nsegs, sizeof(*s->segs), offsetof(Seg, hash));
}

/* Room for `more` segment bytes plus the readable pad. */
static int segbytes_grow(Source *s, size_t more) {
  size_t cap = s->segbytes_cap;
  if (!grow((void **)&s->segbytes, &cap, s->segbytes_len + more + SEG_PAD, 1)) return 0;
  s->segbytes_cap = cap - SEG_PAD;
  return 1;
}


/* The id of segment [p, p+len) whose hash_bytes is h, interned on first sight; NONE when out of
 * memory. */
static uint32_t seg_intern(Source *s, const uint8_t *p, size_t len, uint64_t h) {
  /* a small table of recent ids (a hint, checked) spares most probes of the large one */
  uint32_t *hint = &s->segrecent[(h >> 20) & (SEG_RECENT - 1)];
  if (*hint && *hint <= s->nsegs) {
    const Seg *g = &s->segs[*hint - 1];
    if (g->hash == h && g->len == len && eq_bytes(s->segbytes + g->off, p, len)) return *hint - 1;
  }
  size_t mask = s->segtcap - 1;
  size_t i = (size_t)h & mask;
  for (;; i = (i + 1) & mask) {
    uint32_t e = s->segtable[i];
    if (!e) break;
    const Seg *g = &s->segs[e - 1];
    if (g->hash == h && g->len == len && memcmp(s->segbytes + g->off, p, len) == 0) {
      *hint = e;
      return e - 1;
    }
  }
  if (!segbytes_grow(s, len) || !grow((void **)&s->segs, &s->segs_cap, s->nsegs + 1, sizeof(Seg)) ||
      ((s->nsegs + 1) * 2 > s->segtcap && !segtable_rebuild(s, s->segtcap * 2)))
    return NONE;
  uint32_t id = (uint32_t)s->nsegs++;
  s->segs[id].hash = h;
  s->segs[id].off = (uint32_t)s->segbytes_len;
  s->segs[id].len = (uint32_t)len;
  memcpy(s->segbytes + s->segbytes_len, p, len);
  s->segbytes_len += len;
  memset(s->segbytes + s->segbytes_len, 0, SEG_PAD);
  mask = s->segtcap - 1;
  i = (size_t)h & mask;
  while (s->segtable[i]) i = (i + 1) & mask;
  s->segtable[i] = id + 1;
  *hint = id + 1;
  return id;
}

/* Whether [t, t+klen) is exactly series x's key (any alignment, no over-read). */
static int series_eq(const Source *s, const Series *x, const uint8_t *t, size_t klen) {
  if (x->keylen != klen) return 0;
  const uint32_t *ids = s->ids + x->segoff;
  size_t pos = 0;
  for (uint32_t j = 0; j < x->nseg; j++) {
    uint32_t len = ENT_LEN(s, ids[j]);
    if (memcmp(t + pos, s->segbytes + s->segs[ENT_ID(ids[j])].off, len) != 0) return 0;
    pos += len;
  }
  return 1;
}

/* The series whose segment entries are ids[0..n), or NONE. */
static uint32_t series_find(const Source *s, uint64_t h, const uint32_t *ids, size_t n) {
  size_t mask = s->stcap - 1;
  for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
    uint32_t e = s->stable[i];
    if (!e) return NONE;
    const Series *x = &s->series[e - 1];
    if (x->hash == h && x->nseg == n && memcmp(s->ids + x->segoff, ids, n * sizeof(uint32_t)) == 0) return e - 1;
  }
}

/* Marks series x seen on this page and links it after the previous series line. */
static inline void series_touch(Source *s, uint32_t x) {
  Series *sr = &s->series[x];
  if (sr->gen != s->gen) {
    sr->gen = s->gen;
    s->stouched++;
  }
  if (s->slast == NONE)
    s->shead = x;
  else
    s->series[s->slast].next = x;
  s->slast = x;
}

/* After the full walk of a line whose key is [t, t+klen), cut at s->bounds: interns its segments
 * and writes its entries at the end of s->ids (kept there by series_add if the series is new).
 * Returns their count (0: not learned) and the series' hash, whose index slot it prefetches: the
 * caller resolves the tuple meanwhile (on a first scrape every probe here is a cache miss, so the
 * segment slots are prefetched in batches too). Out of memory only loses the shortcut. */
#define SEG_BATCH 16
static size_t series_cut(Source *s, const uint8_t *t, size_t klen, uint64_t *hash) {
  size_t nb = s->nbounds;
  if (nb == 0 || nb > MAX_BOUNDS || s->bounds[nb - 1] != klen) return 0;
  if (s->stable == NULL && !stable_rebuild(s, 1024)) return 0;
  if (s->segtable == NULL && !segtable_rebuild(s, 1024)) return 0;
  if (s->segrecent == NULL && !(s->segrecent = calloc(SEG_RECENT, sizeof(uint32_t)))) return 0;
  /* labels merged greedily up to SEG_MERGE bytes (the same bytes always give the same cut) */
  if (s->nsegs + nb > MAX_SEGS || s->ids_len + nb > UINT32_MAX) return 0; /* ids and offsets are 24/32-bit */
  if (!grow((void **)&s->ids, &s->ids_cap, s->ids_len + nb, sizeof(uint32_t))) return 0;
  size_t from = 0, n = 0;
  for (size_t j = 0; j < nb;) {
    uint32_t cut[SEG_BATCH + 1];
    uint64_t hs[SEG_BATCH];
    size_t m = 0;
    cut[0] = (uint32_t)from;
    for (; j < nb && m < SEG_BATCH; m++) { /* cut and hash a batch, prefetching where it will look */
      size_t k = j;
      while (k + 1 < nb && s->bounds[k + 1] - from <= SEG_MERGE) k++;
      hs[m] = hash_bytes(t + from, s->bounds[k] - from);
      uint32_t hint = s->segrecent[(hs[m] >> 20) & (SEG_RECENT - 1)];
      if (hint && hint <= s->nsegs) __builtin_prefetch(&s->segs[hint - 1]);
      __builtin_prefetch(&s->segtable[hs[m] & (s->segtcap - 1)]);
      from = s->bounds[k];
      cut[m + 1] = (uint32_t)from;
      j = k + 1;
    }
    for (size_t q = 0; q < m; q++) {
      size_t len = cut[q + 1] - cut[q];
      uint32_t id = seg_intern(s, t + cut[q], len, hs[q]);
      if (id == NONE) return 0;
      s->ids[s->ids_len + n++] = ENT(id, len);
    }
  }
  /* segment ids are unique per content: the entry list identifies the key */
  *hash = hash_bytes((const uint8_t *)(s->ids + s->ids_len), n * sizeof(uint32_t));
  __builtin_prefetch(&s->stable[*hash & (s->stcap - 1)]);
  return n;
}

/* The series of the n entries series_cut left at the end of s->ids (hash h), whose tuple is r:
 * found, or learned. */
static void series_add(Source *s, size_t n, uint64_t h, size_t klen, uint32_t r, int metric) {
  const uint32_t *ids = s->ids + s->ids_len;
  uint32_t x = series_find(s, h, ids, n);
  if (x == NONE) {
    if (!grow((void **)&s->series, &s->series_cap, s->scount + 1, sizeof(Series)) ||
        ((s->scount + 1) * 2 > s->stcap && !stable_rebuild(s, s->stcap * 2)))
      return;
    x = (uint32_t)s->scount++;
    Series *sr = &s->series[x];
    sr->hash = h;
    sr->segoff = (uint32_t)s->ids_len;
    sr->nseg = (uint32_t)n;
    sr->keylen = (uint32_t)klen;
    sr->gen = s->gen - 1; /* series_touch counts it */
    sr->next = s->missed < s->scount - 1 ? s->missed : NONE; /* a series inserted before the predicted one */
    s->ids_len += n;
    size_t mask = s->stcap - 1;
    size_t i = (size_t)h & mask;
    while (s->stable[i]) i = (i + 1) & mask;
    s->stable[i] = x + 1;
  }
  s->series[x].tuple = r;
  s->series[x].metric = (uint8_t)metric;
  series_touch(s, x);
}

static void series_drop_all(Source *s) {
  free(s->series), free(s->stable), free(s->ids), free(s->segs), free(s->segtable), free(s->segbytes);
  free(s->segrecent);
  s->series = NULL, s->stable = NULL, s->ids = NULL, s->segs = NULL, s->segtable = NULL, s->segbytes = NULL;
  s->segrecent = NULL;
  s->scount = s->series_cap = s->stcap = s->ids_len = s->ids_cap = s->stouched = 0;
  s->nsegs = s->segs_cap = s->segtcap = s->segbytes_len = s->segbytes_cap = 0;
  s->shead = s->slast = NONE;
}

/* Keeps only the series of generation `gen` whose tuple survives (`tmap`: old tuple index -> new,
 * NONE = gone; NULL = unchanged), none when drop_all; in order, with their links; then only the
 * segments they use. Out of memory drops them all (they are only a shortcut). */
static void series_compact(Source *s, uint32_t gen, int drop_all, const uint32_t *tmap) {
  uint32_t *map = malloc((s->scount + 1) * sizeof(uint32_t));
  uint32_t *smap = malloc((s->nsegs + 1) * sizeof(uint32_t));
  if (!map || !smap) {
    free(map), free(smap);
    series_drop_all(s);
    return;
  }
  size_t live = 0, nids = 0;
  for (size_t r = 0; r < s->scount; r++) {
    Series *x = &s->series[r];
    int keep = !drop_all && x->gen == gen;
    if (keep && tmap) {
      uint32_t nt = tmap[x->tuple];
      if (nt == NONE)
        keep = 0;
      else
        x->tuple = nt;
    }
    map[r] = keep ? (uint32_t)live++ : NONE;
    if (keep) nids += s->series[r].nseg;
  }
  /* segments still used, renumbered in order */
  for (size_t g = 0; g < s->nsegs; g++) smap[g] = NONE;
  for (size_t r = 0; r < s->scount; r++) {
    if (map[r] == NONE) continue;
    const uint32_t *ids = s->ids + s->series[r].segoff;
    for (uint32_t j = 0; j < s->series[r].nseg; j++) smap[ENT_ID(ids[j])] = 0;
  }
  size_t nseg = 0, bytes = 0;
  for (size_t g = 0; g < s->nsegs; g++)
    if (smap[g] != NONE) {
      smap[g] = (uint32_t)nseg++;
      bytes += s->segs[g].len;
    }
  uint32_t *ids = malloc((nids ? nids : 1) * sizeof(uint32_t));
  Seg *segs = malloc((nseg ? nseg : 1) * sizeof(Seg));
  uint8_t *sb = malloc(bytes + SEG_PAD);
  if (!ids || !segs || !sb) {
    free(ids), free(segs), free(sb), free(map), free(smap);
    series_drop_all(s);
    return;
  }
  size_t at = 0;
  for (size_t g = 0; g < s->nsegs; g++) {
    if (smap[g] == NONE) continue;
    Seg q = s->segs[g];
    memcpy(sb + at, s->segbytes + q.off, q.len);
    q.off = (uint32_t)at;
    at += q.len;
    segs[smap[g]] = q;
  }
  memset(sb + at, 0, SEG_PAD);
  size_t ia = 0;
  for (size_t r = 0; r < s->scount; r++) {
    if (map[r] == NONE) continue;
    Series x = s->series[r];
    for (uint32_t j = 0; j < x.nseg; j++) {
      uint32_t e = s->ids[x.segoff + j];
      ids[ia + j] = (smap[ENT_ID(e)] << 8) | (e & 255);
    }
    x.hash = hash_bytes((const uint8_t *)(ids + ia), x.nseg * sizeof(uint32_t)); /* ids renumbered */
    x.segoff = (uint32_t)ia;
    ia += x.nseg;
    x.next = x.next == NONE ? NONE : map[x.next];
    s->series[map[r]] = x;
  }
  s->shead = s->shead == NONE || s->shead >= s->scount ? NONE : map[s->shead];
  free(map), free(smap);
  free(s->ids), free(s->segs), free(s->segbytes);
  s->ids = ids, s->ids_len = s->ids_cap = nids;
  s->segs = segs, s->nsegs = s->segs_cap = nseg;
  if (s->segrecent) memset(s->segrecent, 0, SEG_RECENT * sizeof(uint32_t)); /* ids renumbered */
  s->segbytes = sb, s->segbytes_len = s->segbytes_cap = bytes;
  s->scount = live;
  s->stouched = 0;
  shrink((void **)&s->series, &s->series_cap, live, sizeof(Series));
  size_t cap = 1024;
  while (cap < live * 2 + 2) cap *= 2;
  size_t scap = 1024;
  while (scap < nseg * 2 + 2) scap *= 2;
  if (!stable_rebuild(s, cap) || !segtable_rebuild(s, scap)) series_drop_all(s);
}

/* Keeps only the tuples of generation `gen` whose edge survives (`emap`: old edge index -> new,
 * NONE = gone; NULL = unchanged), none when drop_all; in order, with their links. */
static int tuples_compact(Source *s, uint32_t gen, int drop_all, const uint32_t *emap) {
  uint32_t *map = malloc((s->tcount + 1) * sizeof(uint32_t));
  if (!map) return 0;
  size_t bytes = 0, live = 0;
  for (size_t r = 0; r < s->tcount; r++) {
    Tuple *t = &s->tuples[r];
    int keep = !drop_all && t->gen == gen;
    if (keep && emap && t->code >= 0) {
      uint32_t ne = emap[t->code >> 2];
      if (ne == NONE)
        keep = 0;
      else
        t->code = (int64_t)ne * 4 + (t->code & 3);
    }
    map[r] = keep ? (uint32_t)live++ : NONE;
    if (keep) bytes += s->tuples[r].keylen;
  }
  uint8_t *arena = malloc(bytes ? bytes : 1);
  if (!arena) {
    free(map);
    return 0;
  }
  size_t at = 0;
  for (size_t r = 0; r < s->tcount; r++) {
    if (map[r] == NONE) continue;
    Tuple t = s->tuples[r];
    memcpy(arena + at, s->arena + t.keyoff, t.keylen);
    t.keyoff = at;
    at += t.keylen;
    t.next = t.next == NONE ? NONE : map[t.next];
    s->tuples[map[r]] = t;
  }
  s->head = s->head == NONE || s->head >= s->tcount ? NONE : map[s->head];
  series_compact(s, gen, drop_all, map); /* series point at tuples: drop or renumber them */
  free(map);
  free(s->arena);
  s->arena = arena;
  s->arena_len = s->arena_cap = bytes ? bytes : 1;
  s->arena_len = bytes;
  s->tcount = live;
  shrink((void **)&s->tuples, &s->tuples_cap, live, sizeof(Tuple));
  size_t cap = 1024;
  while (cap < live * 2 + 2) cap *= 2;
  return table_rebuild(s, cap);
}

/* ---------- edges ---------- */

static int etable_rebuild(Source *s, size_t cap) {
  return index_rebuild(&s->etable, &s->etcap, cap, s->edges, s->ecount, sizeof(*s->edges), offsetof(Edge, hash));
}

static inline void edge_value(Source *s, Edge *e, double value) {
  if (e->gen == s->gen)
    e->cur += value;
  else {
    e->gen = s->gen;
    e->cur = value;
  }
}

/* Reads a record string from JS: flags (record[0] - '0'), server id + 1 (a varint, 0 = none)
 * and the identity (the rest), which is hashed and stored compactly. Finds or
 * creates its edge; returns the edge index (NONE on failure, with an exception pending). */
static uint32_t edge_from_record(Source *s, napi_env env, napi_value str, unsigned *flags) {
  size_t n = 0;
  if (napi_get_value_string_utf16(env, str, NULL, 0, &n) != napi_ok || n < 2) {
    napi_throw_error(env, "ISTIO_NATIVE_RESOLVE", "resolve callback returned an invalid edge record");
    return NONE;
  }
  if (!grow((void **)&s->u16, &s->u16_cap, n + 1, sizeof(uint16_t)) ||
      !grow((void **)&s->recbuf, &s->recbuf_cap, 2 * n, 1)) {
    napi_throw_error(env, "ISTIO_NATIVE_OOM", "out of memory");
    return NONE;
  }
  napi_get_value_string_utf16(env, str, (char16_t *)s->u16, n + 1, &n);
  const uint16_t *u = s->u16;
  *flags = (unsigned)(u[0] - '0') & 3u;
  /* Server id + 1: little-endian base-128 chars, high bit = more (engine.ts varint). */
  uint32_t server = 0;
  size_t at = 1;
  for (unsigned shift = 0; at < n && shift < 32; shift += 7) {
    uint16_t c = u[at++];
    server |= (uint32_t)(c & 0x7F) << shift;
    if (!(c & 0x80)) break;
  }
  size_t ilen = n - at;
  u += at;
  int wide = 0;
  for (size_t i = 0; i < ilen; i++)
    if (u[i] > 0xFF) wide = 1;
  uint8_t *b = s->recbuf; /* not s->key: that holds the key of the line being resolved */
  size_t blen;
  if (wide) {
    memcpy(b, u, ilen * 2);
    blen = ilen * 2;
  } else {
    for (size_t i = 0; i < ilen; i++) b[i] = (uint8_t)u[i];
    blen = ilen;
  }
  uint64_t h = hash_bytes(b, blen) ^ (uint64_t)wide;
  size_t mask = s->etcap - 1;
  size_t i = (size_t)h & mask;
  for (;;) {
    uint32_t e = s->etable[i];
    if (!e) break;
    const Edge *ed = &s->edges[e - 1];
    if (ed->hash == h && ed->reclen == blen && ed->wide == wide && memcmp(s->rec + ed->recoff, b, blen) == 0) {
      /* an edge JS does not hold and has no slot for (a commit that could not compact it away
       * forgot it): JS keeps this record's Edge in the slot it was given, like a new edge's */
      if (!ed->known && ed->seq == NONE && s->seq != NONE) s->edges[e - 1].seq = s->seq++;
      return e - 1;
    }
    i = (i + 1) & mask;
  }
  if (!grow((void **)&s->rec, &s->rec_cap, s->rec_len + blen, 1) ||
      !grow((void **)&s->edges, &s->ecap, s->ecount + 1, sizeof(Edge)) || (!s->nfree && s->next_id == NONE) ||
      s->seq == NONE ||
      ((s->ecount + 1) * 2 > s->etcap && !etable_rebuild(s, s->etcap * 2))) {
    napi_throw_error(env, "ISTIO_NATIVE_OOM", "out of memory");
    return NONE;
  }
  uint32_t idx = (uint32_t)s->ecount++;
  Edge *ed = &s->edges[idx];
  memset(ed, 0, sizeof(*ed));
  ed->hash = h;
  ed->recoff = s->rec_len;
  ed->reclen = (uint32_t)blen;
  ed->wide = (uint8_t)wide;
  ed->server = server;
  ed->id = s->nfree ? s->free_ids[--s->nfree] : s->next_id++;
  ed->seq = s->seq++; /* JS keeps this record's Edge as pending[seq] until the next commit adopts it */
  ed->gen = s->gen - 1; /* not on this page yet: the first value sets cur */
  memcpy(s->rec + s->rec_len, b, blen);
  s->rec_len += blen;
  i = (size_t)h & (s->etcap - 1);
  while (s->etable[i]) i = (i + 1) & (s->etcap - 1);
  s->etable[i] = idx + 1;
  return idx;
}

/* ---------- one line ---------- */

static napi_value field_value(napi_env env, const Field *f) {
  napi_value v;
  if (!f->present) {
    napi_get_undefined(env, &v);
    return v;
  }
  if (napi_create_string_utf8(env, (const char *)f->p, f->len, &v) != napi_ok) napi_get_undefined(env, &v);
  return v;
}

/* Asks the TS projection what this tuple is; returns the code or -1 after a JS exception. The last
 * argument is the pending slot (s->seq) where JS keeps the Edge it builds for a record: should the
 * record make a new edge, the next commit hands (id, slot) over instead of the record (ADR 0054). */
static int64_t resolve_tuple(Source *s, int metric, const Field *fs, int has_path) {
  napi_env env = s->env;
  napi_value argv[12], global, result;
  napi_create_string_latin1(env, METRICS[metric], METRIC_LEN[metric], &argv[0]);
  for (int f = 0; f < NKEYED; f++) argv[1 + f] = field_value(env, &fs[f]);
  napi_get_boolean(env, has_path, &argv[10]);
  napi_create_uint32(env, s->seq, &argv[11]);
  napi_get_global(env, &global);
  if (napi_call_function(env, global, s->resolve, 12, argv, &result) != napi_ok || !chunk_alive(s)) return -1;
  napi_valuetype type;
  if (napi_typeof(env, result, &type) == napi_ok && type == napi_string) {
    unsigned flags;
    uint32_t idx = edge_from_record(s, env, result, &flags);
    if (idx == NONE) return -1;
    return (int64_t)idx * 4 + flags;
  }
  double d = 0;
  if (napi_get_value_double(env, result, &d) == napi_ok && d == floor(d) && d <= -2 && d >= -(2 + NUM_SKIPS - 1))
    return (int64_t)d;
  napi_throw_error(env, "ISTIO_NATIVE_RESOLVE", "resolve callback returned neither an edge record nor a skip code");
  return -1;
}

/* JS Number(token) for the tokens the fast path does not take (fractions, exponents, signs, hex…). */
static int js_number(Source *s, const uint8_t *p, size_t n, double *out) {
  napi_value str, global, result;
  napi_env env = s->env;
  if (napi_create_string_latin1(env, (const char *)p, n, &str) != napi_ok) return 0;
  napi_get_global(env, &global);
  if (napi_call_function(env, global, s->number, 1, &str, &result) != napi_ok || !chunk_alive(s)) return 0;
  if (napi_get_value_double(env, result, out) != napi_ok) return 0;
  return 1;
}

static void unescape_into(const uint8_t *p, size_t n, uint8_t *out, uint32_t *outlen) {
  size_t o = 0;
  for (size_t k = 0; k < n; k++) {
    uint8_t c = p[k];
    if (c == '\\' && k + 1 < n && p[k + 1] != '\n' && p[k + 1] != '\r') {
      uint8_t d = p[k + 1];
      if (d == 'n')
        out[o++] = '\n';
      else if (d == '\\' || d == '"')
        out[o++] = d;
      else {
        out[o++] = c;
        out[o++] = d;
      }
      k++;
    } else
      out[o++] = c;
  }
  *outlen = (uint32_t)o;
}

/* Wanted label names by length (all lengths differ, all >= 8 and <= 30): a table lookup, then
 * four overlapping 8-byte compares without branches. */
static int8_t FIELD_BY_LEN[32];
static uint64_t NAME_WORDS[32][4];

static void names_init(void) {
  static const struct {
    const char *name;
    int field;
  } names[] = {
      {"reporter", F_REPORTER},
      {"source_workload", F_SW},
      {"source_workload_namespace", F_SNS},
      {"destination_workload", F_DW},
      {"destination_workload_namespace", F_DNS},
      {"destination_service", F_DS},
      {"destination_service_name", F_DSN},
      {"request_method", F_METHOD},
      {"request_path", F_PATH},
      {"request_url_path", F_URLPATH},
  };
  for (int l = 0; l < 32; l++) FIELD_BY_LEN[l] = -1;
  for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
    size_t l = strlen(names[k].name);
    const uint8_t *n = (const uint8_t *)names[k].name;
    FIELD_BY_LEN[l] = (int8_t)names[k].field;
    size_t o1 = l - 8 < 8 ? l - 8 : 8, o2 = l - 8 < 16 ? l - 8 : 16;
    NAME_WORDS[l][0] = rd64(n);
    NAME_WORDS[l][1] = rd64(n + o1);
    NAME_WORDS[l][2] = rd64(n + o2);
    NAME_WORDS[l][3] = rd64(n + l - 8);
  }
}

static inline int field_of(const uint8_t *n, size_t len) {
  if (len >= 32) return -1;
  int f = FIELD_BY_LEN[len];
  if (f < 0) return -1;
  size_t o1 = len - 8 < 8 ? len - 8 : 8, o2 = len - 8 < 16 ? len - 8 : 16;
  const uint64_t *w = NAME_WORDS[len];
  uint64_t d = (rd64(n) ^ w[0]) | (rd64(n + o1) ^ w[1]) | (rd64(n + o2) ^ w[2]) | (rd64(n + len - 8) ^ w[3]);
  return d == 0 ? f : -1;
}

static int is_passthrough(const uint8_t *p, size_t n) {
  static const char *const names[] = {"PassthroughCluster", "BlackHoleCluster", "InboundPassthroughCluster",
                                      "InboundPassthroughClusterIpv4", "InboundPassthroughClusterIpv6"};
  for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++)
    if (strlen(names[k]) == n && memcmp(names[k], p, n) == 0) return 1;
  return 0;
}

/* The value of a line whose labels end at i: 1 and *value, 0 when the JS callback threw (s->failed
 * set), -1 when there is no value token (malformed). Exactly the full walk's steps. */
static inline int line_value(Source *s, const uint8_t *t, size_t i, size_t len, double *value) {
  while (i < len && blank(t[i])) i++;
  size_t vs = i;
  while (i < len && !blank(t[i])) i++;
  if (i == vs) return -1;
  size_t n = i - vs;
  if (n <= 15) {
    uint64_t v = 0;
    size_t k = 0;
    for (; k < n; k++) {
      unsigned c = (unsigned)t[vs + k] - '0';
      if (c > 9) break;
      v = v * 10 + c;
    }
    if (k == n) {
      *value = (double)v;
      return 1;
    }
  }
  if (!js_number(s, t + vs, n, value)) {
    s->failed = 1;
    return 0;
  }
  return 1;
}

/* What a line of tuple r with this value does to the page: counts and the edge's value. */
static inline void tuple_apply(Source *s, uint32_t r, double value) {
  Tuple *tp = &s->tuples[r];
  if (tp->gen != s->gen) {
    tp->gen = s->gen;
    s->touched++;
  }
  if (s->last == NONE)
    s->head = r;
  else
    s->tuples[s->last].next = r;
  s->last = r;
  int64_t code = tp->code;
  if (code <= -2) {
    s->skipped[-code - 2]++;
    return;
  }
  if (code & 1) s->without_path++;
  if (code & 2) s->paths_dropped++;
  edge_value(s, &s->edges[code >> 2], value);
}

/* A line [t, t+len) (len <= max_line) that starts with the key bytes of known series x: the same
 * result as the full walk, which would read the same labels into the same tuple. Returns 0 when
 * a JS callback threw. */
static int known_line(Source *s, uint32_t x, const uint8_t *t, size_t len) {
  const Series *sr = &s->series[x];
  double value;
  s->known++;
  int v = line_value(s, t, sr->keylen, len, &value);
  if (v == 0) return 0;
  if (v < 0) {
    s->skipped[SKIP_MALFORMED]++;
    return 1;
  }
  if (!isfinite(value) || value < 0) {
    s->skipped[SKIP_INVALID_VALUE]++;
    return 1;
  }
  if (!(s->metrics_mask & (1u << sr->metric))) return 1;
  s->parsed++;
  uint32_t r = sr->tuple;
  series_touch(s, x);
  tuple_apply(s, r, value);
  return 1;
}

/* known_line for the usual line, whose value (a plain integer of at most 15 digits) feed() read
 * while finding its end: what line_value would give, without a second pass. */
static inline void known_int(Source *s, uint32_t x, double value) {
  const Series *sr = &s->series[x];
  s->known++;
  if (!(s->metrics_mask & (1u << sr->metric))) return;
  s->parsed++;
  uint32_t r = sr->tuple;
  series_touch(s, x);
  tuple_apply(s, r, value);
}

/* The series predicted for the next series line, or NONE. */
static inline uint32_t series_predicted(const Source *s) {
  uint32_t x = s->slast == NONE ? s->shead : s->series[s->slast].next;
  return x < s->scount ? x : NONE;
}

/* Whether t starts with series x's key, segment by segment; t has at least keylen + SEG_PAD
 * readable bytes (a load may pass a segment's end; the bits past it are dropped). SSE2. */
static int match_sse2(const Source *s, const Series *x, const uint8_t *t) {
  const uint32_t *ids = s->ids + x->segoff;
  const uint8_t *sb = s->segbytes;
  size_t pos = 0;
  for (uint32_t j = 0; j < x->nseg; j++) {
    uint32_t e = ids[j];
    const uint8_t *a = t + pos, *b = sb + s->segs[ENT_ID(e)].off;
    uint32_t len = ENT_LEN(s, e), k = 0;
    unsigned bad = 0;
    for (; k + 16 <= len; k += 16)
      bad |= 0xFFFFu ^ (unsigned)_mm_movemask_epi8(
                           _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(a + k)), _mm_loadu_si128((const __m128i *)(b + k))));
    if (k < len)
      bad |= (0xFFFFu ^ (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(a + k)),
                                                                   _mm_loadu_si128((const __m128i *)(b + k))))) &
             ((1u << (len - k)) - 1);
    if (bad) return 0;
    pos += len;
  }
  return 1;
}

/* The same with AVX2: a segment of up to 64 bytes is two compares and a length mask, no branch
 * (picked at load time when the CPU has AVX2 and BMI2); longer ones loop. */
__attribute__((target("avx2,bmi,bmi2"))) static int match_avx2(const Source *s, const Series *x, const uint8_t *t) {
  const uint32_t *ids = s->ids + x->segoff, *end = ids + x->nseg;
  const uint8_t *sb = s->segbytes;
  const Seg *segs = s->segs;
  const uint8_t *a = t;
  do {
    uint32_t e = *ids++;
    const uint8_t *b = sb + segs[ENT_ID(e)].off;
    uint32_t len = ENT_LEN(s, e);
    while (len > 64) {
      __m256i d = _mm256_or_si256(
          _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)a), _mm256_loadu_si256((const __m256i *)b)),
          _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(a + 32)), _mm256_loadu_si256((const __m256i *)(b + 32))));
      if (!_mm256_testz_si256(d, d)) return 0;
      a += 64, b += 64, len -= 64;
    }
    uint64_t eq = (uint64_t)(uint32_t)_mm256_movemask_epi8(
                      _mm256_cmpeq_epi8(_mm256_loadu_si256((const __m256i *)a), _mm256_loadu_si256((const __m256i *)b))) |
                  ((uint64_t)(uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(
                       _mm256_loadu_si256((const __m256i *)(a + 32)), _mm256_loadu_si256((const __m256i *)(b + 32))))
                   << 32);
    if (_andn_u64(eq, _bzhi_u64(~0ULL, len))) return 0;
    a += len;
  } while (ids < end);
  return 1;
}

/* The same with AVX-512BW: one masked compare per segment of up to 64 bytes. */
__attribute__((target("avx512f,avx512bw,bmi,bmi2"))) static int match_avx512(const Source *s, const Series *x,
                                                                           const uint8_t *t) {
  const uint32_t *ids = s->ids + x->segoff, *end = ids + x->nseg;
  const uint8_t *sb = s->segbytes;
  const Seg *segs = s->segs;
  const uint8_t *a = t;
  do {
    uint32_t e = *ids++;
    const uint8_t *b = sb + segs[ENT_ID(e)].off;
    uint32_t len = ENT_LEN(s, e);
    while (len > 64) {
      if (_mm512_cmpneq_epi8_mask(_mm512_loadu_si512(a), _mm512_loadu_si512(b))) return 0;
      a += 64, b += 64, len -= 64;
    }
    if (_mm512_mask_cmpneq_epi8_mask(_bzhi_u64(~0ULL, len), _mm512_loadu_si512(a), _mm512_loadu_si512(b))) return 0;
    a += len;
  } while (ids < end);
  return 1;
}

typedef int (*MatchSeries)(const Source *, const Series *, const uint8_t *);
static MatchSeries match_best = match_sse2;

/* Whether [t, t+avail) starts with series x's key and has a byte after it. */
static inline int series_match(const Source *s, uint32_t x, const uint8_t *t, size_t avail) {
  const Series *sr = &s->series[x];
  if (sr->keylen >= avail) return 0;
  if (sr->keylen + SEG_PAD <= avail) return match_best(s, sr, t);
  return series_eq(s, sr, t, sr->keylen);
}

/* Parses one line [t, t+len) (without its '\n'). Returns 0 when a JS callback threw. */
static int parse_line(Source *s, const uint8_t *t, size_t len, size_t avail) {
  if (len > s->max_line) {
    s->skipped[SKIP_TOO_LONG]++;
    return 1;
  }
  size_t i = 0;
  while (i < len && blank(t[i])) i++;
  if (i >= len || t[i] != 'i') return 1;
  int metric = -1;
  for (int m = 0; m < 2; m++) {
    size_t ml = METRIC_LEN[m];
    if (i + ml < len && memcmp(t + i, METRICS[m], ml) == 0) {
      uint8_t c = t[i + ml];
      if (c == '{' || blank(c)) {
        metric = m;
        i += ml;
        break;
      }
    }
  }
  if (metric < 0) return 1;
  Field fs[NF];
  for (int f = 0; f < NF; f++) fs[f].present = 0;
  if (!grow((void **)&s->scratch, &s->scratch_cap, len + 1, 1)) return 1;
  size_t sc = 0; /* used scratch */
  if (!grow((void **)&s->qpos, &s->qpos_cap, len + 16 - i, sizeof(uint32_t))) return 1;
  int has_bs;
  uint32_t *qp = s->qpos;
  scan_quotes_best(t, i, len, avail, qp, &has_bs);
  size_t qi = 0; /* qp[qi] is the first quote not yet passed */
  size_t next_bs = has_bs ? 0 : len;
  int bs_known = !has_bs;
  size_t kend = 0; /* the key: bytes up to the closing '}' (0: no labels) */
  /* segment ends of the key (series_cut), while they fit */
  if (!s->bounds) s->bounds = malloc(MAX_BOUNDS * sizeof(uint32_t));
  uint32_t *bd = s->bounds;
  size_t nb = bd ? 0 : MAX_BOUNDS + 1;
#define BOUND(x)                                                                                   \
  do {                                                                                             \
    if (nb < MAX_BOUNDS)                                                                           \
      bd[nb++] = (uint32_t)(x);                                                                    \
    else                                                                                           \
      nb = MAX_BOUNDS + 1;                                                                         \
  } while (0)
  while (i < len && blank(t[i])) i++;
  if (i < len && t[i] == '{') {
    i++;
    BOUND(i);
    for (;;) {
      /* Fast path for the usual label: name="value" then ',' or '}', no blanks, no escapes in
       * the line. It takes exactly the steps of the general walk below for such a label; any
       * other shape falls through to that walk at the same position. */
      if (!has_bs && i < len && namechar(t[i])) {
        while (qp[qi] < i) qi++;
        size_t oq = qp[qi];
        if (oq < len && t[oq - 1] == '=' && !blank(t[oq - 2])) {
          size_t ve = qp[qi + 1];
          if (ve + 1 < len && (t[ve + 1] == ',' || t[ve + 1] == '}')) {
            int f = field_of(t + i, oq - 1 - i);
            if (f >= 0 && !(f == F_URLPATH && fs[F_URLPATH].present)) {
              fs[f].present = 1;
              fs[f].p = t + oq + 1;
              fs[f].len = (uint32_t)(ve - oq - 1);
            }
            qi += 2;
            i = ve + 2;
            BOUND(i);
            if (t[ve + 1] == '}') break;
            continue;
          }
        }
      }
      while (i < len && blank(t[i])) i++;
      if (i >= len) goto malformed;
      if (t[i] == '}') {
        i++;
        BOUND(i);
        break;
      }
      size_t ns = i;
      if (!namechar(t[ns])) goto malformed;
      while (qp[qi] < i) qi++;
      size_t oq = qp[qi];
      if (oq >= len) goto malformed;
      size_t eq = oq - 1;
      while (eq > ns && blank(t[eq])) eq--;
      if (t[eq] != '=') goto malformed;
      size_t ne = eq;
      while (ne > ns && blank(t[ne - 1])) ne--;
      size_t vs = oq + 1;
      while (qp[qi] < vs) qi++;
      size_t ve = qp[qi];
      if (ve >= len) goto malformed;
      int escaped = 0;
      if (!bs_known || (next_bs < vs)) {
        const uint8_t *b = vs < len ? memchr(t + vs, '\\', len - vs) : NULL;
        next_bs = b ? (size_t)(b - t) : len;
        bs_known = 1;
      }
      if (next_bs < ve) {
        escaped = 1;
        size_t k = vs;
        for (;;) {
          if (k >= len) goto malformed;
          uint8_t c = t[k];
          if (c == '\\')
            k += 2;
          else if (c == '"')
            break;
          else
            k++;
        }
        ve = k;
      }
      int f = field_of(t + ns, ne - ns);
      if (f >= 0 && !(f == F_URLPATH && fs[F_URLPATH].present)) {
        Field *fd = &fs[f];
        fd->present = 1;
        if (escaped) {
          uint32_t ol;
          unescape_into(t + vs, ve - vs, s->scratch + sc, &ol);
          fd->p = s->scratch + sc;
          fd->len = ol;
          sc += ol;
        } else {
          fd->p = t + vs;
          fd->len = (uint32_t)(ve - vs);
        }
      }
      i = ve + 1;
      while (i < len && blank(t[i])) i++;
      if (i < len && t[i] == ',') {
        i++;
        BOUND(i);
      } else if (i < len && t[i] == '}') {
        i++;
        BOUND(i);
        break;
      } else
        goto malformed;
    }
    kend = i;
#undef BOUND
  }
  s->nbounds = nb;
  double value;
  {
    int v = line_value(s, t, i, len, &value);
    if (v == 0) return 0;
    if (v < 0) goto malformed;
  }
  if (!isfinite(value) || value < 0) {
    s->skipped[SKIP_INVALID_VALUE]++;
    return 1;
  }
  if (!(s->metrics_mask & (1u << metric))) return 1;
  s->parsed++;
  /* destination_service matters only as "is it a passthrough cluster" (series.ts isPassthrough):
   * keep that bit, not the value (it is the longest label the tuple would store). */
  if (fs[F_DS].present) {
    if (is_passthrough(fs[F_DS].p, fs[F_DS].len)) {
      fs[F_DS].p = (const uint8_t *)"PassthroughCluster";
      fs[F_DS].len = 18;
    } else
      fs[F_DS].present = 0;
  }
  /* request_path wins (its last occurrence); otherwise the first request_url_path. */
  int has_path = fs[F_PATH].present || fs[F_URLPATH].present;
  if (!fs[F_PATH].present) fs[F_PATH] = fs[F_URLPATH];
  size_t klen = 2;
  for (int f = 0; f < NKEYED; f++) klen += 4 + (fs[f].present ? fs[f].len : 0);
  /* The tuple that followed the previous one last time is the likely one: compare it first,
   * field by field against its stored key (no key built, no hash). */
  uint32_t pred = s->last == NONE ? s->head : s->tuples[s->last].next;
  uint32_t r = NONE;
  if (pred != NONE && pred < s->tcount) {
    const Tuple *pt = &s->tuples[pred];
    const uint8_t *pk = s->arena + pt->keyoff;
    if (pt->keylen == klen && pk[0] == (uint8_t)metric && pk[1] == (uint8_t)has_path) {
      size_t at = 2;
      int same = 1;
      for (int f = 0; f < NKEYED && same; f++) {
        uint32_t l;
        memcpy(&l, pk + at, 4);
        at += 4;
        if (!fs[f].present)
          same = l == 0xFFFFFFFFu;
        else {
          same = l == fs[f].len && eq_bytes(pk + at, fs[f].p, l);
          at += l;
        }
      }
      if (same) r = pred;
    }
  }
  uint8_t *k = NULL;
  uint64_t kh = 0;
  if (r == NONE) {
    if (!grow((void **)&s->key, &s->key_cap, klen, 1)) return 1;
    k = s->key;
    k[0] = (uint8_t)metric;
    k[1] = (uint8_t)has_path;
    size_t at = 2;
    for (int f = 0; f < NKEYED; f++) {
      uint32_t l = fs[f].present ? fs[f].len : 0xFFFFFFFFu;
      memcpy(k + at, &l, 4);
      at += 4;
      if (fs[f].present) {
        memcpy(k + at, fs[f].p, fs[f].len);
        at += fs[f].len;
      }
    }
  }
  if (r == NONE) {
    kh = hash_bytes(k, klen);
    __builtin_prefetch(&s->table[kh & (s->tcap - 1)]);
  }
  /* The series' segments are interned before the tuple is looked up and resolved (their probes
   * and the tuple's overlap; the result is the same in either order). */
  size_t nseg = 0;
  uint64_t sh = 0;
  if (kend > 0 && kend <= MAX_SERIES_KEY) {
    s->misses++;
    if (s->learn) nseg = series_cut(s, t, kend, &sh);
  }
  if (r == NONE) r = tuple_find(s, kh, k, klen);
  if (r == NONE) {
    int64_t c = resolve_tuple(s, metric, fs, has_path);
    if (c == -1) {
      s->failed = 1;
      return 0;
    }
    /* The callback may not touch this source's tables, so k is still this line's key and the
     * series' entries are still at the end of s->ids. */
    r = tuple_insert(s, kh, k, klen, c);
    if (r == NONE) return 1; /* out of memory: the series is lost, nothing else */
  }
  if (nseg > 0) series_add(s, nseg, sh, kend, r, metric);
  tuple_apply(s, r, value);
  return 1;
malformed:
  s->skipped[SKIP_MALFORMED]++;
  return 1;
}

/* ---------- streaming ---------- */

static int carry_append(Source *s, const uint8_t *p, size_t n) {
  if (n == 0) return 1;
  if (!grow((void **)&s->carry, &s->carry_cap, s->carry_len + n, 1)) return 0;
  memcpy(s->carry + s->carry_len, p, n);
  s->carry_len += n;
  return 1;
}

/* One whole line [t, t+len) (the carry, the last line at end()): the known series first. */
/* The known series whose key starts [t, t+avail): the predicted one, or the one after it (the
 * predicted series vanished or changed). NONE otherwise, with s->missed = the prediction: a series
 * learned from this line is linked to it (a new series was inserted before it). */
static inline uint32_t known_at(Source *s, const uint8_t *t, size_t avail) {
  uint32_t x = series_predicted(s);
  s->missed = x;
  if (x == NONE) return NONE;
  if (series_match(s, x, t, avail)) return x;
  uint32_t y = s->series[x].next;
  if (y < s->scount && series_match(s, y, t, avail)) return y;
  return NONE;
}

static int whole_line(Source *s, const uint8_t *t, size_t len) {
  uint32_t x = len <= s->max_line ? known_at(s, t, len) : NONE;
  if (x != NONE) return known_line(s, x, t, len);
  int ok = parse_line(s, t, len, len);
  s->missed = NONE;
  return ok;
}

static int feed(Source *s, const uint8_t *p, size_t n) {
  size_t start = 0;
  if (s->skipping) {
    const uint8_t *nl = memchr(p, '\n', n);
    if (!nl) return 1;
    s->skipping = 0;
    start = (size_t)(nl - p) + 1;
  }
  const uint8_t *first = start < n ? memchr(p + start, '\n', n - start) : NULL;
  if (!first) {
    if (s->carry_len + (n - start) > s->max_line) {
      s->skipped[SKIP_TOO_LONG]++;
      s->carry_len = 0;
      s->skipping = 1;
      return 1;
    }
    carry_append(s, p + start, n - start);
    return 1;
  }
  size_t f = (size_t)(first - p);
  if (s->carry_len > 0) {
    if (s->carry_len + (f - start) > s->max_line) {
      s->skipped[SKIP_TOO_LONG]++;
    } else {
      carry_append(s, p + start, f - start);
      if (!whole_line(s, s->carry, s->carry_len)) return 0;
    }
    s->carry_len = 0;
    start = f + 1;
  }
  size_t ls = start;
  while (ls < n) {
    /* A line that starts with the predicted series' key: only its value is left to read, so the
     * line end is searched from there. */
    uint32_t x = known_at(s, p + ls, n - ls);
    if (x != NONE) {
      size_t kl = s->series[x].keylen;
      /* The usual rest of a line: one space, 1 to 15 digits, '\n'. Read here, it gives the value
       * and the line end in one pass (line_value would skip the one blank and take the digits as
       * the token, which ends at the line end); any other shape takes the general steps below. */
      const uint8_t *q = p + ls + kl;
      size_t qa = n - ls - kl;
      if (qa >= 3 && q[0] == ' ') {
        size_t d = 1;
        uint64_t v = 0;
        for (unsigned c; d < qa && d <= 15 && (c = (unsigned)q[d] - '0') <= 9; d++) v = v * 10 + c;
        if (d > 1 && d < qa && q[d] == '\n' && kl + d <= s->max_line) {
          known_int(s, x, (double)v);
          ls += kl + d + 1;
          continue;
        }
      }
      const uint8_t *nl = memchr(p + ls + kl, '\n', n - ls - kl);
      if (!nl) break; /* the rest of the line is in the next chunk */
      size_t le = (size_t)(nl - p);
      if (le - ls <= s->max_line) {
        if (!known_line(s, x, p + ls, le - ls)) return 0;
      } else if (!parse_line(s, p + ls, le - ls, n - ls))
        return 0;
      ls = le + 1;
      continue;
    }
    const uint8_t *nl = memchr(p + ls, '\n', n - ls);
    if (!nl) break;
    size_t le = (size_t)(nl - p);
    int ok = parse_line(s, p + ls, le - ls, n - ls);
    s->missed = NONE;
    if (!ok) return 0;
    ls = le + 1;
  }
  if (ls < n) {
    if (n - ls > s->max_line) {
      s->skipped[SKIP_TOO_LONG]++;
      s->skipping = 1;
    } else
      carry_append(s, p + ls, n - ls);
  }
  return 1;
}

/* ---------- Node-API surface ---------- */

static void source_free(Source *s) {
  free(s->carry);
  free(s->scratch);
  free(s->key);
  free(s->qpos);
  free(s->tuples);
  free(s->table);
  free(s->arena);
  free(s->edges);
  free(s->etable);
  free(s->rec);
  free(s->u16);
  free(s->recbuf);
  free(s->server_seen);
  free(s->free_ids);
  series_drop_all(s);
  free(s->bounds);
  memset(s, 0, sizeof(*s));
}

static void finalize(napi_env env, void *data, void *hint) {
  source_free((Source *)data);
  free(data);
}

/* Marks this module's externals: a handle of another addon (also an external) is refused. */
static const napi_type_tag ISTIO_TAG = {0x63616c6c6d617069ull, 0x7374696f68616e64ull};

static int is_source(napi_env env, napi_value v) {
  bool tagged = false;
  return napi_check_object_type_tag(env, v, &ISTIO_TAG, &tagged) == napi_ok && tagged;
}

static Source *get_source(napi_env env, napi_value v) {
  void *p = NULL;
  if (!is_source(env, v) || napi_get_value_external(env, v, &p) != napi_ok || p == NULL) {
    napi_throw_type_error(env, "ISTIO_NATIVE_HANDLE", "expected an Istio native source handle");
    return NULL;
  }
  Source *s = p;
  if (s->table == NULL) {
    napi_throw_error(env, "ISTIO_NATIVE_HANDLE", "this Istio native source was destroyed");
    return NULL;
  }
  if (s->busy) {
    napi_throw_error(env, "ISTIO_NATIVE_HANDLE", "this Istio native source is in use (called from its own callback)");
    return NULL;
  }
  return s;
}

static napi_value js_create(napi_env env, napi_callback_info info) {
  Source *s = calloc(1, sizeof(Source));
  if (s) s->head = s->last = s->shead = s->slast = s->missed = NONE;
  if (!s || !table_rebuild(s, 1024) || !etable_rebuild(s, 1024) || !stable_rebuild(s, 1024)) {
    if (s) source_free(s);
    free(s);
    napi_throw_error(env, "ISTIO_NATIVE_OOM", "out of memory");
    return NULL;
  }
  s->max_line = 1 << 20;
  s->metrics_mask = 3;
  napi_value ext;
  if (napi_create_external(env, s, finalize, NULL, &ext) != napi_ok) {
    source_free(s);
    free(s);
    napi_throw_error(env, "ISTIO_NATIVE_OOM", "out of memory");
    return NULL;
  }
  if (napi_type_tag_object(env, ext, &ISTIO_TAG) != napi_ok) { /* the finalizer frees s */
    napi_throw_error(env, "ISTIO_NATIVE_OOM", "cannot tag the source handle");
    return NULL;
  }
  return ext;
}

/* begin(handle, metricsMask, maxLine, clearTuples) -> generation */
static napi_value js_begin(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  Source *s = get_source(env, argv[0]);
  if (!s) return NULL;
  uint32_t mask = 3, clear = 0;
  double maxl = 1 << 20;
  napi_get_value_uint32(env, argv[1], &mask);
  napi_get_value_double(env, argv[2], &maxl);
  napi_get_value_uint32(env, argv[3], &clear);
  s->metrics_mask = mask;
  /* clamped in double (an out-of-range conversion is undefined: Infinity gave 0) and below 4 GiB:
   * quote positions are 32-bit */
  s->max_line = maxl >= 0 ? (maxl >= (double)(UINT32_MAX - 64) ? (size_t)(UINT32_MAX - 64) : (size_t)maxl) : 0;
  s->carry_len = 0;
  s->skipping = 0;
  s->parsed = s->without_path = s->paths_dropped = s->known = s->misses = 0;
  for (int k = 0; k < NUM_SKIPS; k++) s->skipped[k] = 0;
  if (clear) {
    tuples_compact(s, 0, 1, NULL);
    s->committed = 0; /* nothing known: learn */
  }
  if (s->committed == 0 || s->last_known >= s->last_misses) {
    s->learn = 1;
    s->backoff = 1;
  } else if (s->since_learn + 1 >= s->backoff) { /* probe again, then wait twice as long */
    s->learn = 1;
    s->backoff = s->backoff * 2 < LEARN_PROBE ? s->backoff * 2 : LEARN_PROBE;
  } else
    s->learn = 0;
  s->since_learn = s->learn ? 0 : s->since_learn + 1;
  s->gen++;
  s->last = s->slast = s->missed = NONE;
  s->touched = s->stouched = 0;
  napi_value r;
  CHECK(napi_create_uint32(env, s->gen, &r));
  return r;
}

static napi_value run_feed(napi_env env, napi_callback_info info, int at_end) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  Source *s = get_source(env, argv[0]);
  if (!s) return NULL;
  /* napi_call_function on a non-function fails without an exception: the rest of the chunk would
   * be dropped silently */
  napi_valuetype t1, t2;
  bool isbuf = at_end;
  if (napi_typeof(env, argv[at_end ? 1 : 2], &t1) != napi_ok || napi_typeof(env, argv[at_end ? 2 : 3], &t2) != napi_ok ||
      t1 != napi_function || t2 != napi_function || (!at_end && napi_is_buffer(env, argv[1], &isbuf) != napi_ok) ||
      !isbuf) {
    napi_throw_type_error(env, "ISTIO_NATIVE_ARG",
                          at_end ? "end(handle, resolve, number): functions expected"
                                 : "push(handle, buffer, resolve, number): a Buffer and functions expected");
    return NULL;
  }
  s->env = env;
  s->resolve = argv[at_end ? 1 : 2];
  s->number = argv[at_end ? 2 : 3];
  s->failed = 0;
  s->busy = 1;
  if (!at_end) {
    void *data = NULL;
    size_t n = 0;
    napi_typedarray_type tt;
    if (napi_get_buffer_info(env, argv[1], &data, &n) != napi_ok ||
        napi_get_typedarray_info(env, argv[1], &tt, &n, &data, &s->chunk_ab, NULL) != napi_ok) {
      s->busy = 0;
      s->chunk_ab = NULL;
      napi_throw_type_error(env, "ISTIO_NATIVE_ARG", "push(handle, buffer, resolve, number): a Buffer expected");
      return NULL;
    }
    feed(s, data, n);
    s->chunk_ab = NULL;
  } else {
    if (s->carry_len > 0 && !s->skipping) {
      size_t n = s->carry_len;
      s->carry_len = 0;
      whole_line(s, s->carry, n);
    }
    s->carry_len = 0;
    s->skipping = 0;
  }
  s->env = NULL;
  s->busy = 0;
  return NULL; /* a pending exception from a callback propagates */
}

/* push(handle, buffer, resolve, number) */
static napi_value js_push(napi_env env, napi_callback_info info) { return run_feed(env, info, 0); }
/* end(handle, resolve, number) */
static napi_value js_end(napi_env env, napi_callback_info info) { return run_feed(env, info, 1); }

/* stats(handle, out: Float64Array(10 or 11)): parsed, 7 skip counts, withoutPathLabel,
 * pathsDropped[, lines read by the known-series fast path] */
static napi_value js_stats(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  Source *s = get_source(env, argv[0]);
  if (!s) return NULL;
  napi_typedarray_type type;
  size_t len;
  void *data;
  CHECK(napi_get_typedarray_info(env, argv[1], &type, &len, &data, NULL, NULL));
  if (type != napi_float64_array || len < 10) {
    napi_throw_type_error(env, "ISTIO_NATIVE_ARG", "stats needs a Float64Array of 10");
    return NULL;
  }
  double *o = data;
  o[0] = s->parsed;
  for (int k = 0; k < NUM_SKIPS; k++) o[1 + k] = s->skipped[k];
  o[8] = s->without_path;
  o[9] = s->paths_dropped;
  if (len >= 11) o[10] = s->known;
  return NULL;
}

/* edgeAdd(handle, record, value) -> the pending slot of a new edge (JS keeps its Edge there), as
 * resolve's last argument: the Envoy JSON path adds its edges through this. */
static napi_value js_edge_add(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3], r;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  Source *s = get_source(env, argv[0]);
  if (!s) return NULL;
  double v;
  CHECK(napi_get_value_double(env, argv[2], &v));
  unsigned flags;
  uint32_t seq = s->seq;
  uint32_t idx = edge_from_record(s, env, argv[1], &flags);
  if (idx == NONE) return NULL;
  edge_value(s, &s->edges[idx], v);
  CHECK(napi_create_uint32(env, seq, &r));
  return r;
}

static napi_value typed(napi_env env, napi_typedarray_type type, size_t elem, const void *src, size_t n) {
  void *data;
  napi_value ab, ta;
  if (napi_create_arraybuffer(env, n * elem, &data, &ab) != napi_ok) return NULL;
  if (n) memcpy(data, src, n * elem);
  if (napi_create_typedarray(env, type, n, ab, 0, &ta) != napi_ok) return NULL;
  return ta;
}

/* commit(handle, gen) -> [firstSeen, resets, ids of the changed edges (Uint32Array), their counts
 * (Float64Array), server ids (+1) of the destination edges on this page (Uint32Array), ids of the
 * edges created since the last commit that stay (Uint32Array) and their pending slots (Uint32Array:
 * JS adopts the Edge it built in that slot), ids JS holds whose edges are now forgotten
 * (Uint32Array)]. Edges and tuples not on this page are forgotten, and their ids reused by later
 * edges (adopted again). After a commit JS holds exactly the live edges. */
static napi_value js_commit(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  Source *s = get_source(env, argv[0]);
  if (!s) return NULL;
  uint32_t gen;
  CHECK(napi_get_value_uint32(env, argv[1], &gen));
  if (gen == s->gen) { /* this page's hit rate decides whether the next one learns series */
    s->last_known = s->known;
    s->last_misses = s->misses;
    s->committed++;
  }
  size_t n = s->ecount;
  uint32_t *emap = malloc((n + 1) * sizeof(uint32_t));
  uint32_t *changed = malloc((n + 1) * sizeof(uint32_t));
  double *counts = malloc((n + 1) * sizeof(double));
  uint32_t *servers = malloc((n + 1) * sizeof(uint32_t));
  uint32_t *fresh = malloc((n + 1) * sizeof(uint32_t));    /* edge indexes, then their ids */
  uint32_t *fids = malloc((n + 1) * sizeof(uint32_t));     /* their ids */
  uint32_t *seqs = malloc((n + 1) * sizeof(uint32_t));     /* their pending slots */
  uint32_t *released = malloc((n + 1) * sizeof(uint32_t)); /* ids */
  if (!emap || !changed || !counts || !servers || !fresh || !fids || !seqs || !released) {
    free(emap), free(changed), free(counts), free(servers), free(fresh), free(fids), free(seqs), free(released);
    napi_throw_error(env, "ISTIO_NATIVE_OOM", "out of memory");
    return NULL;
  }
  size_t nc = 0, ns = 0, live = 0, nf = 0, nr = 0;
  double first_seen = 0, resets = 0;
  for (size_t i = 0; i < n; i++) {
    Edge *e = &s->edges[i];
    if (e->gen != gen) {
      emap[i] = NONE;
      if (e->known) { /* JS drops it now; should the compaction below fail, it is handed over again */
        released[nr++] = e->id;
        e->known = 0;
      }
      continue;
    }
    emap[i] = (uint32_t)live++;
    if (!e->known) fresh[nf++] = (uint32_t)i; /* JS adopts the Edge it built for it */
    double delta;
    if (!e->has_last) {
      first_seen++;
      delta = e->cur;
    } else if (e->cur < e->last) {
      resets++;
      delta = e->cur;
    } else
      delta = e->cur - e->last;
    e->last = e->cur;
    e->has_last = 1;
    /* Math.round: nearest integer, halves towards +Infinity. */
    double c = floor(delta);
    if (delta - c >= 0.5) c += 1;
    if (c >= 1) {
      changed[nc] = e->id;
      counts[nc++] = c;
    }
    if (e->server) {
      if (e->server > s->server_seen_cap) {
        size_t old = s->server_seen_cap;
        if (grow((void **)&s->server_seen, &s->server_seen_cap, e->server + 1, 1))
          memset(s->server_seen + old, 0, s->server_seen_cap - old);
      }
      if (e->server < s->server_seen_cap && !s->server_seen[e->server]) {
        s->server_seen[e->server] = 1;
        servers[ns++] = e->server;
      }
    }
  }
  for (size_t k = 0; k < ns; k++) s->server_seen[servers[k]] = 0;
  /* the adopted edges' ids and pending slots */
  for (size_t k = 0; k < nf; k++) {
    fids[k] = s->edges[fresh[k]].id;
    seqs[k] = s->edges[fresh[k]].seq;
  }
  napi_value out = NULL, parts[8];
  napi_status st = napi_create_array_with_length(env, 8, &out);
  if (st == napi_ok) {
    napi_create_double(env, first_seen, &parts[0]);
    napi_create_double(env, resets, &parts[1]);
    parts[2] = typed(env, napi_uint32_array, 4, changed, nc);
    parts[3] = typed(env, napi_float64_array, 8, counts, nc);
    parts[4] = typed(env, napi_uint32_array, 4, servers, ns);
    parts[5] = typed(env, napi_uint32_array, 4, fids, nf);
    parts[6] = typed(env, napi_uint32_array, 4, seqs, nf);
    parts[7] = typed(env, napi_uint32_array, 4, released, nr);
    for (uint32_t k = 0; k < 8 && st == napi_ok; k++)
      st = parts[k] ? napi_set_element(env, out, k, parts[k]) : napi_generic_failure;
  }
  if (st == napi_ok) { /* JS adopts them now: their slots are free again */
    for (size_t k = 0; k < nf; k++) {
      s->edges[fresh[k]].known = 1;
      s->edges[fresh[k]].seq = NONE;
    }
    s->seq = 0;
    for (size_t i = 0; i < n; i++) /* edges created since and forgotten now had no slot JS kept */
      if (emap[i] == NONE) s->edges[i].seq = NONE;
  } /* else JS got none of them: they stay pending (JS keeps its slots until a commit succeeds) */
  /* Forget what was not on this page: edges (compacted in order, records too), then tuples. */
  int stale_tuples = gen != s->gen || s->touched != s->tcount, series_done = 0;
  if (live != n) {
    size_t bytes = 0;
    for (size_t i = 0; i < n; i++)
      if (emap[i] != NONE) bytes += s->edges[i].reclen;
    uint8_t *rec = malloc(bytes ? bytes : 1);
    if (rec) {
      size_t at = 0;
      if (grow((void **)&s->free_ids, &s->free_cap, s->nfree + (n - live), sizeof(uint32_t)))
        for (size_t i = 0; i < n; i++)
          if (emap[i] == NONE) s->free_ids[s->nfree++] = s->edges[i].id; /* else those ids are not reused */
      for (size_t i = 0; i < n; i++) {
        if (emap[i] == NONE) continue;
        Edge e = s->edges[i];
        memcpy(rec + at, s->rec + e.recoff, e.reclen);
        e.recoff = at;
        at += e.reclen;
        s->edges[emap[i]] = e;
      }
      free(s->rec);
      s->rec = rec;
      s->rec_cap = bytes ? bytes : 1;
      s->rec_len = bytes;
      s->ecount = live;
      shrink((void **)&s->edges, &s->ecap, live, sizeof(Edge));
      size_t cap = 1024;
      while (cap < live * 2 + 2) cap *= 2;
      etable_rebuild(s, cap);
      tuples_compact(s, gen, 0, emap); /* and the series */
      stale_tuples = 0;
      series_done = 1;
    }
  }
  if (stale_tuples) tuples_compact(s, gen, 0, NULL); /* compacts the series too */
  else if (!series_done && (gen != s->gen || s->stouched != s->scount))
    series_compact(s, gen, 0, NULL);
  s->last = s->slast = NONE; /* an index from before the compaction; a push without begin() would follow it */
  /* Scratch sized by the longest line seen: do not keep a pathological page's size per proxy. */
  trim(&s->carry, &s->carry_cap, 1);
  trim(&s->scratch, &s->scratch_cap, 1);
  trim(&s->key, &s->key_cap, 1);
  trim((void *)&s->qpos, &s->qpos_cap, sizeof(uint32_t));
  trim((void *)&s->u16, &s->u16_cap, sizeof(uint16_t));
  trim(&s->recbuf, &s->recbuf_cap, 1);
  free(emap);
  free(changed);
  free(counts);
  free(servers);
  free(fresh);
  free(fids);
  free(seqs);
  free(released);
  return st == napi_ok ? out : NULL;
}

/* destroy(handle): frees the state now (the finalizer would, later). */
static napi_value js_destroy(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  void *p = NULL;
  if (!is_source(env, argv[0])) {
    napi_throw_type_error(env, "ISTIO_NATIVE_HANDLE", "expected an Istio native source handle");
    return NULL;
  }
  if (napi_get_value_external(env, argv[0], &p) == napi_ok && p) {
    if (((Source *)p)->busy) {
      napi_throw_error(env, "ISTIO_NATIVE_HANDLE", "this Istio native source is in use (called from its own callback)");
      return NULL;
    }
    source_free(p);
  }
  return NULL;
}

/* simd(name?) -> the scanners in use: 'avx512' (AVX2 quote scan, AVX-512BW key compare), 'avx2'
 * or 'sse2'; a name forces that set when the CPU has it (tests run each). */
static napi_value js_simd(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], r;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char want[8] = "";
  size_t n = 0;
  if (argc >= 1 && napi_get_value_string_latin1(env, argv[0], want, sizeof(want), &n) == napi_ok) {
    if (strcmp(want, "sse2") == 0) {
      scan_quotes_best = scan_quotes;
      match_best = match_sse2;
    } else if ((strcmp(want, "avx2") == 0 || strcmp(want, "avx512") == 0) && __builtin_cpu_supports("avx2") &&
               __builtin_cpu_supports("popcnt") && __builtin_cpu_supports("bmi") && __builtin_cpu_supports("bmi2")) {
      scan_quotes_best = scan_quotes_avx2;
      match_best = match_avx2;
      if (want[3] == '5' && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw"))
        match_best = match_avx512;
    }
  }
  const char *name = match_best == match_avx512 ? "avx512" : scan_quotes_best == scan_quotes ? "sse2" : "avx2";
  CHECK(napi_create_string_latin1(env, name, strlen(name), &r));
  return r;
}

/* memory(handle) -> bytes held natively by this source */
static napi_value js_memory(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  Source *s = get_source(env, argv[0]);
  if (!s) return NULL;
  double b = (double)(s->carry_cap + s->scratch_cap + s->key_cap + s->qpos_cap * 4 + s->tuples_cap * sizeof(Tuple) + s->tcap * 4 + s->arena_cap +
                      s->ecap * sizeof(Edge) + s->etcap * 4 + s->rec_cap + s->u16_cap * 2 + s->recbuf_cap + s->server_seen_cap + s->free_cap * 4 +
                      s->series_cap * sizeof(Series) + s->stcap * 4 + s->ids_cap * 4 + s->segs_cap * sizeof(Seg) +
                      s->segtcap * 4 + (s->segbytes ? s->segbytes_cap + SEG_PAD : 0) + (s->bounds ? MAX_BOUNDS * 4 : 0) + (s->segrecent ? SEG_RECENT * 4 : 0));
  napi_value r;
  CHECK(napi_create_double(env, b, &r));
  return r;
}

static pthread_once_t names_once = PTHREAD_ONCE_INIT;

static napi_value init(napi_env env, napi_value exports) {
  /* once per process: init runs again in every worker thread that loads the addon, and rewriting
   * the shared tables (all -1 first) under a parse running in another thread misreads labels */
  pthread_once(&names_once, names_init);
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("popcnt") && __builtin_cpu_supports("bmi"))
    scan_quotes_best = scan_quotes_avx2;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("bmi") && __builtin_cpu_supports("bmi2"))
    match_best = match_avx2;
  if (match_best == match_avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw"))
    match_best = match_avx512;
  napi_property_descriptor props[] = {
      {"create", NULL, js_create, NULL, NULL, NULL, napi_enumerable, NULL},
      {"begin", NULL, js_begin, NULL, NULL, NULL, napi_enumerable, NULL},
      {"push", NULL, js_push, NULL, NULL, NULL, napi_enumerable, NULL},
      {"end", NULL, js_end, NULL, NULL, NULL, napi_enumerable, NULL},
      {"stats", NULL, js_stats, NULL, NULL, NULL, napi_enumerable, NULL},
      {"edgeAdd", NULL, js_edge_add, NULL, NULL, NULL, napi_enumerable, NULL},
      {"commit", NULL, js_commit, NULL, NULL, NULL, napi_enumerable, NULL},
      {"destroy", NULL, js_destroy, NULL, NULL, NULL, napi_enumerable, NULL},
      {"memory", NULL, js_memory, NULL, NULL, NULL, napi_enumerable, NULL},
      {"simd", NULL, js_simd, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  if (napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props) != napi_ok) return NULL;
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
