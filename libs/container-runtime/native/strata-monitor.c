/*
 * strata-monitor: Strata's per-container monitor.
 *
 * One monitor per container (or per exec'd process). Started by the node
 * agent, it daemonizes (double fork + setsid) so that it outlives the agent,
 * becomes the child subreaper, runs `runc create` (with --run `runc run
 * --detach`: created and started at once; or `runc exec --detach`) and then:
 *   - copies the process's stdout/stderr (pipes) or TTY master into a
 *     JSON-lines log (Docker's json-file format), rotated at a size cap and
 *     kept to a number of files;
 *   - serves an attach socket (attach.sock) speaking a framed protocol:
 *       frame = type (1 byte) + payload length (4 bytes, big endian) + payload
 *       client -> monitor: 0 stdin data, 1 close stdin, 2 resize (cols, rows:
 *                          two big-endian uint16)
 *       monitor -> client: 1 stdout data, 2 stderr data, 3 exit (JSON record)
 *     after the exit frame the monitor ends its side of each connection and
 *     closes it once the client has closed its own (whatever the client sent
 *     meanwhile is discarded); a client that only ends its own side keeps
 *     receiving output;
 *   - reaps the process, drains its output and writes exit.json atomically.
 *
 * Files in the state directory (its working directory): monitor.json (pids
 * and start times), exit.json, log.json[.N] (unless --log-dir names another
 * directory: the agent keeps a container's log there across restarts; the
 * monitor appends to what is there and rotates by the same caps), runc.log,
 * init.pid, monitor.log (its own diagnostics), attach.sock, console.sock
 * (TTY only, during creation).
 *
 * Progress goes to the agent through --sync-fd as JSON lines:
 * {"monitorPid":N} once the attach socket listens, then {"pid":N} once the
 * process exists, or {"error":"..."}; then the descriptor is closed.
 *
 * With --place-fd, the monitor waits after {"monitorPid":N} for one byte on
 * that descriptor before it forks anything: the agent moves it into a cgroup
 * of its own meanwhile (so that nothing the monitor starts stays in the
 * agent's cgroup) and may connect attach clients, which are accepted before
 * runc runs. End of file or no byte within 10 s ends the monitor.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define MAX_CLIENTS 16
#define READ_CHUNK 32768
#define LINE_MAX_BYTES 16384
#define RECORD_MAX (LINE_MAX_BYTES * 6 + 256)
#define OUTBUF_SIZE (RECORD_MAX * 2)
#define DRAIN_MS 2000
#define ATTACH_WAIT_MS 30000
#define CLIENT_CLOSE_MS 2000
#define CONSOLE_WAIT_MS 10000

enum { F_STDIN = 0, F_STDIN_CLOSE = 1, F_RESIZE = 2 };
enum { F_STDOUT = 1, F_STDERR = 2, F_EXIT = 3 };

static const char *o_id, *o_bundle, *o_state, *o_runc = "runc", *o_root, *o_exec, *o_log_dir = ".";
static int o_tty, o_stdin, o_wait_attach, o_run;
static long long o_max_bytes = 10 * 1024 * 1024;
static long o_max_files = 3;
static int sync_fd = -1, place_fd = -1;

static void sync_send(const char *fmt, ...) {
  if (sync_fd < 0) return;
  char line[1024];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(line, sizeof line - 1, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if ((size_t)n > sizeof line - 2) n = sizeof line - 2;
  line[n++] = '\n';
  ssize_t w;
  do w = write(sync_fd, line, (size_t)n); while (w < 0 && errno == EINTR);
}

static void sync_close(void) {
  if (sync_fd >= 0) close(sync_fd);
  sync_fd = -1;
}

static void fail(const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  fprintf(stderr, "strata-monitor: %s\n", msg);
  for (char *p = msg; *p; p++)
    if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20) *p = ' ';
  sync_send("{\"error\":\"%s\"}", msg);
  unlink("attach.sock");
  unlink("console.sock");
  exit(1);
}

static void now_rfc3339(char out[48]) {
  struct timespec ts;
  struct tm tm;
  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  size_t n = strftime(out, 48, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(out + n, 48 - n, ".%09ldZ", ts.tv_nsec);
}

/* Field 22 of /proc/<pid>/stat: start time in clock ticks since boot. */
static unsigned long long start_time(pid_t pid) {
  char path[64], buf[1024];
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return 0;
  buf[n] = 0;
  char *p = strrchr(buf, ')');
  if (!p) return 0;
  p++;
  for (int field = 2; field < 21 && p; field++) p = strchr(p + 1, ' ');
  return p ? strtoull(p + 1, NULL, 10) : 0;
}

static int write_all(int fd, const void *data, size_t len) {
  const char *p = data;
  while (len > 0) {
    ssize_t w = write(fd, p, len);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    p += w;
    len -= (size_t)w;
  }
  return 0;
}

/* Replaces name atomically for readers: name.tmp, then rename. Nothing is
   flushed to disk here: monitor.json describes processes that a host crash
   ends anyway, and exit.json is flushed by sync_file once the agent has been
   told (a reader treats a file a crash left empty as missing). */
static void write_atomic(const char *name, const char *data, size_t len) {
  char tmp[256];
  snprintf(tmp, sizeof tmp, "%s.tmp", name);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0 || write_all(fd, data, len) < 0) {
    fprintf(stderr, "strata-monitor: cannot write %s: %s\n", tmp, strerror(errno));
    if (fd >= 0) close(fd);
    return;
  }
  close(fd);
  if (rename(tmp, name) < 0) fprintf(stderr, "strata-monitor: cannot rename %s: %s\n", tmp, strerror(errno));
}

/* Flushes name and the directory entry that names it to disk. */
static void sync_file(const char *name) {
  int fd = open(name, O_RDONLY | O_CLOEXEC);
  if (fd < 0 || fsync(fd) < 0) fprintf(stderr, "strata-monitor: cannot flush %s: %s\n", name, strerror(errno));
  if (fd >= 0) close(fd);
  int dir = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    fsync(dir);
    close(dir);
  }
}

/* ---- log file ---------------------------------------------------------- */

static int log_fd = -1;
static long long log_size;
static char outbuf[OUTBUF_SIZE];
static size_t out_len;
static int log_error_reported;

/* Path of log.json (n == 0) or log.json.n in the log directory. */
static void log_name(char *out, size_t size, long n) {
  if (n == 0)
    snprintf(out, size, "%s/log.json", o_log_dir);
  else
    snprintf(out, size, "%s/log.json.%ld", o_log_dir, n);
}

static void log_open(void) {
  char path[4200];
  log_name(path, sizeof path, 0);
  log_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (log_fd < 0) fail("cannot open %s: %s", path, strerror(errno));
  struct stat st;
  log_size = fstat(log_fd, &st) == 0 ? st.st_size : 0;
}

static void log_flush(void) {
  if (out_len == 0) return;
  if (write_all(log_fd, outbuf, out_len) < 0 && !log_error_reported) {
    log_error_reported = 1;
    fprintf(stderr, "strata-monitor: log write failed, dropping output: %s\n", strerror(errno));
  }
  log_size += (long long)out_len;
  out_len = 0;
}

/* Rotation never renames over an existing file nor truncates one: ext4
   (auto_da_alloc) would flush the replaced file's data on each rotation. */
static void log_rotate(void) {
  log_flush();
  close(log_fd);
  char src[4200], dst[4200];
  log_name(dst, sizeof dst, o_max_files <= 1 ? 0 : o_max_files - 1);
  if (unlink(dst) < 0 && errno != ENOENT) fprintf(stderr, "strata-monitor: rotate %s: %s\n", dst, strerror(errno));
  for (long i = o_max_files - 1; i >= 1; i--) {
    log_name(src, sizeof src, i - 1);
    log_name(dst, sizeof dst, i);
    if (rename(src, dst) < 0 && errno != ENOENT)
      fprintf(stderr, "strata-monitor: rotate %s: %s\n", src, strerror(errno));
  }
  log_open();
}

/* Length of the valid UTF-8 sequence at s, or 0 when it is not valid. */
static size_t utf8_len(const unsigned char *s, size_t n) {
  unsigned char c = s[0];
  size_t len;
  unsigned char lo = 0x80, hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) len = 2;
  else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else return 0;
  if (n < len) return 0;
  if (s[1] < lo || s[1] > hi) return 0;
  for (size_t i = 2; i < len; i++)
    if (s[i] < 0x80 || s[i] > 0xBF) return 0;
  return len;
}

static size_t json_escape(char *dst, const unsigned char *s, size_t n) {
  static const char hex[] = "0123456789abcdef";
  char *d = dst;
  size_t i = 0;
  while (i < n) {
    unsigned char c = s[i];
    if (c < 0x80) {
      i++;
      if (c == '"' || c == '\\') {
        *d++ = '\\';
        *d++ = (char)c;
      } else if (c == '\n') {
        *d++ = '\\';
        *d++ = 'n';
      } else if (c == '\r') {
        *d++ = '\\';
        *d++ = 'r';
      } else if (c == '\t') {
        *d++ = '\\';
        *d++ = 't';
      } else if (c < 0x20) {
        memcpy(d, "\\u00", 4);
        d[4] = hex[c >> 4];
        d[5] = hex[c & 15];
        d += 6;
      } else
        *d++ = (char)c;
      continue;
    }
    size_t len = utf8_len(s + i, n - i);
    if (len == 0) {
      memcpy(d, "\\ufffd", 6);
      d += 6;
      i++;
    } else {
      memcpy(d, s + i, len);
      d += len;
      i += len;
    }
  }
  return (size_t)(d - dst);
}

/* The end of a record: stream name and time, rebuilt once per read. */
static void set_suffix(char *suffix, size_t *len, const char *stream, const char *ts) {
  *len = (size_t)snprintf(suffix, 128, "\",\"stream\":\"%s\",\"time\":\"%s\"}\n", stream, ts);
}

/* Formats a record straight into outbuf; rotates first when it would pass the cap. */
static void log_record(const char *suffix, size_t suffix_len, const char *data, size_t len) {
  if (out_len + 8 + len * 6 + suffix_len > sizeof outbuf) log_flush();
  char *p = outbuf + out_len;
  memcpy(p, "{\"log\":\"", 8);
  size_t n = 8 + json_escape(p + 8, (const unsigned char *)data, len);
  memcpy(p + n, suffix, suffix_len);
  n += suffix_len;
  if (log_size + (long long)(out_len + n) > o_max_bytes && log_size + (long long)out_len > 0) {
    log_flush();
    log_rotate();
    memmove(outbuf, p, n);
    out_len = n;
  } else {
    out_len += n;
  }
}

/* A stream's partial line: records are whole lines, or 16 KiB pieces. */
struct lstream {
  const char *name;
  char buf[LINE_MAX_BYTES];
  size_t n;
  char suffix[128];
  size_t suffix_len;
};
static struct lstream s_out = {.name = "stdout"}, s_err = {.name = "stderr"};

static void stream_feed(struct lstream *s, const char *data, size_t len, const char *ts) {
  set_suffix(s->suffix, &s->suffix_len, s->name, ts);
  while (len > 0) {
    const char *nl = memchr(data, '\n', len);
    size_t take = nl ? (size_t)(nl - data) + 1 : len;
    if (s->n + take > LINE_MAX_BYTES) take = LINE_MAX_BYTES - s->n;
    if (s->n == 0 && take > 0 && (data[take - 1] == '\n' || take == LINE_MAX_BYTES)) {
      log_record(s->suffix, s->suffix_len, data, take);
    } else {
      memcpy(s->buf + s->n, data, take);
      s->n += take;
      if (s->buf[s->n - 1] == '\n' || s->n == LINE_MAX_BYTES) {
        log_record(s->suffix, s->suffix_len, s->buf, s->n);
        s->n = 0;
      }
    }
    data += take;
    len -= take;
  }
}

static void stream_flush(struct lstream *s) {
  if (s->n == 0) return;
  char ts[48];
  now_rfc3339(ts);
  set_suffix(s->suffix, &s->suffix_len, s->name, ts);
  log_record(s->suffix, s->suffix_len, s->buf, s->n);
  s->n = 0;
}

/* ---- attach clients ---------------------------------------------------- */

struct client {
  int fd;
  unsigned char hdr[5];
  int hdr_n;
  unsigned char type;
  uint32_t remaining;
  unsigned char small[4];
  int small_n;
  unsigned char *pend;
  size_t pend_len, pend_off;
  int in_eof; /* the client ended its side: it is only sent to */
};
static struct client clients[MAX_CLIENTS];
static int nclients;

static int in_fd = -1;  /* where stdin goes: pipe write end or the TTY master */
static int out_fd[2] = {-1, -1};
static int out_eof[2];
static int master_fd = -1;
static unsigned char *stdin_pend;
static size_t stdin_pend_len, stdin_pend_off;
static int stdin_close_wanted;

static void client_close(int i) {
  close(clients[i].fd);
  free(clients[i].pend);
  clients[i] = clients[--nclients];
}

static int any_client_pending(void) {
  for (int i = 0; i < nclients; i++)
    if (clients[i].pend) return 1;
  return 0;
}

/* Sends a frame without blocking; keeps what the socket did not take. */
static int client_send(struct client *c, unsigned char type, const void *data, size_t len) {
  unsigned char hdr[5] = {type, (unsigned char)(len >> 24), (unsigned char)(len >> 16), (unsigned char)(len >> 8),
                          (unsigned char)len};
  size_t total = sizeof hdr + len;
  size_t sent = 0;
  if (!c->pend) {
    struct iovec iov[2] = {{hdr, sizeof hdr}, {(void *)data, len}};
    struct msghdr msg = {.msg_iov = iov, .msg_iovlen = 2};
    ssize_t w;
    do w = sendmsg(c->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT); while (w < 0 && errno == EINTR);
    if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK) return -1;
    sent = w > 0 ? (size_t)w : 0;
    if (sent == total) return 0;
  }
  size_t keep = total - sent;
  size_t have = c->pend ? c->pend_len - c->pend_off : 0;
  unsigned char *p = malloc(have + keep);
  if (!p) return -1;
  if (have) memcpy(p, c->pend + c->pend_off, have);
  for (size_t k = sent; k < total; k++)
    p[have + k - sent] = k < sizeof hdr ? hdr[k] : ((const unsigned char *)data)[k - sizeof hdr];
  free(c->pend);
  c->pend = p;
  c->pend_len = have + keep;
  c->pend_off = 0;
  return 0;
}

static int client_flush(struct client *c) {
  while (c->pend) {
    ssize_t w = send(c->fd, c->pend + c->pend_off, c->pend_len - c->pend_off, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
      return -1;
    }
    c->pend_off += (size_t)w;
    if (c->pend_off == c->pend_len) {
      free(c->pend);
      c->pend = NULL;
    }
  }
  return 0;
}

static void broadcast(unsigned char type, const void *data, size_t len) {
  for (int i = 0; i < nclients;) {
    if (client_send(&clients[i], type, data, len) < 0)
      client_close(i);
    else
      i++;
  }
}

static void close_stdin_now(void) {
  if (in_fd < 0) return;
  if (in_fd == master_fd) {
    static const char eot = 4;
    ssize_t w = write(master_fd, &eot, 1);
    (void)w;
  } else {
    close(in_fd);
  }
  in_fd = -1;
  free(stdin_pend);
  stdin_pend = NULL;
}

static void stdin_write(const unsigned char *data, size_t len) {
  if (in_fd < 0 || len == 0) return;
  size_t done = 0;
  if (!stdin_pend) {
    ssize_t w;
    do w = write(in_fd, data, len); while (w < 0 && errno == EINTR);
    if (w < 0 && errno != EAGAIN) {
      close_stdin_now();
      return;
    }
    done = w > 0 ? (size_t)w : 0;
    if (done == len) return;
  }
  size_t have = stdin_pend ? stdin_pend_len - stdin_pend_off : 0;
  unsigned char *p = malloc(have + len - done);
  if (!p) return;
  if (have) memcpy(p, stdin_pend + stdin_pend_off, have);
  memcpy(p + have, data + done, len - done);
  free(stdin_pend);
  stdin_pend = p;
  stdin_pend_len = have + len - done;
  stdin_pend_off = 0;
}

static void stdin_flush(void) {
  while (stdin_pend && in_fd >= 0) {
    ssize_t w = write(in_fd, stdin_pend + stdin_pend_off, stdin_pend_len - stdin_pend_off);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) return;
      close_stdin_now();
      return;
    }
    stdin_pend_off += (size_t)w;
    if (stdin_pend_off == stdin_pend_len) {
      free(stdin_pend);
      stdin_pend = NULL;
    }
  }
  if (!stdin_pend && stdin_close_wanted) close_stdin_now();
}

static void frame_done(struct client *c) {
  if (c->type == F_STDIN_CLOSE) {
    stdin_close_wanted = 1;
    if (!stdin_pend) close_stdin_now();
  } else if (c->type == F_RESIZE && c->small_n == 4 && master_fd >= 0) {
    struct winsize ws = {0};
    ws.ws_col = (unsigned short)(c->small[0] << 8 | c->small[1]);
    ws.ws_row = (unsigned short)(c->small[2] << 8 | c->small[3]);
    if (ioctl(master_fd, TIOCSWINSZ, &ws) < 0) fprintf(stderr, "strata-monitor: resize: %s\n", strerror(errno));
  }
  c->hdr_n = 0;
  c->small_n = 0;
}

/* Reads from a client; returns -1 when it is gone or broke the protocol. End
   of file is a client that ended its side (shutdown) and still reads: it
   keeps getting output until it closes (POLLHUP) or a send fails. */
static int client_read(struct client *c) {
  static unsigned char buf[65536];
  ssize_t n = read(c->fd, buf, sizeof buf);
  if (n < 0) return (errno == EINTR || errno == EAGAIN) ? 0 : -1;
  if (n == 0) {
    c->in_eof = 1;
    return 0;
  }
  size_t i = 0, len = (size_t)n;
  while (i < len) {
    if (c->hdr_n < 5) {
      c->hdr[c->hdr_n++] = buf[i++];
      if (c->hdr_n < 5) continue;
      c->type = c->hdr[0];
      c->remaining = (uint32_t)c->hdr[1] << 24 | (uint32_t)c->hdr[2] << 16 | (uint32_t)c->hdr[3] << 8 | c->hdr[4];
      if (c->type > F_RESIZE || (c->type == F_RESIZE && c->remaining != 4)) return -1;
      if (c->remaining == 0) frame_done(c);
      continue;
    }
    size_t take = len - i < c->remaining ? len - i : c->remaining;
    if (c->type == F_STDIN)
      stdin_write(buf + i, take);
    else if (c->type == F_RESIZE)
      for (size_t k = 0; k < take && c->small_n < 4; k++) c->small[c->small_n++] = buf[i + k];
    i += take;
    c->remaining -= (uint32_t)take;
    if (c->remaining == 0) frame_done(c);
  }
  return 0;
}

static long long now_ms(void);

/*
 * Ends every connection once the exit frame is queued: what is pending for
 * a client is sent, then the monitor ends its side (the client reads end of
 * file after the exit frame) and reads (and drops) what the client still
 * sends until the client closes. Closing a socket whose input has not been
 * read resets the connection, and a client that is still writing (a close of
 * stdin, stdin for a process that has ended) fails on it: it would lose the
 * output and the exit frame not yet read from its socket. A client that
 * does not close within CLIENT_CLOSE_MS is closed anyway.
 */
static void close_clients(void) {
  static unsigned char sink[4096];
  int shut[MAX_CLIENTS] = {0};
  long long end = now_ms() + CLIENT_CLOSE_MS;
  while (nclients > 0) {
    long long left = end - now_ms();
    if (left <= 0) break;
    struct pollfd pfd[MAX_CLIENTS];
    for (int k = 0; k < nclients; k++) {
      if (!clients[k].pend && !shut[k]) {
        shutdown(clients[k].fd, SHUT_WR);
        shut[k] = 1;
      }
      pfd[k] = (struct pollfd){clients[k].fd, (short)(clients[k].pend ? POLLOUT : POLLIN), 0};
    }
    int r = poll(pfd, (nfds_t)nclients, (int)left);
    if (r < 0 && errno != EINTR) break;
    for (int k = nclients - 1; r > 0 && k >= 0; k--) {
      short ev = pfd[k].revents;
      if (!ev) continue;
      int done;
      if (clients[k].pend) {
        done = client_flush(&clients[k]) < 0;
      } else {
        ssize_t got = read(clients[k].fd, sink, sizeof sink);
        done = got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR);
      }
      if (done) {
        client_close(k);
        shut[k] = shut[nclients];
      }
    }
  }
  while (nclients > 0) client_close(nclients - 1);
}

/* Accepts one waiting client; -1 when none was waiting. */
static int accept_client(int listen_fd) {
  int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
  if (fd < 0) return -1;
  if (nclients == MAX_CLIENTS) {
    close(fd);
    return 0;
  }
  memset(&clients[nclients], 0, sizeof clients[0]);
  clients[nclients++].fd = fd;
  return 0;
}

/* ---- process handling -------------------------------------------------- */

static pid_t runc_pid, init_pid;
static int runc_status = -1, init_status, init_exited;
static struct {
  pid_t pid;
  int status;
} early[32];
static int nearly;

static void reap(void) {
  int st;
  pid_t p;
  while ((p = waitpid(-1, &st, WNOHANG)) > 0) {
    if (p == runc_pid) {
      runc_status = st;
    } else if (init_pid > 0 && p == init_pid) {
      init_status = st;
      init_exited = 1;
    } else if (init_pid == 0 && nearly < 32) {
      early[nearly].pid = p;
      early[nearly++].status = st;
    }
  }
}

static int listen_unix(const char *name) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) fail("socket: %s", strerror(errno));
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  snprintf(addr.sun_path, sizeof addr.sun_path, "%s", name);
  unlink(name);
  if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0) fail("bind %s: %s", name, strerror(errno));
  if (chmod(name, 0600) < 0) fail("chmod %s: %s", name, strerror(errno));
  if (listen(fd, 16) < 0) fail("listen %s: %s", name, strerror(errno));
  return fd;
}

/* Receives the TTY master that runc sends over the console socket. */
static int recv_master(int listen_fd) {
  int conn = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
  if (conn < 0) return -1;
  char name[4096];
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } u;
  struct iovec iov = {name, sizeof name};
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf};
  ssize_t n;
  do n = recvmsg(conn, &msg, MSG_CMSG_CLOEXEC); while (n < 0 && errno == EINTR);
  close(conn);
  if (n < 0) return -1;
  struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
  if (!cm || cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS) return -1;
  int fd;
  memcpy(&fd, CMSG_DATA(cm), sizeof fd);
  return fd;
}

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void usage(void) {
  fprintf(stderr,
          "usage: strata-monitor --id ID --state-dir DIR --sync-fd FD [--place-fd FD] (--bundle DIR | --exec PROCESS.json)\n"
          "       [--runc PATH] [--runc-root DIR] [--tty] [--stdin] [--wait-attach] [--run]\n"
          "       [--log-max-bytes N] [--log-max-files N] [--log-dir DIR]\n");
  exit(2);
}

static void parse_args(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--tty")) o_tty = 1;
    else if (!strcmp(a, "--stdin")) o_stdin = 1;
    else if (!strcmp(a, "--wait-attach")) o_wait_attach = 1;
    else if (!strcmp(a, "--run")) o_run = 1;
    else if (!v) usage();
    else {
      i++;
      if (!strcmp(a, "--id")) o_id = v;
      else if (!strcmp(a, "--bundle")) o_bundle = v;
      else if (!strcmp(a, "--exec")) o_exec = v;
      else if (!strcmp(a, "--state-dir")) o_state = v;
      else if (!strcmp(a, "--runc")) o_runc = v;
      else if (!strcmp(a, "--runc-root")) o_root = v;
      else if (!strcmp(a, "--sync-fd")) sync_fd = atoi(v);
      else if (!strcmp(a, "--place-fd")) place_fd = atoi(v);
      else if (!strcmp(a, "--log-max-bytes")) o_max_bytes = atoll(v);
      else if (!strcmp(a, "--log-max-files")) o_max_files = atol(v);
      else if (!strcmp(a, "--log-dir")) o_log_dir = v;
      else usage();
    }
  }
  if (!o_id || !o_state || sync_fd < 3 || (place_fd != -1 && (place_fd < 3 || place_fd == sync_fd)) || (!o_bundle == !o_exec) || o_max_bytes <= 0 || o_max_files <= 0 ||
      o_max_files > 1000 || strlen(o_log_dir) > 4000)
    usage();
}

static void daemonize(void) {
  pid_t p = fork();
  if (p < 0) fail("fork: %s", strerror(errno));
  if (p > 0) _exit(0);
  if (setsid() < 0 && errno != EPERM) fail("setsid: %s", strerror(errno));
  p = fork();
  if (p < 0) fail("fork: %s", strerror(errno));
  if (p > 0) _exit(0);
}

static pid_t spawn_runc(int fd0, int fd1, int fd2) {
  const char *argv[32];
  int n = 0;
  argv[n++] = o_runc;
  if (o_root) {
    argv[n++] = "--root";
    argv[n++] = o_root;
  }
  argv[n++] = "--log";
  argv[n++] = "runc.log";
  argv[n++] = "--log-format";
  argv[n++] = "json";
  if (o_exec) {
    argv[n++] = "exec";
    argv[n++] = "--detach";
    argv[n++] = "--process";
    argv[n++] = o_exec;
  } else if (o_run) {
    argv[n++] = "run";
    argv[n++] = "--detach";
    argv[n++] = "--bundle";
    argv[n++] = o_bundle;
  } else {
    argv[n++] = "create";
    argv[n++] = "--bundle";
    argv[n++] = o_bundle;
  }
  argv[n++] = "--pid-file";
  argv[n++] = "init.pid";
  /* runc resolves the console socket after entering the bundle directory:
     name it through our working directory, short whatever its length. */
  char console_path[64];
  snprintf(console_path, sizeof console_path, "/proc/%d/cwd/console.sock", (int)getpid());
  if (o_tty) {
    argv[n++] = "--console-socket";
    argv[n++] = console_path;
  }
  argv[n++] = o_id;
  argv[n] = NULL;

  pid_t p = fork();
  if (p < 0) fail("fork: %s", strerror(errno));
  if (p == 0) {
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGPIPE, SIG_DFL);
    signal(SIGHUP, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    if (dup2(fd0, 0) < 0 || dup2(fd1, 1) < 0 || dup2(fd2, 2) < 0) _exit(127);
    execvp(o_runc, (char *const *)argv);
    _exit(127);
  }
  return p;
}

static void write_monitor_json(void) {
  char buf[512];
  int n = snprintf(buf, sizeof buf,
                   "{\"monitorPid\":%d,\"monitorStartTime\":%llu,\"pid\":%d,\"pidStartTime\":%llu,"
                   "\"tty\":%s,\"stdin\":%s,\"exec\":%s}\n",
                   (int)getpid(), start_time(getpid()), (int)init_pid, init_pid > 0 ? start_time(init_pid) : 0ULL,
                   o_tty ? "true" : "false", o_stdin ? "true" : "false", o_exec ? "true" : "false");
  write_atomic("monitor.json", buf, (size_t)n);
}

int main(int argc, char **argv) {
  parse_args(argc, argv);
  if (fcntl(sync_fd, F_SETFD, FD_CLOEXEC) < 0) usage();
  if (place_fd >= 0 && fcntl(place_fd, F_SETFD, FD_CLOEXEC) < 0) usage();
  {
    int lo = place_fd >= 0 && place_fd < sync_fd ? place_fd : sync_fd;
    int hi = place_fd > sync_fd ? place_fd : sync_fd;
    if (lo > 3) close_range(3, (unsigned)lo - 1, 0);
    if (hi > lo + 1) close_range((unsigned)lo + 1, (unsigned)hi - 1, 0);
    close_range((unsigned)hi + 1, ~0U, 0);
  }
  if (chdir(o_state) < 0) fail("chdir %s: %s", o_state, strerror(errno));

  int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
  int mlog = open("monitor.log", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (devnull < 0 || mlog < 0) fail("cannot open /dev/null or monitor.log: %s", strerror(errno));
  daemonize();
  umask(077);
  dup2(devnull, 0);
  dup2(devnull, 1);
  dup2(mlog, 2);
  close(mlog);
  setvbuf(stderr, NULL, _IONBF, 0);

  if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0) fail("PR_SET_CHILD_SUBREAPER: %s", strerror(errno));
  signal(SIGPIPE, SIG_IGN);
  signal(SIGHUP, SIG_IGN);
  signal(SIGINT, SIG_IGN);
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGCHLD);
  sigprocmask(SIG_BLOCK, &mask, NULL);
  int sigfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sigfd < 0) fail("signalfd: %s", strerror(errno));

  int listen_fd = listen_unix("attach.sock");
  write_monitor_json();
  sync_send("{\"monitorPid\":%d}", (int)getpid());
  if (place_fd >= 0) {
    struct pollfd pf = {place_fd, POLLIN, 0};
    char go = 0;
    ssize_t got = -1;
    int r;
    do r = poll(&pf, 1, 10000); while (r < 0 && errno == EINTR);
    if (r > 0) do got = read(place_fd, &go, 1); while (got < 0 && errno == EINTR);
    close(place_fd);
    place_fd = -1;
    if (got != 1) fail("the agent did not place the monitor");
  }

  if (o_wait_attach) {
    struct pollfd pf = {listen_fd, POLLIN, 0};
    if (poll(&pf, 1, ATTACH_WAIT_MS) > 0) accept_client(listen_fd);
  }
  /* Clients that connected while the agent held us (--place-fd) are taken
     before the process can write anything: they see all its output. */
  while (nclients < MAX_CLIENTS && accept_client(listen_fd) == 0) {
  }

  /* The process's stdio: a TTY through the console socket, or pipes. */
  int child_in = devnull, child_out = devnull, child_err = devnull, console_fd = -1;
  if (o_tty) {
    console_fd = listen_unix("console.sock");
  } else {
    int po[2], pe[2];
    if (pipe2(po, O_CLOEXEC) < 0 || pipe2(pe, O_CLOEXEC) < 0) fail("pipe: %s", strerror(errno));
    out_fd[0] = po[0];
    out_fd[1] = pe[0];
    child_out = po[1];
    child_err = pe[1];
    if (o_stdin) {
      int pi[2];
      if (pipe2(pi, O_CLOEXEC) < 0) fail("pipe: %s", strerror(errno));
      child_in = pi[0];
      in_fd = pi[1];
    }
  }
  runc_pid = spawn_runc(child_in, child_out, child_err);
  if (child_in != devnull) close(child_in);
  if (child_out != devnull) close(child_out);
  if (child_err != devnull) close(child_err);

  long long console_deadline = 0;
  while (runc_status < 0 || (o_tty && master_fd < 0 && WIFEXITED(runc_status) && WEXITSTATUS(runc_status) == 0)) {
    struct pollfd pf[2] = {{sigfd, POLLIN, 0}, {console_fd, POLLIN, 0}};
    if (runc_status >= 0 && console_deadline == 0) console_deadline = now_ms() + CONSOLE_WAIT_MS;
    if (console_deadline && now_ms() > console_deadline) fail("runc did not send the terminal");
    int r = poll(pf, o_tty && master_fd < 0 ? 2 : 1, 1000);
    if (r < 0 && errno != EINTR) fail("poll: %s", strerror(errno));
    if (pf[0].revents) {
      struct signalfd_siginfo si;
      while (read(sigfd, &si, sizeof si) > 0) {
      }
      reap();
    }
    if (o_tty && master_fd < 0 && (pf[1].revents & POLLIN)) master_fd = recv_master(console_fd);
  }
  if (console_fd >= 0) {
    close(console_fd);
    unlink("console.sock");
  }
  if (!WIFEXITED(runc_status) || WEXITSTATUS(runc_status) != 0)
    fail("runc %s failed with status %d", o_exec ? "exec" : "create",
         WIFEXITED(runc_status) ? WEXITSTATUS(runc_status) : 128 + WTERMSIG(runc_status));

  char pidbuf[32] = {0};
  int pf = open("init.pid", O_RDONLY | O_CLOEXEC);
  if (pf < 0 || read(pf, pidbuf, sizeof pidbuf - 1) <= 0) fail("runc wrote no pid file");
  close(pf);
  init_pid = (pid_t)atoi(pidbuf);
  if (init_pid <= 0) fail("bad pid file");
  for (int i = 0; i < nearly; i++)
    if (early[i].pid == init_pid) {
      init_status = early[i].status;
      init_exited = 1;
    }

  if (o_tty) {
    int fl = fcntl(master_fd, F_GETFL);
    fcntl(master_fd, F_SETFL, fl | O_NONBLOCK);
    out_fd[0] = master_fd;
    out_eof[1] = 1;
    if (o_stdin) in_fd = master_fd;
  } else {
    for (int i = 0; i < 2; i++) fcntl(out_fd[i], F_SETFL, fcntl(out_fd[i], F_GETFL) | O_NONBLOCK);
    if (in_fd >= 0) fcntl(in_fd, F_SETFL, fcntl(in_fd, F_GETFL) | O_NONBLOCK);
  }
  log_open();
  write_monitor_json();
  sync_send("{\"pid\":%d}", (int)init_pid);
  sync_close();

  static char buf[READ_CHUNK];
  long long deadline = 0;
  for (;;) {
    if (init_exited && deadline == 0) deadline = now_ms() + DRAIN_MS;
    int pending = any_client_pending();
    if (init_exited && out_eof[0] && out_eof[1] && !pending) break;
    if (deadline && now_ms() >= deadline) break;

    struct pollfd pfd[4 + MAX_CLIENTS];
    int np = 0;
    pfd[np++] = (struct pollfd){sigfd, POLLIN, 0};
    int li = -1, oi[2] = {-1, -1}, ii = -1, ci = np;
    if (nclients < MAX_CLIENTS) {
      li = np;
      pfd[np++] = (struct pollfd){listen_fd, POLLIN, 0};
    }
    for (int k = 0; k < 2; k++)
      if (!out_eof[k] && !pending) {
        oi[k] = np;
        pfd[np++] = (struct pollfd){out_fd[k], POLLIN, 0};
      }
    if (stdin_pend && in_fd >= 0 && in_fd != master_fd) {
      ii = np;
      pfd[np++] = (struct pollfd){in_fd, POLLOUT, 0};
    }
    ci = np;
    for (int k = 0; k < nclients; k++)
      pfd[np++] = (struct pollfd){clients[k].fd, (short)((stdin_pend || clients[k].in_eof ? 0 : POLLIN) | (clients[k].pend ? POLLOUT : 0)), 0};

    int timeout = deadline ? (int)(deadline - now_ms()) : -1;
    if (stdin_pend && in_fd == master_fd && timeout < 0) timeout = 50;
    if (timeout < -1) timeout = 0;
    int r = poll(pfd, (nfds_t)np, timeout);
    if (r < 0) {
      if (errno == EINTR) continue;
      fail("poll: %s", strerror(errno));
    }
    /* Clients first: one that connected before this output arrived gets it. */
    if (li >= 0 && (pfd[li].revents & POLLIN)) accept_client(listen_fd);
    if (pfd[0].revents) {
      struct signalfd_siginfo si;
      while (read(sigfd, &si, sizeof si) > 0) {
      }
      reap();
    }
    for (int k = 0; k < 2; k++) {
      if (oi[k] < 0 || !pfd[oi[k]].revents) continue;
      ssize_t n = read(out_fd[k], buf, sizeof buf);
      if (n > 0) {
        char ts[48];
        now_rfc3339(ts);
        stream_feed(k == 0 ? &s_out : &s_err, buf, (size_t)n, ts);
        log_flush();
        broadcast(k == 0 ? F_STDOUT : F_STDERR, buf, (size_t)n);
      } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
        out_eof[k] = 1;
      }
    }
    if (ii >= 0 && pfd[ii].revents) stdin_flush();
    if (stdin_pend && in_fd == master_fd) stdin_flush();
    /* Clients: iterate backwards since client_close moves the last one. */
    int nc = np - ci;
    for (int k = nc - 1; k >= 0; k--) {
      short ev = pfd[ci + k].revents;
      if (!ev || k >= nclients) continue;
      int bad = 0;
      if (ev & POLLOUT) bad = client_flush(&clients[k]) < 0;
      if (!bad && (ev & (POLLIN | POLLHUP | POLLERR)) && !stdin_pend && !clients[k].in_eof) bad = client_read(&clients[k]) < 0;
      else if (!bad && (ev & (POLLHUP | POLLERR))) bad = 1;
      if (bad) client_close(k);
    }
  }

  stream_flush(&s_out);
  stream_flush(&s_err);
  log_flush();

  char fin[48], rec[256];
  now_rfc3339(fin);
  int code = WIFEXITED(init_status) ? WEXITSTATUS(init_status) : 128 + WTERMSIG(init_status);
  int sig = WIFSIGNALED(init_status) ? WTERMSIG(init_status) : 0;
  int n = snprintf(rec, sizeof rec, "{\"pid\":%d,\"exitCode\":%d,\"signal\":%d,\"finishedAt\":\"%s\"}\n", (int)init_pid,
                   code, sig, fin);
  write_atomic("exit.json", rec, (size_t)n);

  unlink("attach.sock");
  close(listen_fd);
  broadcast(F_EXIT, rec, (size_t)n - 1);
  close_clients();
  /* Durable only now, off the path of the exit status to the agent and the
     clients: the agent records the exit durably itself, and until it has,
     recover() finds it here (or, after a host crash left the file empty, a
     lost exit). */
  fsync(log_fd);
  sync_file("exit.json");
  return 0;
}
