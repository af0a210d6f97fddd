/*
 * loadgen: many SSH sessions in one process, for the scale and idle-load cases
 * (Benchmarks/lib/scale.py, idle.py), which compile it at run time against the project's static
 * libssh (.build-libssh/prefix).
 *
 *   loadgen --port P --user U --key FILE --known-hosts FILE --cipher C --socket-dir DIR
 *           --sessions S --connections N [--bytes B] [--wave W] [--timeout SECONDS]
 *           [--listen unix|none] [--min-available-mib M] [--stall SECONDS]
 *
 * 1. Opens S sessions to 127.0.0.1:P (W handshakes at a time, one blocking libssh client per
 *    thread), each authenticated with the key and (--listen unix, the default) holding one remote
 *    Unix-socket listener, DIR/s-I.sock, asked for with the streamlocal-forward@openssh.com global
 *    request (what `ssh -R /path:...` sends). Prints {"phase":"sessions",...}.
 * 2. One thread polls every session (non-blocking, one ssh_event): it accepts each
 *    forwarded-streamlocal channel the server opens and echoes what arrives on it.
 * 3. Makes N connections to the sockets on the server's side (connection I to the socket of the
 *    I-th session up, modulo the sessions up; at most W in flight), writes B bytes on each and
 *    reads back their echo, and keeps every one open. Prints {"phase":"held",...} and waits for a
 *    line on stdin (the harness samples the server then), unless stdin is at EOF. With N = 0 it
 *    only holds the sessions (the idle-load case): authenticated, each with its listener, silent.
 * 4. Closes every connection, waits until every channel closed on the SSH side, disconnects
 *    every session, prints {"phase":"done",...} with the error count and the first errors.
 *
 * How far it got, when the machine cannot hold the load: with --min-available-mib M it opens no
 * further session or connection once the kernel's MemAvailable is under M MiB (so that a server
 * that forks per session cannot push the shared machine into the OOM killer); the phases then
 * say "stopped":"memory" and how many were attempted. With --stall T it stops waiting for echoes
 * when none has arrived for T seconds ("stopped":"stalled"; the connections still waiting count
 * as errors).
 *
 * Exit status 0 when there was no error. The libssh client API has no Unix-socket listen request
 * (ssh_channel_listen_forward is TCP only), so the request is sent with libssh's generic
 * ssh_global_request(), which the static library holds but no public header declares.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <libssh/callbacks.h>
#include <libssh/libssh.h>
#include <libssh/server.h>

/* libssh/channels.h (private): sends SSH_MSG_GLOBAL_REQUEST `request` followed by `buffer`. */
int ssh_global_request(ssh_session session, const char *request, ssh_buffer buffer, int reply);

static struct {
    int port, sessions, connections, bytes, wave, listen;
    long min_available_mib;
    double timeout, stall;
    const char *user, *key, *known_hosts, *cipher, *socket_dir;
} opt = {.bytes = 1024, .wave = 50, .timeout = 120, .stall = 0, .listen = 1, .user = "root"};

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- errors: counted, the first few kept for the report ---- */

static pthread_mutex_t error_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_int errors;
static char error_samples[10][200];
static int error_sample_count;

static void error(const char *format, ...) {
    char text[200];
    va_list ap;
    va_start(ap, format);
    vsnprintf(text, sizeof text, format, ap);
    va_end(ap);
    atomic_fetch_add(&errors, 1);
    pthread_mutex_lock(&error_lock);
    if (error_sample_count < 10) {
        for (char *c = text; *c; c++)
            if (*c == '"' || *c == '\\' || (unsigned char)*c < 0x20) *c = '\'';
        strcpy(error_samples[error_sample_count++], text);
    }
    pthread_mutex_unlock(&error_lock);
    fprintf(stderr, "loadgen: %s\n", text);
}

/* ---- the memory reserve (--min-available-mib) ---- */

static atomic_int stopped_for_memory;

/* The kernel's MemAvailable in MiB, or -1 when /proc/meminfo does not say. */
static long available_mib(void) {
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f) return -1;
    char line[128];
    long kib = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "MemAvailable: %ld kB", &kib) == 1) break;
    fclose(f);
    return kib < 0 ? -1 : kib / 1024;
}

/* True (and remembered) once MemAvailable is under the reserve: open nothing more. */
static int memory_low(void) {
    if (atomic_load(&stopped_for_memory)) return 1;
    if (opt.min_available_mib <= 0) return 0;
    long mib = available_mib();
    if (mib >= 0 && mib < opt.min_available_mib) {
        if (!atomic_exchange(&stopped_for_memory, 1))
            fprintf(stderr, "loadgen: MemAvailable %ld MiB is under the reserve of %ld MiB: opening no more\n", mib,
                    opt.min_available_mib);
        return 1;
    }
    return 0;
}

/* ---- phase 1: sessions, each with one remote Unix-socket listener ---- */

static ssh_session *sessions;
static atomic_int next_session;
static atomic_int sessions_ok;
static int *sessions_up, sessions_up_count;  /* indices of the sessions that opened, after phase 1 */

static void socket_path(char *out, size_t size, int index) {
    snprintf(out, size, "%s/s-%d.sock", opt.socket_dir, index);
}

/* streamlocal-forward@openssh.com (OpenSSH PROTOCOL 2.4): one string, the socket path. */
static int listen_unix(ssh_session s, const char *path) {
    ssh_buffer payload = ssh_buffer_new();
    if (!payload) return SSH_ERROR;
    uint32_t length = htonl((uint32_t)strlen(path));
    int rc = ssh_buffer_add_data(payload, &length, 4);
    if (rc == 0) rc = ssh_buffer_add_data(payload, path, (uint32_t)strlen(path));
    if (rc == 0) rc = ssh_global_request(s, "streamlocal-forward@openssh.com", payload, 1);
    ssh_buffer_free(payload);
    return rc;
}

static ssh_session open_session(int index, ssh_key key) {
    ssh_session s = ssh_new();
    if (!s) { error("session %d: ssh_new failed", index); return NULL; }
    int no = 0;
    long timeout = 60;
    unsigned int port = (unsigned int)opt.port;
    ssh_options_set(s, SSH_OPTIONS_PROCESS_CONFIG, &no);
    ssh_options_set(s, SSH_OPTIONS_HOST, "127.0.0.1");
    ssh_options_set(s, SSH_OPTIONS_PORT, &port);
    ssh_options_set(s, SSH_OPTIONS_USER, opt.user);
    ssh_options_set(s, SSH_OPTIONS_KNOWNHOSTS, opt.known_hosts);
    ssh_options_set(s, SSH_OPTIONS_GLOBAL_KNOWNHOSTS, "/dev/null");
    ssh_options_set(s, SSH_OPTIONS_CIPHERS_C_S, opt.cipher);
    ssh_options_set(s, SSH_OPTIONS_CIPHERS_S_C, opt.cipher);
    ssh_options_set(s, SSH_OPTIONS_TIMEOUT, &timeout);
    char path[256];
    socket_path(path, sizeof path, index);
    const char *step = "connect";
    if (ssh_connect(s) != SSH_OK) goto fail;
    step = "host key";
    if (ssh_session_is_known_server(s) != SSH_KNOWN_HOSTS_OK) goto fail;
    step = "authentication";
    if (ssh_userauth_publickey(s, NULL, key) != SSH_AUTH_SUCCESS) goto fail;
    step = "streamlocal-forward";
    if (opt.listen && listen_unix(s, path) != SSH_OK) goto fail;
    return s;
fail:
    error("session %d: %s: %s", index, step, ssh_get_error(s));
    ssh_disconnect(s);
    ssh_free(s);
    return NULL;
}

static void *session_opener(void *unused) {
    (void)unused;
    ssh_key key = NULL;
    if (ssh_pki_import_privkey_file(opt.key, NULL, NULL, NULL, &key) != SSH_OK) {
        error("cannot load the key %s", opt.key);
        return NULL;
    }
    for (;;) {
        if (memory_low()) break;
        int index = atomic_fetch_add(&next_session, 1);
        if (index >= opt.sessions) break;
        sessions[index] = open_session(index, key);
        if (sessions[index]) atomic_fetch_add(&sessions_ok, 1);
    }
    ssh_key_free(key);
    return NULL;
}

/* ---- phase 2: the SSH side, accepting forwarded channels and echoing ---- */

struct channel_state {
    ssh_channel channel;
    struct ssh_channel_callbacks_struct callbacks;
    int eof, closed;
    struct channel_state *next;
};

static ssh_event event;
static atomic_int stop_polling;
static atomic_int channels_opened, channels_closed;
static struct channel_state *channel_list;  /* the polling thread's own */

static int on_data(ssh_session s, ssh_channel channel, void *data, uint32_t len, int is_stderr, void *user) {
    (void)s; (void)is_stderr; (void)user;
    uint32_t window = ssh_channel_window_size(channel);
    uint32_t n = len < window ? len : window;
    if (n == 0) return 0;
    int written = ssh_channel_write(channel, data, n);
    return written < 0 ? (int)len : written;
}

static void on_eof(ssh_session s, ssh_channel channel, void *user) {
    (void)s; (void)channel;
    ((struct channel_state *)user)->eof = 1;
}

static void on_close(ssh_session s, ssh_channel channel, void *user) {
    (void)s; (void)channel;
    ((struct channel_state *)user)->closed = 1;
}

static int on_message(ssh_session s, ssh_message message, void *user) {
    (void)s; (void)user;
    if (ssh_message_type(message) != SSH_REQUEST_CHANNEL_OPEN ||
        ssh_message_subtype(message) != SSH_CHANNEL_FORWARDED_STREAMLOCAL) {
        error("unexpected message type %d subtype %d", ssh_message_type(message), ssh_message_subtype(message));
        return 1;  /* libssh refuses it */
    }
    ssh_channel channel = ssh_message_channel_request_open_reply_accept(message);
    if (!channel) {
        error("accepting a forwarded channel: %s", ssh_get_error(s));
        return 0;
    }
    struct channel_state *c = calloc(1, sizeof *c);
    c->channel = channel;
    c->callbacks.userdata = c;
    c->callbacks.channel_data_function = on_data;
    c->callbacks.channel_eof_function = on_eof;
    c->callbacks.channel_close_function = on_close;
    ssh_callbacks_init(&c->callbacks);
    ssh_set_channel_callbacks(channel, &c->callbacks);
    c->next = channel_list;
    channel_list = c;
    atomic_fetch_add(&channels_opened, 1);
    return 0;
}

/* Between polls: EOF answered with EOF, closed channels closed and freed (never in a callback). */
static void tend_channels(void) {
    struct channel_state **link = &channel_list;
    while (*link) {
        struct channel_state *c = *link;
        if (c->eof && !c->closed) {
            ssh_channel_send_eof(c->channel);
            c->eof = 0;
        }
        if (c->closed) {
            ssh_channel_close(c->channel);
            ssh_channel_free(c->channel);
            *link = c->next;
            free(c);
            atomic_fetch_add(&channels_closed, 1);
            continue;
        }
        link = &c->next;
    }
}

static void *poller(void *unused) {
    (void)unused;
    double next_check = now() + 0.5;
    while (!atomic_load(&stop_polling)) {
        ssh_event_dopoll(event, 100);
        tend_channels();
        if (now() > next_check) {
            next_check = now() + 0.5;
            for (int i = 0; i < opt.sessions; i++) {
                if (sessions[i] && (ssh_get_status(sessions[i]) & (SSH_CLOSED | SSH_CLOSED_ERROR))) {
                    error("session %d: closed by the server: %s", i, ssh_get_error(sessions[i]));
                    ssh_event_remove_session(event, sessions[i]);
                    ssh_free(sessions[i]);
                    sessions[i] = NULL;
                }
            }
        }
    }
    return NULL;
}

/* ---- phase 3: connections to the forwarded sockets on the server's side ---- */

enum { CONNECTING, WAITING_ECHO, HELD, FAILED };

struct connection {
    int fd, state, got;
    double started;
};

static unsigned char pattern(int connection, int offset) { return (unsigned char)(connection * 131 + offset * 7 + 1); }

static int start_connection(struct connection *conns, int index, int epfd, unsigned char *buf) {
    struct connection *c = &conns[index];
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    socket_path(sa.sun_path, sizeof sa.sun_path, sessions_up[index % sessions_up_count]);
    const char *path = sa.sun_path;
    c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) { error("connection %d: socket: %s", index, strerror(errno)); c->state = FAILED; return -1; }
    c->started = now();
    if (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        int e = errno;
        close(c->fd);
        c->fd = -1;
        if (e == EAGAIN) return 1;  /* the listener's backlog is full: again later */
        error("connection %d: connect %s: %s", index, path, strerror(e));
        c->state = FAILED;
        return -1;
    }
    for (int i = 0; i < opt.bytes; i++) buf[i] = pattern(index, i);
    ssize_t w = write(c->fd, buf, (size_t)opt.bytes);  /* a fresh Unix socket takes 1 KiB at once */
    if (w != opt.bytes) {
        error("connection %d: write: %zd of %d bytes: %s", index, w, opt.bytes, strerror(errno));
        c->state = FAILED;
        return -1;
    }
    c->state = WAITING_ECHO;
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)index};
    epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev);
    return 0;
}

/* Reads the echo; returns 1 once the connection is complete (held or failed). */
static int read_echo(struct connection *conns, int index, int epfd, unsigned char *buf) {
    struct connection *c = &conns[index];
    ssize_t r = read(c->fd, buf, (size_t)(opt.bytes - c->got));
    if (r < 0 && (errno == EAGAIN || errno == EINTR)) return 0;
    if (r <= 0) {
        error("connection %d: %s after %d of %d echoed bytes", index, r == 0 ? "end of stream" : strerror(errno),
              c->got, opt.bytes);
        c->state = FAILED;
    } else {
        for (ssize_t i = 0; i < r; i++)
            if (buf[i] != pattern(index, c->got + (int)i)) {
                error("connection %d: echoed byte %d differs", index, c->got + (int)i);
                c->state = FAILED;
                break;
            }
        if (c->state != FAILED) {
            c->got += (int)r;
            if (c->got < opt.bytes) return 0;
            c->state = HELD;
        }
    }
    epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
    if (c->state == FAILED) {
        close(c->fd);
        c->fd = -1;
    }
    return 1;
}

static const char *stopped_connecting = "";  /* why phase 3 ended early: "memory", "stalled", "deadline" */

/* Returns the connections held; *attempted says how many were started. */
static int run_connections(struct connection *conns, double deadline, int *attempted) {
    int epfd = epoll_create1(EPOLL_CLOEXEC);
    unsigned char *buf = malloc((size_t)opt.bytes);
    int next = 0, in_flight = 0, held = 0, limit = sessions_up_count ? opt.connections : 0;
    double progress = now();
    struct epoll_event events[256];
    while ((next < limit || in_flight > 0) && now() < deadline) {
        while (next < limit && in_flight < opt.wave) {
            if (next % 64 == 0 && memory_low()) {
                limit = next;
                stopped_connecting = "memory";
                break;
            }
            int rc = start_connection(conns, next, epfd, buf);
            if (rc > 0) break;  /* backlog full: wait for echoes first */
            next++;
            if (rc == 0) in_flight++;
        }
        int n = epoll_wait(epfd, events, 256, in_flight ? 100 : 1);
        if (n > 0) progress = now();
        for (int i = 0; i < n; i++)
            if (read_echo(conns, (int)events[i].data.u32, epfd, buf)) {
                in_flight--;
                if (conns[events[i].data.u32].state == HELD) held++;
            }
        if (opt.stall > 0 && in_flight > 0 && now() - progress > opt.stall) {
            stopped_connecting = "stalled";
            break;
        }
    }
    if (!*stopped_connecting && (next < limit || in_flight > 0)) stopped_connecting = "deadline";
    if (next < limit && !strcmp(stopped_connecting, "deadline"))
        error("%d connections not started before the deadline", limit - next);
    for (int i = 0; i < next; i++)  /* the ones never started are not errors when the reserve stopped them */
        if (conns[i].state == CONNECTING || conns[i].state == WAITING_ECHO) {
            error("connection %d: no echo before the %s", i,
                  !strcmp(stopped_connecting, "stalled") ? "stall timeout" : "deadline");
            conns[i].state = FAILED;
        }
    free(buf);
    close(epfd);
    *attempted = next;
    return held;
}

/* ---- the run ---- */

static void usage(void) {
    fprintf(stderr, "usage: loadgen --port P --key FILE --known-hosts FILE --cipher C --socket-dir DIR "
                    "--sessions S --connections N [--user U] [--bytes B] [--wave W] [--timeout SECONDS] "
                    "[--listen unix|none] [--min-available-mib M] [--stall SECONDS]\n");
    exit(2);
}

static void parse(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        if (i + 1 >= argc) usage();
        const char *name = argv[i], *value = argv[++i];
        if (!strcmp(name, "--port")) opt.port = atoi(value);
        else if (!strcmp(name, "--user")) opt.user = value;
        else if (!strcmp(name, "--key")) opt.key = value;
        else if (!strcmp(name, "--known-hosts")) opt.known_hosts = value;
        else if (!strcmp(name, "--cipher")) opt.cipher = value;
        else if (!strcmp(name, "--socket-dir")) opt.socket_dir = value;
        else if (!strcmp(name, "--sessions")) opt.sessions = atoi(value);
        else if (!strcmp(name, "--connections")) opt.connections = atoi(value);
        else if (!strcmp(name, "--bytes")) opt.bytes = atoi(value);
        else if (!strcmp(name, "--wave")) opt.wave = atoi(value);
        else if (!strcmp(name, "--timeout")) opt.timeout = atof(value);
        else if (!strcmp(name, "--stall")) opt.stall = atof(value);
        else if (!strcmp(name, "--min-available-mib")) opt.min_available_mib = atol(value);
        else if (!strcmp(name, "--listen")) {
            if (!strcmp(value, "unix")) opt.listen = 1;
            else if (!strcmp(value, "none")) opt.listen = 0;
            else usage();
        }
        else usage();
    }
    if (!opt.port || !opt.key || !opt.known_hosts || !opt.cipher || !opt.socket_dir || opt.sessions <= 0 ||
        opt.connections < 0 || opt.bytes <= 0 || opt.wave <= 0 || (opt.connections > 0 && !opt.listen))
        usage();
}

static void phase(const char *name, double seconds, const char *more) {
    printf("{\"phase\":\"%s\",\"seconds\":%.3f,\"errors\":%d%s}\n", name, seconds, atomic_load(&errors), more);
    fflush(stdout);
}

int main(int argc, char **argv) {
    parse(argc, argv);
    struct rlimit nofile;
    getrlimit(RLIMIT_NOFILE, &nofile);
    nofile.rlim_cur = nofile.rlim_max;
    setrlimit(RLIMIT_NOFILE, &nofile);
    signal(SIGPIPE, SIG_IGN);
    ssh_init();
    double started = now(), deadline = started + opt.timeout;
    char more[2600];

    /* 1. sessions */
    sessions = calloc((size_t)opt.sessions, sizeof *sessions);
    int openers = opt.wave < opt.sessions ? opt.wave : opt.sessions;
    pthread_t *threads = calloc((size_t)openers, sizeof *threads);
    for (int i = 0; i < openers; i++) pthread_create(&threads[i], NULL, session_opener, NULL);
    for (int i = 0; i < openers; i++) pthread_join(threads[i], NULL);
    free(threads);
    double t_sessions = now();
    sessions_up = calloc((size_t)opt.sessions, sizeof *sessions_up);
    for (int i = 0; i < opt.sessions; i++)
        if (sessions[i]) sessions_up[sessions_up_count++] = i;
    int attempted_sessions = atomic_load(&next_session) < opt.sessions ? atomic_load(&next_session) : opt.sessions;
    snprintf(more, sizeof more, ",\"sessions\":%d,\"attempted\":%d,\"ok\":%d,\"stopped\":\"%s\"", opt.sessions,
             attempted_sessions, sessions_up_count, attempted_sessions < opt.sessions ? "memory" : "");
    phase("sessions", t_sessions - started, more);
    if (!sessions_up_count && opt.connections > 0) error("no session is up: no connection can be made");

    /* 2. the SSH side goes non-blocking under one event */
    event = ssh_event_new();
    for (int i = 0; i < opt.sessions; i++) {
        if (!sessions[i]) continue;
        ssh_set_blocking(sessions[i], 0);
        ssh_set_message_callback(sessions[i], on_message, NULL);
        ssh_event_add_session(event, sessions[i]);
    }
    pthread_t polling;
    pthread_create(&polling, NULL, poller, NULL);

    /* 3. connections, all held */
    struct connection *conns = calloc((size_t)opt.connections + 1, sizeof *conns);
    for (int i = 0; i < opt.connections; i++) conns[i].fd = -1;
    int attempted_connections = 0;
    int held = run_connections(conns, deadline, &attempted_connections);
    double t_held = now();
    snprintf(more, sizeof more, ",\"connections\":%d,\"attempted\":%d,\"held\":%d,\"channels_open\":%d,"
             "\"sessions_ok\":%d,\"stopped\":\"%s\",\"mem_available_mib\":%ld", opt.connections,
             attempted_connections, held, atomic_load(&channels_opened) - atomic_load(&channels_closed),
             sessions_up_count, stopped_connecting, available_mib());
    phase("held", t_held - t_sessions, more);
    char line[64];
    if (!fgets(line, sizeof line, stdin)) { /* no harness on stdin: go straight on */ }

    /* 4. close everything */
    double t_close = now();
    for (int i = 0; i < opt.connections; i++)
        if (conns[i].fd >= 0) close(conns[i].fd);
    while (atomic_load(&channels_closed) < atomic_load(&channels_opened) && now() < deadline)
        usleep(10000);
    int still_open = atomic_load(&channels_opened) - atomic_load(&channels_closed);
    if (still_open) error("%d channels still open on the SSH side after every connection closed", still_open);
    if (atomic_load(&channels_opened) != held)
        error("%d forwarded channels for %d echoed connections", atomic_load(&channels_opened), held);
    double t_closed = now();
    atomic_store(&stop_polling, 1);
    pthread_join(polling, NULL);
    for (int i = 0; i < opt.sessions; i++) {
        if (!sessions[i]) continue;
        ssh_event_remove_session(event, sessions[i]);
        ssh_disconnect(sessions[i]);
        ssh_free(sessions[i]);
    }
    ssh_event_free(event);
    int n = snprintf(more, sizeof more, ",\"channels\":%d,\"held\":%d,\"sessions_ok\":%d,\"close_seconds\":%.3f,"
                     "\"error_samples\":[", atomic_load(&channels_opened), held, sessions_up_count, t_closed - t_close);
    for (int i = 0; i < error_sample_count && n < (int)sizeof more - 210; i++)
        n += snprintf(more + n, sizeof more - (size_t)n, "%s\"%s\"", i ? "," : "", error_samples[i]);
    snprintf(more + n, sizeof more - (size_t)n, "]");
    phase("done", now() - started, more);
    ssh_finalize();
    return atomic_load(&errors) ? 1 : 0;
}
