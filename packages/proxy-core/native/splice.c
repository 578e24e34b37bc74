/*
 * The kernel relay of a spliced session: client and backend bytes move through a pipe with
 * splice(2), on a thread of their own, never through JavaScript and never copied to user space.
 *
 * JavaScript keeps owning both sockets (their file descriptors, their 'close' accounting): it
 * stops reading them, hands the descriptors here, and destroys the sockets once this says the
 * relay has ended. This thread never closes them, so a descriptor it uses is never reused under
 * it. A kick is a shutdown(2) from the JavaScript thread, which this thread sees as the end.
 *
 * Pipes come from a small pool: a direction holds one only while bytes are in flight, so an
 * idle session holds none.
 */
#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <errno.h>
#include <fcntl.h>
#include <node_api.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/*
 * Bytes a pipe holds: one splice moves up to this much. 1 MiB (Linux's pipe-max-size for
 * unprivileged users) against 256 KiB: FETCH 0.89-0.90x direct against 0.85-0.87x, and less
 * CPU per MB. Only bursts hold a pipe this size; past a user's pipe allowance
 * (pipe-user-pages-soft, 64 MiB) the kernel refuses the size and the pipe keeps its default.
 */
static const int pipeBytes = 1024 * 1024;
/* Free pipes kept for the next burst; more are closed. */
#define sparePipesMax 64

enum { clientSide = 0, backendSide = 1 };

typedef struct {
  int in, out;
  /* The pipe in use, or -1: bytes in it are read from `in`, not yet written to `out`. */
  int pipeRead, pipeWrite;
  size_t inPipe;
  /* Bytes JavaScript read before the splice, written to `out` before anything else. */
  char *head;
  size_t headLength, headDone;
  bool eof;      /* `in` has ended */
  bool shutDown; /* and `out` was told so (its write side shut) */
} Direction;

typedef struct Relay {
  int fds[2];
  Direction way[2]; /* 0: client to backend (up), 1: backend to client (down) */
  uint64_t bytes[2];
  int firstEnded;   /* the side whose end came first, or -1 */
  int errorSide;    /* the side whose socket failed, or -1 */
  int errorNumber;
  bool done;
  int64_t lingerUntil; /* once one way has ended, when the other must have too (ms) */
  struct Relay *lingerNext, *lingerPrevious;
  napi_ref owner;
  struct Relay *doneNext;
} Relay;

typedef struct {
  int epoll;
  int wake; /* eventfd: the environment is going away */
  int lingerMs;
  pthread_t thread;
  bool started;
  bool stopping;
  napi_threadsafe_function ended;
  int spare[sparePipesMax][2];
  int spareCount;
  Relay *lingerHead, *lingerTail;
} Instance;

static int64_t nowMs(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static bool takePipe(Instance *in, Direction *d) {
  if (in->spareCount > 0) {
    in->spareCount -= 1;
    d->pipeRead = in->spare[in->spareCount][0];
    d->pipeWrite = in->spare[in->spareCount][1];
    return true;
  }
  int p[2];
  if (pipe2(p, O_NONBLOCK | O_CLOEXEC) != 0) return false;
  /* Larger than the default 64 KiB: fewer splices per megabyte. Refused past the user's
   * pipe allowance, where the smaller pipe still works. */
  fcntl(p[1], F_SETPIPE_SZ, pipeBytes);
  d->pipeRead = p[0];
  d->pipeWrite = p[1];
  return true;
}

/* An empty pipe goes back to the pool; one with bytes left in it (a relay that failed) is closed. */
static void givePipe(Instance *in, Direction *d) {
  if (d->pipeRead < 0) return;
  if (d->inPipe == 0 && in->spareCount < sparePipesMax) {
    in->spare[in->spareCount][0] = d->pipeRead;
    in->spare[in->spareCount][1] = d->pipeWrite;
    in->spareCount += 1;
  } else {
    close(d->pipeRead);
    close(d->pipeWrite);
  }
  d->pipeRead = d->pipeWrite = -1;
  d->inPipe = 0;
}

static void fail(Relay *r, int side, int error) {
  if (r->errorSide < 0) {
    r->errorSide = side;
    r->errorNumber = error;
  }
}

static bool wayFinished(const Direction *d) {
  return d->eof && d->shutDown && d->inPipe == 0 && d->headDone == d->headLength;
}

/*
 * Moves what can move one way without blocking. A failure is recorded on the relay, which
 * then ends; returning leaves the rest to the next readiness event (edge-triggered).
 */
static void pump(Instance *in, Relay *r, int way) {
  Direction *d = &r->way[way];
  int inSide = way == 0 ? clientSide : backendSide;
  int outSide = 1 - inSide;
  while (d->headDone < d->headLength) {
    ssize_t n = send(d->out, d->head + d->headDone, d->headLength - d->headDone, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN) fail(r, outSide, errno);
      return;
    }
    d->headDone += (size_t)n;
  }
  if (d->head != NULL) {
    free(d->head);
    d->head = NULL;
  }
  for (;;) {
    if (d->inPipe > 0) {
      ssize_t n = splice(d->pipeRead, NULL, d->out, NULL, d->inPipe,
                         SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno != EAGAIN) fail(r, outSide, errno);
        return;
      }
      d->inPipe -= (size_t)n;
      if (d->inPipe > 0) continue;
    }
    if (d->eof) {
      givePipe(in, d);
      if (!d->shutDown) {
        d->shutDown = true;
        shutdown(d->out, SHUT_WR);
        if (r->firstEnded < 0) r->firstEnded = inSide;
      }
      return;
    }
    if (d->pipeRead < 0 && !takePipe(in, d)) {
      fail(r, inSide, errno);
      return;
    }
    ssize_t n = splice(d->in, NULL, d->pipeWrite, NULL, (size_t)pipeBytes,
                       SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    if (n == 0) {
      d->eof = true;
      continue;
    }
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN) fail(r, inSide, errno);
      /* Nothing to read: an idle direction holds no pipe. */
      givePipe(in, d);
      return;
    }
    d->inPipe += (size_t)n;
    __atomic_add_fetch(&r->bytes[way], (uint64_t)n, __ATOMIC_RELAXED);
  }
}

static void lingerRemove(Instance *in, Relay *r) {
  if (r->lingerUntil == 0) return;
  if (r->lingerPrevious) r->lingerPrevious->lingerNext = r->lingerNext;
  else in->lingerHead = r->lingerNext;
  if (r->lingerNext) r->lingerNext->lingerPrevious = r->lingerPrevious;
  else in->lingerTail = r->lingerPrevious;
  r->lingerNext = r->lingerPrevious = NULL;
  r->lingerUntil = 0;
}

/* Every linger is as long, so the list stays in deadline order by appending. */
static void lingerAdd(Instance *in, Relay *r) {
  r->lingerUntil = nowMs() + in->lingerMs;
  r->lingerPrevious = in->lingerTail;
  r->lingerNext = NULL;
  if (in->lingerTail) in->lingerTail->lingerNext = r;
  else in->lingerHead = r;
  in->lingerTail = r;
}

static void finish(Instance *in, Relay *r, Relay **doneList) {
  r->done = true;
  lingerRemove(in, r);
  epoll_ctl(in->epoll, EPOLL_CTL_DEL, r->fds[0], NULL);
  epoll_ctl(in->epoll, EPOLL_CTL_DEL, r->fds[1], NULL);
  for (int way = 0; way < 2; way += 1) {
    givePipe(in, &r->way[way]);
    free(r->way[way].head);
    r->way[way].head = NULL;
  }
  r->doneNext = *doneList;
  *doneList = r;
}

static void settle(Instance *in, Relay *r, Relay **doneList) {
  bool up = wayFinished(&r->way[0]), down = wayFinished(&r->way[1]);
  if (r->errorSide >= 0 || (up && down)) finish(in, r, doneList);
  else if ((up || down) && r->lingerUntil == 0) lingerAdd(in, r);
}

static void *run(void *arg) {
  Instance *in = arg;
  struct epoll_event events[128];
  for (;;) {
    int timeout = -1;
    if (in->lingerHead) {
      int64_t left = in->lingerHead->lingerUntil - nowMs();
      timeout = left < 0 ? 0 : (int)left;
    }
    int n = epoll_wait(in->epoll, events, 128, timeout);
    if (n < 0 && errno != EINTR) break;
    Relay *doneList = NULL;
    for (int i = 0; i < n; i += 1) {
      /* The relay, with the side whose socket this is in the lowest bit. */
      uintptr_t tagged = (uintptr_t)events[i].data.u64;
      if (tagged == 0) goto stop;
      Relay *r = (Relay *)(tagged & ~(uintptr_t)1);
      int side = (int)(tagged & 1);
      if (r->done) continue;
      uint32_t ready = events[i].events;
      bool failed = (ready & (EPOLLERR | EPOLLHUP)) != 0;
      /* Readable: the way that reads this socket; writable: the way that writes to it. */
      if (failed || (ready & (EPOLLIN | EPOLLRDHUP))) pump(in, r, side == clientSide ? 0 : 1);
      if (failed || (ready & EPOLLOUT)) pump(in, r, side == clientSide ? 1 : 0);
      settle(in, r, &doneList);
    }
    /* A side that keeps its half open past the linger is closed on. */
    for (int64_t now = nowMs(); in->lingerHead && in->lingerHead->lingerUntil <= now;) {
      Relay *r = in->lingerHead;
      lingerRemove(in, r);
      shutdown(r->fds[0], SHUT_RDWR);
      shutdown(r->fds[1], SHUT_RDWR);
      finish(in, r, &doneList);
    }
    /* Handed over only after the batch: a later event of the batch may name the same relay. */
    while (doneList) {
      Relay *r = doneList;
      doneList = r->doneNext;
      napi_call_threadsafe_function(in->ended, r, napi_tsfn_nonblocking);
    }
  }
stop:
  napi_release_threadsafe_function(in->ended, napi_tsfn_release);
  return NULL;
}

static const char *errorName(int error) {
  switch (error) {
    case ECONNRESET: return "ECONNRESET";
    case EPIPE: return "EPIPE";
    case ETIMEDOUT: return "ETIMEDOUT";
    case EHOSTUNREACH: return "EHOSTUNREACH";
    case ENETUNREACH: return "ENETUNREACH";
    case ENOMEM: return "ENOMEM";
    case EMFILE: return "EMFILE";
    case ENFILE: return "ENFILE";
    default: return strerror(error);
  }
}

/* On the JavaScript thread: tells the session's owner how it ended, then frees the relay. */
static void callEnded(napi_env env, napi_value unused, void *context, void *data) {
  (void)unused;
  (void)context;
  Relay *r = data;
  if (env != NULL) {
    napi_value owner, method, args[3];
    char reason[96];
    if (r->errorSide >= 0) {
      snprintf(reason, sizeof reason, "error: %s: %s",
               r->errorSide == clientSide ? "client" : "backend", errorName(r->errorNumber));
    } else {
      snprintf(reason, sizeof reason, "%s", r->firstEnded == backendSide ? "backend" : "client");
    }
    if (napi_get_reference_value(env, r->owner, &owner) == napi_ok && owner != NULL &&
        napi_get_named_property(env, owner, "kernelRelayEnded", &method) == napi_ok) {
      napi_create_double(env, (double)r->bytes[0], &args[0]);
      napi_create_double(env, (double)r->bytes[1], &args[1]);
      napi_create_string_utf8(env, reason, NAPI_AUTO_LENGTH, &args[2]);
      napi_call_function(env, owner, method, 3, args, NULL);
    }
    napi_delete_reference(env, r->owner);
  }
  free(r);
}

static void stopInstance(void *arg) {
  Instance *in = arg;
  if (!in->started) return;
  in->stopping = true;
  uint64_t one = 1;
  ssize_t ignored = write(in->wake, &one, sizeof one);
  (void)ignored;
  pthread_join(in->thread, NULL);
}

static Instance *instance(napi_env env) {
  Instance *in = NULL;
  napi_get_instance_data(env, (void **)&in);
  return in;
}

static bool start(napi_env env, Instance *in) {
  if (in->started) return true;
  napi_value name;
  napi_create_string_utf8(env, "homing kernel relay", NAPI_AUTO_LENGTH, &name);
  if (napi_create_threadsafe_function(env, NULL, NULL, name, 0, 1, NULL, NULL, NULL, callEnded,
                                      &in->ended) != napi_ok)
    return false;
  /* The sockets keep the process alive, not this. */
  napi_unref_threadsafe_function(env, in->ended);
  in->epoll = epoll_create1(EPOLL_CLOEXEC);
  in->wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 0};
  if (in->epoll < 0 || in->wake < 0 || epoll_ctl(in->epoll, EPOLL_CTL_ADD, in->wake, &ev) != 0 ||
      pthread_create(&in->thread, NULL, run, in) != 0)
    return false;
  in->started = true;
  napi_add_env_cleanup_hook(env, stopInstance, in);
  return true;
}

static napi_value throwError(napi_env env, const char *message) {
  napi_throw_error(env, NULL, message);
  return NULL;
}

/* A copy of a Buffer's bytes (null and none for anything else); false when out of memory. */
static bool copyHead(napi_env env, napi_value value, char **head, size_t *length) {
  *head = NULL;
  *length = 0;
  bool isBuffer = false;
  if (napi_is_buffer(env, value, &isBuffer) != napi_ok || !isBuffer) return true;
  void *data;
  size_t size;
  napi_get_buffer_info(env, value, &data, &size);
  if (size == 0) return true;
  *head = malloc(size);
  if (*head == NULL) return false;
  memcpy(*head, data, size);
  *length = size;
  return true;
}

/* relay(owner, clientFd, backendFd, headUp, headDown): a handle for counts() and kick(). */
static napi_value relay(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value args[5];
  napi_get_cb_info(env, info, &argc, args, NULL, NULL);
  if (argc < 5) return throwError(env, "relay(owner, clientFd, backendFd, headUp, headDown)");
  Instance *in = instance(env);
  if (!start(env, in)) return throwError(env, "the kernel relay thread did not start");
  int32_t client = -1, backend = -1;
  if (napi_get_value_int32(env, args[1], &client) != napi_ok ||
      napi_get_value_int32(env, args[2], &backend) != napi_ok || client < 0 || backend < 0)
    return throwError(env, "relay: two open file descriptors");
  Relay *r = calloc(1, sizeof *r);
  if (r == NULL) return throwError(env, "out of memory");
  r->fds[clientSide] = client;
  r->fds[backendSide] = backend;
  r->firstEnded = r->errorSide = -1;
  for (int way = 0; way < 2; way += 1) {
    Direction *d = &r->way[way];
    d->in = way == 0 ? client : backend;
    d->out = way == 0 ? backend : client;
    d->pipeRead = d->pipeWrite = -1;
    if (!copyHead(env, args[3 + way], &d->head, &d->headLength)) {
      free(r->way[0].head);
      free(r);
      return throwError(env, "out of memory");
    }
    r->bytes[way] = d->headLength;
  }
  napi_create_reference(env, args[0], 1, &r->owner);
  struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
                           .data.u64 = (uintptr_t)r | clientSide};
  if (epoll_ctl(in->epoll, EPOLL_CTL_ADD, client, &ev) != 0) {
    int error = errno;
    napi_delete_reference(env, r->owner);
    free(r->way[0].head);
    free(r->way[1].head);
    free(r);
    return throwError(env, strerror(error));
  }
  ev.data.u64 = (uintptr_t)r | backendSide;
  if (epoll_ctl(in->epoll, EPOLL_CTL_ADD, backend, &ev) != 0) {
    int error = errno;
    epoll_ctl(in->epoll, EPOLL_CTL_DEL, client, NULL);
    napi_delete_reference(env, r->owner);
    free(r->way[0].head);
    free(r->way[1].head);
    free(r);
    return throwError(env, strerror(error));
  }
  napi_value handle;
  napi_create_external(env, r, NULL, NULL, &handle);
  return handle;
}

static Relay *relayOf(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value arg;
  napi_get_cb_info(env, info, &argc, &arg, NULL, NULL);
  void *r = NULL;
  if (argc < 1 || napi_get_value_external(env, arg, &r) != napi_ok) return NULL;
  return r;
}

/* counts(handle): [up, down] so far. Valid until the owner is told the relay ended. */
static napi_value counts(napi_env env, napi_callback_info info) {
  Relay *r = relayOf(env, info);
  if (r == NULL) return throwError(env, "counts(handle)");
  napi_value result, up, down;
  napi_create_array_with_length(env, 2, &result);
  napi_create_double(env, (double)__atomic_load_n(&r->bytes[0], __ATOMIC_RELAXED), &up);
  napi_create_double(env, (double)__atomic_load_n(&r->bytes[1], __ATOMIC_RELAXED), &down);
  napi_set_element(env, result, 0, up);
  napi_set_element(env, result, 1, down);
  return result;
}

/* kick(handle): both sockets shut; the relay thread sees the end and reports it. */
static napi_value kick(napi_env env, napi_callback_info info) {
  Relay *r = relayOf(env, info);
  if (r == NULL) return throwError(env, "kick(handle)");
  shutdown(r->fds[0], SHUT_RDWR);
  shutdown(r->fds[1], SHUT_RDWR);
  return NULL;
}

/* setLinger(ms): how long one way may stay open once the other has ended. */
static napi_value setLinger(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value arg;
  napi_get_cb_info(env, info, &argc, &arg, NULL, NULL);
  int32_t ms = 0;
  if (argc < 1 || napi_get_value_int32(env, arg, &ms) != napi_ok || ms < 0)
    return throwError(env, "setLinger(ms)");
  instance(env)->lingerMs = ms;
  return NULL;
}

NAPI_MODULE_INIT() {
  Instance *in = calloc(1, sizeof *in);
  if (in == NULL) return NULL;
  in->lingerMs = 5000;
  /* Not freed with the environment: its thread may still be winding down; the process ends. */
  napi_set_instance_data(env, in, NULL, NULL);
  napi_property_descriptor methods[] = {
      {"relay", NULL, relay, NULL, NULL, NULL, napi_default_method, NULL},
      {"counts", NULL, counts, NULL, NULL, NULL, napi_default_method, NULL},
      {"kick", NULL, kick, NULL, NULL, NULL, napi_default_method, NULL},
      {"setLinger", NULL, setLinger, NULL, NULL, NULL, napi_default_method, NULL},
  };
  napi_define_properties(env, exports, 4, methods);
  return exports;
}
