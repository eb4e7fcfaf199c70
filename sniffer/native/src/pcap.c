/*
 * callmap's libpcap binding (Node-API, NAPI_VERSION 8).
 *
 * A capture is a pcap_t opened with pcap_create/pcap_set_ and pcap_activate, set nonblocking,
 * with a kernel BPF filter (pcap_compile + pcap_setfilter). Reading is driven by libuv: a uv_poll
 * handle watches pcap_get_selectable_fd(); when it is readable, pcap_dispatch() drains the ring
 * and each packet is copied into ONE caller-provided Buffer as a record
 *
 *   u32 LE caplen | u32 LE wire length | u32 LE ts seconds | u32 LE ts microseconds | caplen bytes
 *
 * The JS callback is called once per batch with (bytes used, record count) -- and once more
 * mid-dispatch only when the buffer fills up -- so there is no per-packet allocation and one
 * JS<->C crossing per batch. The buffer may be reused as soon as the callback returns.
 *
 * Exports: deviceList(), open(device, filter, opts, buffer, onBatch), openOffline(file, filter,
 * buffer, onBatch), linkType(h), dispatch(h), pause(h), resume(h), stats(h), close(h).
 * Errors thrown by open carry a `code`: NO_SUCH_DEVICE, PERM_DENIED, IFACE_NOT_UP, FILTER,
 * ACTIVATE, CAPTURE, ARG; the message is libpcap's own text (pcap_geterr / errbuf).
 */
#include <node_api.h>
#include <pcap/pcap.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#define REC_HDR 16
/* Marks this addon's externals: a handle of another addon (also an external) is refused. */
static const napi_type_tag PCAP_TAG = {0x63616c6c6d617020ull, 0x7063617068616e64ull};
#define MIN_BUFFER 256

typedef struct capture {
  napi_env env;
  pcap_t *p;
  uv_poll_t poll;
  int poll_init;     /* poll handle initialised: must be uv_close()d */
  int polling;       /* uv_poll_start() active */
  int closed;
  int in_dispatch;   /* inside pcap_dispatch(): close is deferred */
  int close_pending; /* close() called from the callback during a dispatch */
  int failed;        /* the JS callback threw during this dispatch */
  int hook;          /* env cleanup hook registered */
  napi_async_cleanup_hook_handle hook_h;   /* its handle */
  napi_async_cleanup_hook_handle teardown; /* env teardown waits for the poll handle's close callback */
  int env_gone;      /* env is being torn down: no more JS calls or reference edits */
  int in_poll;       /* inside on_poll's callback scope: JS references are released at its end */
  int refs;          /* 1 for the JS external, 1 for the poll handle until its close callback */
  int link_type;
  napi_ref cb;
  napi_ref buf_ref;
  napi_ref resource;
  napi_async_context actx;
  uint8_t *buf;
  size_t cap;
  size_t used;
  uint32_t count;
  int taken; /* packets copied during the current do_dispatch */
  struct pcap_stat last; /* stats taken right before pcap_close */
} capture_t;

/* ---------- small helpers ---------- */

static void throw_code(napi_env env, const char *code, const char *msg) {
  napi_throw_error(env, code, msg);
}

#define CHECK(env, call)                                   \
  do {                                                     \
    if ((call) != napi_ok) {                               \
      const napi_extended_error_info *ei = NULL;           \
      napi_get_last_error_info((env), &ei);                \
      bool pending = false;                                \
      napi_is_exception_pending((env), &pending);          \
      if (!pending)                                        \
        throw_code((env), "ARG", ei && ei->error_message ? ei->error_message : "node-api call failed"); \
      return NULL;                                         \
    }                                                      \
  } while (0)

static void put_u32le(uint8_t *d, uint32_t v) {
  d[0] = (uint8_t)v;
  d[1] = (uint8_t)(v >> 8);
  d[2] = (uint8_t)(v >> 16);
  d[3] = (uint8_t)(v >> 24);
}

/* pcap_datalink() gives DLT_ values; report the LINKTYPE_ numbers savefiles and the decoders use. */
static int linktype_of(int dlt) {
#ifdef DLT_RAW
  if (dlt == DLT_RAW) return 101; /* DLT_RAW is 12 (14 on OpenBSD); LINKTYPE_RAW is 101 */
#endif
  return dlt;
}

/* Copies a JS string argument into a malloc'd C string (NULL + thrown error on failure). */
static char *get_string(napi_env env, napi_value v, const char *what) {
  size_t len = 0;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) {
    char msg[96];
    snprintf(msg, sizeof msg, "%s must be a string", what);
    throw_code(env, "ARG", msg);
    return NULL;
  }
  char *s = malloc(len + 1);
  if (!s) {
    throw_code(env, "ARG", "out of memory");
    return NULL;
  }
  if (napi_get_value_string_utf8(env, v, s, len + 1, &len) != napi_ok) {
    free(s);
    throw_code(env, "ARG", "cannot read string argument");
    return NULL;
  }
  if (strlen(s) != len) { /* embedded NUL: libpcap would see a different name/filter */
    free(s);
    char msg[96];
    snprintf(msg, sizeof msg, "%s must not contain NUL characters", what);
    throw_code(env, "ARG", msg);
    return NULL;
  }
  return s;
}

/* Reads an optional numeric/boolean property of opts (returns dflt when absent/undefined). */
static int32_t opt_int(napi_env env, napi_value opts, const char *name, int32_t dflt) {
  napi_valuetype t;
  if (napi_typeof(env, opts, &t) != napi_ok || t != napi_object) return dflt;
  napi_value v;
  if (napi_get_named_property(env, opts, name, &v) != napi_ok) return dflt;
  if (napi_typeof(env, v, &t) != napi_ok) return dflt;
  if (t == napi_boolean) {
    bool b = false;
    napi_get_value_bool(env, v, &b);
    return b ? 1 : 0;
  }
  if (t != napi_number) return dflt;
  int32_t r = dflt;
  napi_get_value_int32(env, v, &r);
  return r;
}

static void release(capture_t *c) {
  if (--c->refs == 0) free(c);
}

/* At env teardown the hook is an async one: the env (and a worker's dlclose() of this addon) waits
 * until this close callback has run, so libuv never calls into unloaded code. */
static void on_poll_closed(uv_handle_t *h) {
  capture_t *c = h->data;
  napi_async_cleanup_hook_handle t = c->teardown;
  c->teardown = NULL;
  release(c);
  if (t) napi_remove_async_cleanup_hook(t);
}

static void cleanup_hook(napi_async_cleanup_hook_handle h, void *arg);
static void release_js(capture_t *c);

/* Closes the capture (idempotent); deferred when called during pcap_dispatch(). */
static void do_close(capture_t *c) {
  if (c->closed) return;
  if (c->in_dispatch) {
    c->close_pending = 1;
    if (c->p) pcap_breakloop(c->p);
    return;
  }
  c->closed = 1;
  if (c->polling) {
    uv_poll_stop(&c->poll); /* removes the fd from epoll before libpcap closes it */
    c->polling = 0;
  }
  if (c->p) {
    if (pcap_stats(c->p, &c->last) != 0) memset(&c->last, 0, sizeof c->last);
    pcap_close(c->p);
    c->p = NULL;
  }
  if (c->poll_init) {
    c->poll_init = 0;
    uv_close((uv_handle_t *)&c->poll, on_poll_closed);
  }
  if (!c->in_poll) release_js(c);
}

/* Drops the JS references and the async context of a closed capture. */
static void release_js(capture_t *c) {
  if (!c->env_gone) {
    if (c->hook) {
      napi_remove_async_cleanup_hook(c->hook_h);
      c->hook = 0;
    }
    if (c->cb) napi_delete_reference(c->env, c->cb);
    if (c->buf_ref) napi_delete_reference(c->env, c->buf_ref);
    if (c->resource) napi_delete_reference(c->env, c->resource);
    if (c->actx) napi_async_destroy(c->env, c->actx);
  }
  c->cb = c->buf_ref = c->resource = NULL;
  c->actx = NULL;
  c->buf = NULL;
  c->cap = c->used = 0;
  c->count = 0;
}

static void cleanup_hook(napi_async_cleanup_hook_handle h, void *arg) {
  capture_t *c = arg;
  c->hook = 0;
  c->env_gone = 1;
  c->in_dispatch = 0;
  c->in_poll = 0;
  int wait = c->poll_init;
  if (wait) c->teardown = h;
  do_close(c);
  if (!wait) napi_remove_async_cleanup_hook(h);
}

static void finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  capture_t *c = data;
  do_close(c);
  release(c);
}

/* ---------- batching ---------- */

/* Re-reads the batch buffer's memory from its reference (needs an open handle scope): JS may have
 * detached its ArrayBuffer (structuredClone/postMessage transfer), which moves or frees the memory
 * the raw pointer saw. c->buf is NULL when the buffer is no longer usable. */
static void refresh_buf(capture_t *c) {
  napi_value b;
  void *data = NULL;
  size_t len = 0;
  if (c->env_gone || !c->buf_ref || napi_get_reference_value(c->env, c->buf_ref, &b) != napi_ok || !b ||
      napi_get_buffer_info(c->env, b, &data, &len) != napi_ok || !data || len < MIN_BUFFER) {
    c->buf = NULL;
    c->cap = 0;
    return;
  }
  c->buf = data;
  c->cap = len;
}

/* Hands the filled part of the buffer to JS: onBatch(bytes, count). */
static void flush(capture_t *c) {
  if (c->count == 0 || c->env_gone || !c->cb) return;
  napi_env env = c->env;
  uint32_t n = (uint32_t)c->used, k = c->count;
  c->used = 0;
  c->count = 0;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) {
    c->failed = 1;
    return;
  }
  napi_value cb, recv, args[2], result;
  if (napi_get_reference_value(env, c->cb, &cb) != napi_ok || napi_get_undefined(env, &recv) != napi_ok ||
      napi_create_uint32(env, n, &args[0]) != napi_ok || napi_create_uint32(env, k, &args[1]) != napi_ok ||
      napi_call_function(env, recv, cb, 2, args, &result) != napi_ok)
    c->failed = 1;
  refresh_buf(c); /* the callback may have detached the buffer */
  napi_close_handle_scope(env, scope);
}

static void on_packet(u_char *user, const struct pcap_pkthdr *h, const u_char *data) {
  capture_t *c = (capture_t *)user;
  if (c->failed || c->close_pending || !c->buf) return;
  size_t caplen = h->caplen;
  if (c->used + REC_HDR + caplen > c->cap) {
    flush(c);
    if (c->failed || c->close_pending || !c->buf) {
      if (c->p) pcap_breakloop(c->p);
      return;
    }
    if (REC_HDR + caplen > c->cap) caplen = c->cap - REC_HDR; /* bigger than the whole buffer: cut */
  }
  uint8_t *d = c->buf + c->used;
  put_u32le(d, (uint32_t)caplen);
  put_u32le(d + 4, h->len);
  put_u32le(d + 8, (uint32_t)h->ts.tv_sec);
  put_u32le(d + 12, (uint32_t)h->ts.tv_usec);
  memcpy(d + REC_HDR, data, caplen);
  c->used += REC_HDR + caplen;
  c->count++;
  c->taken++;
}

/*
 * Runs pcap_dispatch until the ring is empty (or `rounds` calls), then flushes. Returns the number
 * of packets, or -1 with libpcap's error in *err (err must hold PCAP_ERRBUF_SIZE).
 */
static int do_dispatch(capture_t *c, int rounds, char *err) {
  int rc = 0;
  refresh_buf(c);
  if (!c->buf) {
    snprintf(err, PCAP_ERRBUF_SIZE, "the capture buffer was detached (its ArrayBuffer was transferred)");
    return -1;
  }
  c->in_dispatch = 1;
  c->failed = 0;
  c->taken = 0;
  for (int i = 0; i < rounds && c->p; i++) {
    rc = pcap_dispatch(c->p, -1, on_packet, (u_char *)c);
    if (rc == PCAP_ERROR) snprintf(err, PCAP_ERRBUF_SIZE, "%s", pcap_geterr(c->p));
    if (rc <= 0 || c->failed || c->close_pending) break;
  }
  if (!c->failed && !c->close_pending) flush(c);
  c->used = 0;
  c->count = 0;
  c->in_dispatch = 0;
  if (c->close_pending) {
    c->close_pending = 0;
    do_close(c);
  }
  return rc == PCAP_ERROR ? -1 : c->taken;
}

/* Tells JS about a capture error: onBatch(0, 0, message). */
static void report_error(capture_t *c, const char *msg) {
  if (c->env_gone || !c->cb) return;
  napi_env env = c->env;
  napi_value cb, recv, args[3], result;
  if (napi_get_reference_value(env, c->cb, &cb) != napi_ok || napi_get_undefined(env, &recv) != napi_ok ||
      napi_create_uint32(env, 0, &args[0]) != napi_ok || napi_create_uint32(env, 0, &args[1]) != napi_ok ||
      napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &args[2]) != napi_ok ||
      napi_call_function(env, recv, cb, 3, args, &result) != napi_ok)
    c->failed = 1;
}

static void on_poll(uv_poll_t *h, int status, int events) {
  (void)events;
  capture_t *c = h->data;
  if (c->closed || c->env_gone || !c->p) return;
  napi_env env = c->env;
  napi_handle_scope hs;
  if (napi_open_handle_scope(env, &hs) != napi_ok) return;
  napi_value res;
  napi_callback_scope cs = NULL;
  /* a callback scope: nextTicks and promise jobs queued by the callback run when it closes */
  if (napi_get_reference_value(env, c->resource, &res) != napi_ok ||
      napi_open_callback_scope(env, res, c->actx, &cs) != napi_ok)
    cs = NULL;
  c->in_poll = 1;
  char err[PCAP_ERRBUF_SIZE];
  err[0] = 0;
  int broken = 0;
  if (status < 0) {
    snprintf(err, sizeof err, "poll failed: %s", uv_strerror(status));
    broken = 1;
  } else if (do_dispatch(c, 8, err) < 0) {
    broken = 1;
  }
  if (broken && !c->closed) {
    if (c->polling) {
      uv_poll_stop(&c->poll);
      c->polling = 0;
    }
    c->failed = 0;
    report_error(c, err[0] ? err : "capture failed");
  }
  if (c->failed) {
    /* the callback threw: an uncaught exception, as from any other event source */
    napi_value e;
    if (napi_get_and_clear_last_exception(env, &e) == napi_ok) napi_fatal_exception(env, e);
    c->failed = 0;
  }
  if (cs) napi_close_callback_scope(env, cs);
  c->in_poll = 0;
  if (c->closed) release_js(c); /* closed by the callback */
  napi_close_handle_scope(env, hs);
}

/* ---------- exported functions ---------- */

static capture_t *get_capture(napi_env env, napi_value v) {
  void *data = NULL;
  napi_valuetype t;
  bool tagged = false;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_external ||
      napi_check_object_type_tag(env, v, &PCAP_TAG, &tagged) != napi_ok || !tagged ||
      napi_get_value_external(env, v, &data) != napi_ok || !data) {
    throw_code(env, "ARG", "not a capture handle");
    return NULL;
  }
  return data;
}

/* Builds the JS handle for an activated pcap_t (takes ownership of p, closes it on failure). */
static napi_value make_handle(napi_env env, pcap_t *p, napi_value buffer, napi_value onBatch, int poll) {
  bool is_buf = false;
  napi_valuetype t;
  void *bdata = NULL;
  size_t blen = 0;
  if (napi_is_buffer(env, buffer, &is_buf) != napi_ok || !is_buf ||
      napi_get_buffer_info(env, buffer, &bdata, &blen) != napi_ok || blen < MIN_BUFFER || blen > 0x7fffffff) {
    pcap_close(p);
    throw_code(env, "ARG", "buffer must be a Buffer of 256 bytes to 2 GiB");
    return NULL;
  }
  if (napi_typeof(env, onBatch, &t) != napi_ok || t != napi_function) {
    pcap_close(p);
    throw_code(env, "ARG", "onBatch must be a function");
    return NULL;
  }
  capture_t *c = calloc(1, sizeof *c);
  if (!c) {
    pcap_close(p);
    throw_code(env, "CAPTURE", "out of memory");
    return NULL;
  }
  c->env = env;
  c->p = p;
  c->refs = 1;
  c->link_type = linktype_of(pcap_datalink(p));
  c->buf = bdata;
  c->cap = blen;
  napi_value resource, name, ext;
  if (napi_create_reference(env, onBatch, 1, &c->cb) != napi_ok ||
      napi_create_reference(env, buffer, 1, &c->buf_ref) != napi_ok || napi_create_object(env, &resource) != napi_ok ||
      napi_create_reference(env, resource, 1, &c->resource) != napi_ok ||
      napi_create_string_utf8(env, "callmap:pcap", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_async_init(env, resource, name, &c->actx) != napi_ok) {
    do_close(c);
    release(c);
    throw_code(env, "CAPTURE", "cannot set up the capture callback");
    return NULL;
  }
  if (napi_add_async_cleanup_hook(env, cleanup_hook, c, &c->hook_h) == napi_ok) c->hook = 1;
  if (poll) {
    char msg[PCAP_ERRBUF_SIZE + 64];
    uv_loop_t *loop = NULL;
    int fd = pcap_get_selectable_fd(p);
    int rc = 0;
    if (fd < 0) {
      snprintf(msg, sizeof msg, "no selectable file descriptor for this capture");
      rc = -1;
    } else if (napi_get_uv_event_loop(env, &loop) != napi_ok || !loop) {
      snprintf(msg, sizeof msg, "no event loop");
      rc = -1;
    } else if ((rc = uv_poll_init(loop, &c->poll, fd)) != 0) {
      snprintf(msg, sizeof msg, "uv_poll_init: %s", uv_strerror(rc));
    } else {
      c->poll.data = c;
      c->poll_init = 1;
      c->refs++;
      if ((rc = uv_poll_start(&c->poll, UV_READABLE, on_poll)) != 0) {
        snprintf(msg, sizeof msg, "uv_poll_start: %s", uv_strerror(rc));
      } else {
        c->polling = 1;
        /* like an unref'd timer: capture alone does not keep the process alive */
        uv_unref((uv_handle_t *)&c->poll);
      }
    }
    if (rc != 0) {
      do_close(c);
      release(c);
      throw_code(env, "CAPTURE", msg);
      return NULL;
    }
  }
  if (napi_create_external(env, c, finalize, NULL, &ext) != napi_ok) {
    do_close(c);
    release(c);
    throw_code(env, "CAPTURE", "cannot create the capture handle");
    return NULL;
  }
  if (napi_type_tag_object(env, ext, &PCAP_TAG) != napi_ok) { /* the finalizer closes it */
    throw_code(env, "CAPTURE", "cannot create the capture handle");
    return NULL;
  }
  return ext;
}

/* Compiles and installs `filter` (empty: none). Returns 0, or -1 after throwing FILTER. */
static int set_filter(napi_env env, pcap_t *p, const char *filter) {
  if (!filter[0]) return 0;
  struct bpf_program prog;
  char msg[PCAP_ERRBUF_SIZE + 64];
  if (pcap_compile(p, &prog, filter, 1, PCAP_NETMASK_UNKNOWN) != 0) {
    snprintf(msg, sizeof msg, "bad capture filter: %s", pcap_geterr(p));
    throw_code(env, "FILTER", msg);
    return -1;
  }
  int rc = pcap_setfilter(p, &prog);
  pcap_freecode(&prog);
  if (rc != 0) {
    snprintf(msg, sizeof msg, "cannot install capture filter: %s", pcap_geterr(p));
    throw_code(env, "FILTER", msg);
    return -1;
  }
  return 0;
}

/*
 * Reads the arguments common to open() and openOffline(): `want` of them, the first two strings
 * (a device or file name, and a filter). Returns 0, or -1 after throwing ARG.
 */
static int get_args(napi_env env, napi_callback_info info, napi_value *argv, size_t want, const char *usage,
                    const char *what, char **name, char **filter) {
  size_t argc = want;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < want) {
    throw_code(env, "ARG", usage);
    return -1;
  }
  *name = get_string(env, argv[0], what);
  if (!*name) return -1;
  *filter = get_string(env, argv[1], "filter");
  if (!*filter) {
    free(*name);
    return -1;
  }
  return 0;
}

/* open(device, filter, {snaplen, bufferSize, timeoutMs, immediate, promisc}, buffer, onBatch) */
static napi_value js_open(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  char *device, *filter;
  if (get_args(env, info, argv, 5, "open(device, filter, opts, buffer, onBatch)", "device", &device, &filter) != 0)
    return NULL;
  int32_t snaplen = opt_int(env, argv[2], "snaplen", 65535);
  int32_t bufsize = opt_int(env, argv[2], "bufferSize", 2 * 1024 * 1024);
  int32_t timeout = opt_int(env, argv[2], "timeoutMs", 100);
  int32_t immediate = opt_int(env, argv[2], "immediate", 0);
  int32_t promisc = opt_int(env, argv[2], "promisc", 0);
  bool pending = false;
  if (napi_is_exception_pending(env, &pending) != napi_ok || pending) { /* an options getter threw */
    free(device);
    free(filter);
    return NULL;
  }
  char errbuf[PCAP_ERRBUF_SIZE];
  char msg[PCAP_ERRBUF_SIZE * 2 + 64];
  errbuf[0] = 0;
  pcap_t *p = pcap_create(device, errbuf);
  if (!p) {
    snprintf(msg, sizeof msg, "%s: %s", device, errbuf);
    free(device);
    free(filter);
    throw_code(env, "CAPTURE", msg);
    return NULL;
  }
  if (snaplen < 64 || snaplen > 262144) snaplen = 65535;
  pcap_set_snaplen(p, snaplen);
  pcap_set_promisc(p, promisc ? 1 : 0);
  pcap_set_timeout(p, timeout > 0 ? timeout : 100);
  if (bufsize > 0) pcap_set_buffer_size(p, bufsize);
  if (immediate) pcap_set_immediate_mode(p, 1);
  int rc = pcap_activate(p);
  if (rc < 0) {
    const char *code = rc == PCAP_ERROR_NO_SUCH_DEVICE ? "NO_SUCH_DEVICE"
                       : rc == PCAP_ERROR_PERM_DENIED  ? "PERM_DENIED"
                       : rc == PCAP_ERROR_IFACE_NOT_UP ? "IFACE_NOT_UP"
                                                       : "ACTIVATE";
    const char *detail = pcap_geterr(p);
    if (detail && strcmp(detail, pcap_statustostr(rc)) == 0) detail = NULL;
    snprintf(msg, sizeof msg, "%s: %s%s%s", device, pcap_statustostr(rc), detail && detail[0] ? " (" : "",
             detail && detail[0] ? detail : "");
    if (detail && detail[0]) strncat(msg, ")", sizeof msg - strlen(msg) - 1);
    pcap_close(p);
    free(device);
    free(filter);
    throw_code(env, code, msg);
    return NULL;
  }
  if (pcap_setnonblock(p, 1, errbuf) != 0) {
    snprintf(msg, sizeof msg, "%s: cannot set nonblocking mode: %s", device, errbuf);
    pcap_close(p);
    free(device);
    free(filter);
    throw_code(env, "CAPTURE", msg);
    return NULL;
  }
  free(device);
  if (set_filter(env, p, filter) != 0) {
    pcap_close(p);
    free(filter);
    return NULL;
  }
  free(filter);
  return make_handle(env, p, argv[3], argv[4], 1);
}

/* openOffline(file, filter, buffer, onBatch): a savefile through the same batching (dispatch()). */
static napi_value js_open_offline(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  char *file, *filter;
  if (get_args(env, info, argv, 4, "openOffline(file, filter, buffer, onBatch)", "file", &file, &filter) != 0)
    return NULL;
  char errbuf[PCAP_ERRBUF_SIZE];
  errbuf[0] = 0;
  pcap_t *p = pcap_open_offline(file, errbuf);
  free(file);
  if (!p) {
    free(filter);
    throw_code(env, "CAPTURE", errbuf);
    return NULL;
  }
  if (set_filter(env, p, filter) != 0) {
    pcap_close(p);
    free(filter);
    return NULL;
  }
  free(filter);
  return make_handle(env, p, argv[2], argv[3], 0);
}

static napi_value js_link_type(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], r;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  capture_t *c = argc ? get_capture(env, argv[0]) : NULL;
  if (!c) return NULL;
  CHECK(env, napi_create_int32(env, c->link_type, &r));
  return r;
}

/* dispatch(h): reads what is ready now (a savefile: to the end); returns the packet count. */
static napi_value js_dispatch(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], r;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  capture_t *c = argc ? get_capture(env, argv[0]) : NULL;
  if (!c) return NULL;
  if (c->in_dispatch) {
    throw_code(env, "ARG", "dispatch() called from inside the capture callback");
    return NULL;
  }
  if (c->closed || !c->p) {
    CHECK(env, napi_create_int32(env, 0, &r));
    return r;
  }
  char err[PCAP_ERRBUF_SIZE];
  err[0] = 0;
  int n = do_dispatch(c, 1000000, err);
  if (c->failed) { /* the exception thrown by the callback is pending: it propagates */
    c->failed = 0;
    return NULL;
  }
  if (n < 0) {
    throw_code(env, "CAPTURE", err[0] ? err : "capture failed");
    return NULL;
  }
  CHECK(env, napi_create_int32(env, n, &r));
  return r;
}

static napi_value set_polling(napi_env env, napi_callback_info info, int on) {
  size_t argc = 1;
  napi_value argv[1], r;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  capture_t *c = argc ? get_capture(env, argv[0]) : NULL;
  if (!c) return NULL;
  if (!c->closed && c->poll_init) {
    if (on && !c->polling) {
      int rc = uv_poll_start(&c->poll, UV_READABLE, on_poll);
      if (rc != 0) {
        throw_code(env, "CAPTURE", uv_strerror(rc));
        return NULL;
      }
      c->polling = 1;
    } else if (!on && c->polling) {
      uv_poll_stop(&c->poll);
      c->polling = 0;
    }
  }
  CHECK(env, napi_get_boolean(env, c->polling != 0, &r));
  return r;
}

static napi_value js_pause(napi_env env, napi_callback_info info) { return set_polling(env, info, 0); }
static napi_value js_resume(napi_env env, napi_callback_info info) { return set_polling(env, info, 1); }

/* stats(h): {received, dropped, ifDropped} from pcap_stats (32-bit, may wrap); last values once closed. */
static napi_value js_stats(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], r, v;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  capture_t *c = argc ? get_capture(env, argv[0]) : NULL;
  if (!c) return NULL;
  struct pcap_stat s;
  if (c->closed || !c->p) {
    s = c->last;
  } else if (pcap_stats(c->p, &s) != 0) {
    char msg[PCAP_ERRBUF_SIZE + 32];
    snprintf(msg, sizeof msg, "pcap_stats: %s", pcap_geterr(c->p));
    throw_code(env, "STATS", msg);
    return NULL;
  }
  CHECK(env, napi_create_object(env, &r));
  CHECK(env, napi_create_uint32(env, s.ps_recv, &v));
  CHECK(env, napi_set_named_property(env, r, "received", v));
  CHECK(env, napi_create_uint32(env, s.ps_drop, &v));
  CHECK(env, napi_set_named_property(env, r, "dropped", v));
  CHECK(env, napi_create_uint32(env, s.ps_ifdrop, &v));
  CHECK(env, napi_set_named_property(env, r, "ifDropped", v));
  return r;
}

static napi_value js_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], r;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  capture_t *c = argc ? get_capture(env, argv[0]) : NULL;
  if (!c) return NULL;
  do_close(c);
  CHECK(env, napi_get_undefined(env, &r));
  return r;
}

/* deviceList(): [{name, description, loopback, up, running}] from pcap_findalldevs. */
static napi_value js_device_list(napi_env env, napi_callback_info info) {
  (void)info;
  pcap_if_t *all = NULL;
  char errbuf[PCAP_ERRBUF_SIZE];
  errbuf[0] = 0;
  if (pcap_findalldevs(&all, errbuf) != 0) {
    throw_code(env, "CAPTURE", errbuf);
    return NULL;
  }
  napi_value arr, o, v;
  uint32_t i = 0;
  if (napi_create_array(env, &arr) != napi_ok) {
    pcap_freealldevs(all);
    return NULL;
  }
  for (pcap_if_t *d = all; d; d = d->next) {
    if (napi_create_object(env, &o) != napi_ok) break;
    napi_create_string_utf8(env, d->name ? d->name : "", NAPI_AUTO_LENGTH, &v);
    napi_set_named_property(env, o, "name", v);
    if (d->description)
      napi_create_string_utf8(env, d->description, NAPI_AUTO_LENGTH, &v);
    else
      napi_get_null(env, &v);
    napi_set_named_property(env, o, "description", v);
    napi_get_boolean(env, (d->flags & PCAP_IF_LOOPBACK) != 0, &v);
    napi_set_named_property(env, o, "loopback", v);
    napi_get_boolean(env, (d->flags & PCAP_IF_UP) != 0, &v);
    napi_set_named_property(env, o, "up", v);
    napi_get_boolean(env, (d->flags & PCAP_IF_RUNNING) != 0, &v);
    napi_set_named_property(env, o, "running", v);
    napi_set_element(env, arr, i++, o);
  }
  pcap_freealldevs(all);
  return arr;
}

static napi_value js_lib_version(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value v;
  CHECK(env, napi_create_string_utf8(env, pcap_lib_version(), NAPI_AUTO_LENGTH, &v));
  return v;
}

static napi_value init(napi_env env, napi_value exports) {
  const napi_property_descriptor props[] = {
      {"deviceList", NULL, js_device_list, NULL, NULL, NULL, napi_default, NULL},
      {"open", NULL, js_open, NULL, NULL, NULL, napi_default, NULL},
      {"openOffline", NULL, js_open_offline, NULL, NULL, NULL, napi_default, NULL},
      {"linkType", NULL, js_link_type, NULL, NULL, NULL, napi_default, NULL},
      {"dispatch", NULL, js_dispatch, NULL, NULL, NULL, napi_default, NULL},
      {"pause", NULL, js_pause, NULL, NULL, NULL, napi_default, NULL},
      {"resume", NULL, js_resume, NULL, NULL, NULL, napi_default, NULL},
      {"stats", NULL, js_stats, NULL, NULL, NULL, napi_default, NULL},
      {"close", NULL, js_close, NULL, NULL, NULL, napi_default, NULL},
      {"libVersion", NULL, js_lib_version, NULL, NULL, NULL, napi_default, NULL},
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok) return NULL;
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
