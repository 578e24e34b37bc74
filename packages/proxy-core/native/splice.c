/*
 * The kernel relay of a spliced session: client and backend bytes move through a pipe with
 * splice(2), never through JavaScript and never copied to user space.
 *
 * A relay starts on the JavaScript thread, from libuv's loop: the relays' sockets sit in an
 * epoll set of their own, which the loop polls as one descriptor, and each readiness moves what
 * can move without blocking. A login's few short replies then cost no hand-over between
 * threads: on a thread of its own for every session (the first version), a wake-up of it for
 * each event and one of the JavaScript thread for each ended session made 4.2-5.2 context
 * switches per IMAP or POP3 login against 2.0-2.9 here, and less CPU per login. A relay that
 * has moved 64 KiB goes on to a thread of its own (`side`, started with the first): a mail
 * download on the JavaScript thread, between libuv's other work, went slower (POP3 RETR 11%,
 * and more CPU per MB) than there.
 *
 * JavaScript keeps owning both sockets (their file descriptors, their 'close' accounting): it
 * stops reading them, hands the descriptors here, and destroys the sockets once this says the
 * relay has ended. The relay never closes them, so a descriptor it uses is never reused under
 * it; a relay that ends on the event loop leaves taking them out of its epoll set to that
 * close. A kick is a shutdown(2), which the relay sees as the end.
 *
 * Pipes come from a small pool (one for each thread): a direction holds one only while bytes
 * are in flight, so an idle session holds none.
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
 * The few libuv calls the relay needs, from the Node that loads it. Node-API's headers do not
 * carry uv.h, so they are declared here; libuv keeps its ABI across 1.x, which every Node
 * homing runs on has. Handles stay opaque, sized by uv_handle_size; a handle's first field
 * is its `data` pointer.
 */
typedef void UvHandle;
enum { uvPollType = 8, uvTimerType = 13, uvReadable = 1 };
extern size_t uv_handle_size(int type);
extern int uv_poll_init(struct uv_loop_s *loop, UvHandle *handle, int fd);
extern int uv_poll_start(UvHandle *handle, int events, void (*callback)(UvHandle *, int, int));
extern int uv_poll_stop(UvHandle *handle);
extern int uv_timer_init(struct uv_loop_s *loop, UvHandle *handle);
extern int uv_timer_start(UvHandle *handle, void (*callback)(UvHandle *), uint64_t timeout,
                          uint64_t repeat);
extern int uv_timer_stop(UvHandle *handle);
extern void uv_unref(UvHandle *handle);
extern void uv_close(UvHandle *handle, void (*callback)(UvHandle *));

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
  size_t pipeSlots; /* the buffers the pipe has: each holds one byte at least */
  /* Bytes JavaScript read before the splice, written to `out` before anything else. */
  char *head;
  size_t headLength, headDone;
  bool eof;      /* `in` has ended */
  bool shutDown; /* and `out` was told so (its write side shut) */
  bool hangUp;   /* `in` was seen hung up (its end, or a failure): read it to the end */
  bool endSeen;  /* `in` was seen ended and not failed: all it will ever send is queued */
} Direction;

typedef struct Relay {
  int fds[2];
  Direction way[2]; /* 0: client to backend (up), 1: backend to client (down) */
  uint64_t bytes[2];
  int firstEnded;   /* the side whose end came first, or -1 */
  int errorSide;    /* the side whose socket failed, or -1 */
  int errorNumber;
  bool done;
  bool onThread; /* moved to the side thread: the JavaScript thread only counts and kicks */
  int64_t lingerUntil; /* once one way has ended, when the other must have too (ms) */
  struct Relay *lingerNext, *lingerPrevious;
  napi_ref owner;
  struct Relay *doneNext; /* also the next spare record once it has ended */
  struct Relay *incomingNext;
} Relay;

/* Where relays run: an epoll set, its spare pipes and its lingering relays, each touched by
 * one thread only. */
typedef struct {
  int epoll;
  int spare[sparePipesMax][2];
  size_t spareSlots[sparePipesMax];
  int spareCount;
  Relay *lingerHead, *lingerTail;
  /* A relay that ends here is told to JavaScript at the end of the same batch, which closes
   * its sockets there and then: the JavaScript thread's loop, not the side thread's. */
  bool closedAtOnce;
} Loop;

/* How long one way may stay open once the other has ended (ms). */
static int lingerMs = 5000;

typedef struct {
  /* Relays start on the JavaScript thread, from libuv's loop; one that has moved a lot of
   * bytes goes on to a thread of its own, `side`, started when the first one does. */
  Loop main, side;
  bool started;
  bool stopped;
  napi_env env;
  /* libuv's watch on the epoll set, and the timer of the earliest linger */
  UvHandle *poll, *timer;
  int64_t timerAt; /* when the timer fires (ms), or 0 when it is not set */
  /* What JavaScript is called in when relays end */
  napi_ref resource;
  napi_async_context context;
  /* The thread, its wake-up for the end (an eventfd in its set), and its way back */
  pthread_t thread;
  bool threadStarted, threadFailed;
  int wake;
  napi_threadsafe_function ended;
  /* Relays handed to the thread, which adds their sockets to its set itself (so it never runs
   * one half-registered); `stopping` tells it the environment is going away. */
  pthread_mutex_t handed;
  Relay *incoming;
  bool stopping;
  /* Records of relays that ended, for the next ones (the JavaScript thread's only). */
  Relay *spareRelays;
} Instance;

static int64_t nowMs(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static bool takePipe(Loop *in, Direction *d) {
  if (in->spareCount > 0) {
    in->spareCount -= 1;
    d->pipeRead = in->spare[in->spareCount][0];
    d->pipeWrite = in->spare[in->spareCount][1];
    d->pipeSlots = in->spareSlots[in->spareCount];
    return true;
  }
  int p[2];
  if (pipe2(p, O_NONBLOCK | O_CLOEXEC) != 0) return false;
  /* Larger than the default 64 KiB: fewer splices per megabyte. Refused past the user's
   * pipe allowance, where the smaller pipe still works. */
  int size = fcntl(p[1], F_SETPIPE_SZ, pipeBytes);
  if (size < 0) size = fcntl(p[1], F_GETPIPE_SZ);
  long page = sysconf(_SC_PAGESIZE);
  d->pipeSlots = size > 0 && page > 0 ? (size_t)size / (size_t)page : 0;
  d->pipeRead = p[0];
  d->pipeWrite = p[1];
  return true;
}

/* An empty pipe goes back to the pool; one with bytes left in it (a relay that failed) is closed. */
static void givePipe(Loop *in, Direction *d) {
  if (d->pipeRead < 0) return;
  if (d->inPipe == 0 && in->spareCount < sparePipesMax) {
    in->spare[in->spareCount][0] = d->pipeRead;
    in->spare[in->spareCount][1] = d->pipeWrite;
    in->spareSlots[in->spareCount] = d->pipeSlots;
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

/* Bytes a way holds that its `out` must take before anything else moves. */
static bool waitingToWrite(const Direction *d) {
  return d->inPipe > 0 || d->headDone < d->headLength;
}

static bool wayFinished(const Direction *d) {
  return d->eof && d->shutDown && d->inPipe == 0 && d->headDone == d->headLength;
}

/* A relay's socket in an epoll set: the relay, with the side in the lowest bit. */
static uint64_t tagOf(Relay *r, int side) {
  return (uint64_t)((uintptr_t)r | (uintptr_t)side);
}

/*
 * Moves what can move one way without blocking. A failure is recorded on the relay, which
 * then ends; returning leaves the rest to the next readiness event (edge-triggered).
 */
static void pump(Loop *in, Relay *r, int way) {
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
  bool drained = false;
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
        if (r->firstEnded < 0) r->firstEnded = inSide;
        /*
         * The second way to end ends the relay. Where JavaScript closes the sockets right after
         * (the JavaScript thread's loop), close(2) sends the same FIN: both sockets have been
         * read to their end, so neither holds bytes that would make it a reset.
         */
        if (!(in->closedAtOnce && wayFinished(&r->way[1 - way]))) shutdown(d->out, SHUT_WR);
      }
      return;
    }
    /* The last read took all the socket held: another would only say so (EAGAIN). */
    if (drained) {
      givePipe(in, d);
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
    /*
     * Fewer bytes than the pipe has buffers, into an empty pipe: neither the pipe nor the
     * request cut the read short, so it took all there was (a TCP socket's splice stops only
     * at those, at its end or at urgent data, where reading again would not get further).
     * Bytes that come later raise a new edge. An end seen before this read (a FIN: TCP marks
     * it only once every byte before it is queued) is where this read stopped, so the way
     * ends without the read that would return 0: a login's LOGOUT or QUIT reply comes with
     * the backend's FIN. A failure seen is read to (the read that reports it); an end not yet
     * seen is still to come as an event, which reads.
     */
    if ((size_t)n < d->pipeSlots) {
      if (d->endSeen) d->eof = true;
      else drained = !d->hangUp;
    }
  }
}

static void lingerRemove(Loop *in, Relay *r) {
  if (r->lingerUntil == 0) return;
  if (r->lingerPrevious) r->lingerPrevious->lingerNext = r->lingerNext;
  else in->lingerHead = r->lingerNext;
  if (r->lingerNext) r->lingerNext->lingerPrevious = r->lingerPrevious;
  else in->lingerTail = r->lingerPrevious;
  r->lingerNext = r->lingerPrevious = NULL;
  r->lingerUntil = 0;
}

/* Every linger is as long, so the list stays in deadline order by appending. */
static void lingerAdd(Loop *in, Relay *r) {
  r->lingerUntil = nowMs() + lingerMs;
  r->lingerPrevious = in->lingerTail;
  r->lingerNext = NULL;
  if (in->lingerTail) in->lingerTail->lingerNext = r;
  else in->lingerHead = r;
  in->lingerTail = r;
}

static void finish(Loop *in, Relay *r, Relay **doneList) {
  r->done = true;
  lingerRemove(in, r);
  /*
   * Closing a descriptor takes it out of every epoll set, and on the JavaScript thread's loop
   * JavaScript closes both right after this batch: deleting them first was two system calls
   * per session for nothing. Should a socket's file outlive its descriptor (a copy held
   * elsewhere, as by a child between fork and exec), an event of it may still come: it names
   * this record, which is never freed but kept for the next relay (spareRelays), so it finds
   * an ended relay (skipped) or a live one (which only tries to move what it can). The side
   * thread hands its records over to the JavaScript thread, which may reuse them at once:
   * it deletes first, so that no later event of its own names one.
   */
  if (!in->closedAtOnce) {
    epoll_ctl(in->epoll, EPOLL_CTL_DEL, r->fds[0], NULL);
    epoll_ctl(in->epoll, EPOLL_CTL_DEL, r->fds[1], NULL);
  }
  for (int way = 0; way < 2; way += 1) {
    givePipe(in, &r->way[way]);
    free(r->way[way].head);
    r->way[way].head = NULL;
  }
  r->doneNext = *doneList;
  *doneList = r;
}

static void settle(Loop *in, Relay *r, Relay **doneList) {
  bool up = wayFinished(&r->way[0]), down = wayFinished(&r->way[1]);
  if (r->errorSide >= 0 || (up && down)) finish(in, r, doneList);
  else if ((up || down) && r->lingerUntil == 0) lingerAdd(in, r);
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

static Instance *instance(napi_env env);

/* Tells a session's owner how it ended (its sockets are closed then), then keeps the record
 * for the next relay. */
static void callEnded(napi_env env, Relay *r) {
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
    if (napi_call_function(env, owner, method, 3, args, NULL) == napi_pending_exception) {
      /* As any callback that throws: the process's uncaught exception. */
      napi_value error;
      napi_get_and_clear_last_exception(env, &error);
      napi_fatal_exception(env, error);
    }
  }
  napi_delete_reference(env, r->owner);
  Instance *in = instance(env);
  r->doneNext = in->spareRelays;
  in->spareRelays = r;
}

/* Relays that ended, told to their owners in one callback scope (microtasks run after). */
static void report(Instance *in, Relay *doneList) {
  if (doneList == NULL || in->stopped) return;
  napi_env env = in->env;
  napi_handle_scope handles;
  napi_callback_scope scope;
  napi_value resource;
  napi_open_handle_scope(env, &handles);
  napi_get_reference_value(env, in->resource, &resource);
  napi_open_callback_scope(env, resource, in->context, &scope);
  while (doneList) {
    Relay *r = doneList;
    doneList = r->doneNext;
    callEnded(env, r);
  }
  napi_close_callback_scope(env, scope);
  napi_close_handle_scope(env, handles);
}

static void onLinger(UvHandle *timer);

/* A side that keeps its half open past the linger is closed on; the timer set for the next. */
/* A side that keeps its half open past the linger is closed on. */
static void expireIn(Loop *loop, Relay **doneList) {
  for (int64_t now = nowMs(); loop->lingerHead && loop->lingerHead->lingerUntil <= now;) {
    Relay *r = loop->lingerHead;
    lingerRemove(loop, r);
    shutdown(r->fds[0], SHUT_RDWR);
    shutdown(r->fds[1], SHUT_RDWR);
    finish(loop, r, doneList);
  }
}

/* One readiness of a relay's socket: each way it concerns moves what it can. */
static void handle(Loop *loop, const struct epoll_event *event, Relay **doneList) {
  /* The relay, with the side whose socket this is in the lowest bit. */
  uintptr_t tagged = (uintptr_t)event->data.u64;
  Relay *r = (Relay *)(tagged & ~(uintptr_t)1);
  int side = (int)(tagged & 1);
  if (r->done) return;
  uint32_t mask = event->events;
  bool failed = (mask & (EPOLLERR | EPOLLHUP)) != 0;
  /* Readable: the way that reads this socket; writable: the way that writes to it. */
  int reading = side == clientSide ? 0 : 1, writing = 1 - reading;
  if (mask & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) r->way[reading].hangUp = true;
  if ((mask & (EPOLLRDHUP | EPOLLERR)) == EPOLLRDHUP) r->way[reading].endSeen = true;
  if (failed || (mask & (EPOLLIN | EPOLLRDHUP))) pump(loop, r, reading);
  /* Writable matters to a way with bytes waiting for it; any other way has read its socket
   * dry (or ended) and hears of more from that socket's own events. */
  if (failed || ((mask & EPOLLOUT) && waitingToWrite(&r->way[writing]))) pump(loop, r, writing);
  settle(loop, r, doneList);
}

static void expire(Instance *in, Relay **doneList) {
  expireIn(&in->main, doneList);
  /* Lingers only get later (each as long, appended): the timer fires for the earliest, which
   * may have ended since, and is set again for the next. */
  Relay *next = in->main.lingerHead;
  if (next != NULL && (in->timerAt == 0 || next->lingerUntil < in->timerAt)) {
    int64_t left = next->lingerUntil - nowMs();
    in->timerAt = next->lingerUntil;
    uv_timer_start(in->timer, onLinger, left < 0 ? 0 : (uint64_t)left, 0);
  }
}

static void onLinger(UvHandle *timer) {
  Instance *in = *(Instance **)timer;
  Relay *doneList = NULL;
  in->timerAt = 0;
  expire(in, &doneList);
  report(in, doneList);
}

/*
 * On the side thread, at its wake-up: adds the sockets of the relays handed to it to its set
 * (an edge-triggered registration reports what is ready already, so nothing that came during
 * the hand-over is missed). A relay whose sockets cannot be added ends as a failure. True when
 * the environment is going away.
 */
static bool adopt(Instance *in, Relay **doneList) {
  uint64_t count;
  ssize_t ignored = read(in->wake, &count, sizeof count);
  (void)ignored;
  pthread_mutex_lock(&in->handed);
  Relay *list = in->incoming;
  in->incoming = NULL;
  bool stopping = in->stopping;
  pthread_mutex_unlock(&in->handed);
  while (list) {
    Relay *r = list;
    list = r->incomingNext;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET};
    for (int side = 0; side < 2 && r->errorSide < 0; side += 1) {
      ev.data.u64 = tagOf(r, side);
      if (epoll_ctl(in->side.epoll, EPOLL_CTL_ADD, r->fds[side], &ev) != 0) fail(r, side, errno);
    }
    if (r->errorSide >= 0) finish(&in->side, r, doneList);
  }
  return stopping;
}

/* The side thread: relays that moved there, until the environment goes. */
static void *run(void *arg) {
  Instance *in = arg;
  Loop *loop = &in->side;
  struct epoll_event ready[128];
  for (;;) {
    int timeout = -1;
    if (loop->lingerHead) {
      int64_t left = loop->lingerHead->lingerUntil - nowMs();
      timeout = left < 0 ? 0 : (int)left;
    }
    int n = epoll_wait(loop->epoll, ready, 128, timeout);
    if (n < 0 && errno != EINTR) break;
    Relay *doneList = NULL;
    for (int i = 0; i < n; i += 1) {
      if (ready[i].data.u64 == 0) {
        if (adopt(in, &doneList)) goto stop;
        continue;
      }
      handle(loop, &ready[i], &doneList);
    }
    expireIn(loop, &doneList);
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

/* On the JavaScript thread, for a relay that ended on the side thread. */
static void callEndedFromThread(napi_env env, napi_value unused, void *context, void *data) {
  (void)unused;
  (void)context;
  Relay *r = data;
  if (env != NULL) callEnded(env, r);
  else free(r);
}

/* Starts the side thread once; when it cannot start, relays stay on this thread. */
static bool startThread(napi_env env, Instance *in) {
  if (in->threadStarted || in->threadFailed) return in->threadStarted;
  in->threadFailed = true;
  /* Called from libuv's loop, outside any JavaScript: a scope for the name. */
  napi_handle_scope scope;
  napi_value name;
  napi_open_handle_scope(env, &scope);
  napi_create_string_utf8(env, "homing kernel relay", NAPI_AUTO_LENGTH, &name);
  napi_status made = napi_create_threadsafe_function(env, NULL, NULL, name, 0, 1, NULL, NULL,
                                                     NULL, callEndedFromThread, &in->ended);
  napi_close_handle_scope(env, scope);
  if (made != napi_ok) return false;
  /* The sockets keep the process alive, not this. */
  napi_unref_threadsafe_function(env, in->ended);
  in->side.epoll = epoll_create1(EPOLL_CLOEXEC);
  in->wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 0};
  if (in->side.epoll < 0 || in->wake < 0 ||
      epoll_ctl(in->side.epoll, EPOLL_CTL_ADD, in->wake, &ev) != 0 ||
      pthread_create(&in->thread, NULL, run, in) != 0)
    return false;
  /* Named, so that `top -H` and /proc/PID/task/TID/comm show it (15 characters at most). */
  pthread_setname_np(in->thread, "homing-relay");
  in->threadFailed = false;
  in->threadStarted = true;
  return true;
}

/*
 * Bytes a relay moves on the JavaScript thread before it goes to the side thread. A login
 * moves a few hundred (a SELECT, a STAT, a LOGOUT); on this thread they cost no hand-over
 * between threads. A mail download moves megabytes; on this thread, between libuv's other
 * work, POP3 RETR went 11% slower (and took more CPU per MB) than on a thread of its own.
 * Tests keep every relay on this thread (setThreadAfter) to try its waits for a slow side.
 */
static uint64_t moveAfterBytes = 64 * 1024;

/* Hands a relay that moved many bytes to the side thread (it stays here if that fails). */
static void moveToThread(Instance *in, Relay *r) {
  if (!startThread(in->env, in)) return;
  /* Out of this set first: from the hand-over on, only the thread touches the relay. Events of
   * this batch for it are skipped (onThread); the thread's registration reports what is ready. */
  epoll_ctl(in->main.epoll, EPOLL_CTL_DEL, r->fds[clientSide], NULL);
  epoll_ctl(in->main.epoll, EPOLL_CTL_DEL, r->fds[backendSide], NULL);
  r->onThread = true;
  pthread_mutex_lock(&in->handed);
  r->incomingNext = in->incoming;
  in->incoming = r;
  pthread_mutex_unlock(&in->handed);
  uint64_t one = 1;
  ssize_t ignored = write(in->wake, &one, sizeof one);
  (void)ignored;
}

/* The epoll set is readable: each relay with a ready socket moves what it can. */
static void onReady(UvHandle *poll, int status, int events) {
  (void)status;
  (void)events;
  Instance *in = *(Instance **)poll;
  struct epoll_event ready[128];
  /* More than this many stay ready in the set, and libuv polls it again. */
  int n = epoll_wait(in->main.epoll, ready, 128, 0);
  Relay *doneList = NULL;
  for (int i = 0; i < n; i += 1) {
    Relay *r = (Relay *)((uintptr_t)ready[i].data.u64 & ~(uintptr_t)1);
    if (r->onThread) continue;
    handle(&in->main, &ready[i], &doneList);
    if (!r->done && r->lingerUntil == 0 && r->bytes[0] + r->bytes[1] >= moveAfterBytes)
      moveToThread(in, r);
  }
  expire(in, &doneList);
  /* Told only after the batch: a later event of the batch may name the same relay. */
  report(in, doneList);
}

/* The environment is going away: libuv lets go of the relay's handles. */
static void stopInstance(void *arg) {
  Instance *in = arg;
  if (!in->started || in->stopped) return;
  in->stopped = true;
  if (in->threadStarted) {
    pthread_mutex_lock(&in->handed);
    in->stopping = true;
    pthread_mutex_unlock(&in->handed);
    uint64_t one = 1;
    ssize_t ignored = write(in->wake, &one, sizeof one);
    (void)ignored;
    pthread_join(in->thread, NULL);
  }
  uv_poll_stop(in->poll);
  uv_timer_stop(in->timer);
  uv_close(in->poll, NULL);
  uv_close(in->timer, NULL);
}

static Instance *instance(napi_env env) {
  Instance *in = NULL;
  napi_get_instance_data(env, (void **)&in);
  return in;
}

static bool start(napi_env env, Instance *in) {
  if (in->started) return true;
  struct uv_loop_s *loop = NULL;
  napi_value resource, name;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == NULL) return false;
  in->main.epoll = epoll_create1(EPOLL_CLOEXEC);
  if (in->main.epoll < 0) return false;
  in->main.closedAtOnce = true;
  /* Never freed, as the instance: libuv may hold them until the loop's last turn. */
  in->poll = calloc(1, uv_handle_size(uvPollType));
  in->timer = calloc(1, uv_handle_size(uvTimerType));
  if (in->poll == NULL || in->timer == NULL || uv_poll_init(loop, in->poll, in->main.epoll) != 0 ||
      uv_timer_init(loop, in->timer) != 0)
    return false;
  *(Instance **)in->poll = in;
  *(Instance **)in->timer = in;
  if (uv_poll_start(in->poll, uvReadable, onReady) != 0) return false;
  /* The sockets keep the process alive, not these. */
  uv_unref(in->poll);
  uv_unref(in->timer);
  napi_create_object(env, &resource);
  napi_create_string_utf8(env, "homing kernel relay", NAPI_AUTO_LENGTH, &name);
  napi_create_reference(env, resource, 1, &in->resource);
  napi_async_init(env, resource, name, &in->context);
  in->env = env;
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

/* A record that did not start a relay goes back to the spares, ended (as events may name it). */
static void unused(Instance *in, Relay *r) {
  r->done = true;
  r->doneNext = in->spareRelays;
  in->spareRelays = r;
}

/* relay(owner, clientFd, backendFd, headUp, headDown): a handle for counts() and kick(). */
static napi_value relay(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value args[5];
  napi_get_cb_info(env, info, &argc, args, NULL, NULL);
  if (argc < 5) return throwError(env, "relay(owner, clientFd, backendFd, headUp, headDown)");
  Instance *in = instance(env);
  if (!start(env, in)) return throwError(env, "the kernel relay did not start");
  int32_t client = -1, backend = -1;
  if (napi_get_value_int32(env, args[1], &client) != napi_ok ||
      napi_get_value_int32(env, args[2], &backend) != napi_ok || client < 0 || backend < 0)
    return throwError(env, "relay: two open file descriptors");
  Relay *r = in->spareRelays;
  if (r != NULL) {
    in->spareRelays = r->doneNext;
    memset(r, 0, sizeof *r);
  } else {
    r = calloc(1, sizeof *r);
    if (r == NULL) return throwError(env, "out of memory");
  }
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
      unused(in, r);
      return throwError(env, "out of memory");
    }
    r->bytes[way] = d->headLength;
  }
  napi_create_reference(env, args[0], 1, &r->owner);
  for (int side = 0; side < 2; side += 1) {
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
                             .data.u64 = tagOf(r, side)};
    if (epoll_ctl(in->main.epoll, EPOLL_CTL_ADD, r->fds[side], &ev) != 0) {
      int error = errno;
      /* Still open, and Node's again: out of this set. */
      if (side == backendSide) epoll_ctl(in->main.epoll, EPOLL_CTL_DEL, client, NULL);
      napi_delete_reference(env, r->owner);
      free(r->way[0].head);
      free(r->way[1].head);
      unused(in, r);
      return throwError(env, strerror(error));
    }
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
  lingerMs = ms;
  return NULL;
}

/* setThreadAfter(bytes): what a relay moves before it goes to the side thread (-1: never);
 * returns what it was. */
static napi_value setThreadAfter(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value arg;
  napi_get_cb_info(env, info, &argc, &arg, NULL, NULL);
  int64_t bytes = 0;
  if (argc < 1 || napi_get_value_int64(env, arg, &bytes) != napi_ok || bytes < -1)
    return throwError(env, "setThreadAfter(bytes)");
  napi_value was;
  napi_create_int64(env, moveAfterBytes == UINT64_MAX ? -1 : (int64_t)moveAfterBytes, &was);
  moveAfterBytes = bytes < 0 ? UINT64_MAX : (uint64_t)bytes;
  return was;
}

NAPI_MODULE_INIT() {
  Instance *in = calloc(1, sizeof *in);
  if (in == NULL) return NULL;
  in->side.epoll = in->wake = -1;
  pthread_mutex_init(&in->handed, NULL);
  /* Not freed with the environment: its thread may still be winding down; the process ends. */
  napi_set_instance_data(env, in, NULL, NULL);
  napi_property_descriptor methods[] = {
      {"relay", NULL, relay, NULL, NULL, NULL, napi_default_method, NULL},
      {"counts", NULL, counts, NULL, NULL, NULL, napi_default_method, NULL},
      {"kick", NULL, kick, NULL, NULL, NULL, napi_default_method, NULL},
      {"setLinger", NULL, setLinger, NULL, NULL, NULL, napi_default_method, NULL},
      {"setThreadAfter", NULL, setThreadAfter, NULL, NULL, NULL, napi_default_method, NULL},
  };
  napi_define_properties(env, exports, sizeof methods / sizeof methods[0], methods);
  return exports;
}
