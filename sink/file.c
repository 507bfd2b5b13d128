/* file.c - the "file" sink backend, for demos and debugging: url is a directory, and
 * every profile becomes <url>/<service_name>/<__name__>-<until_ms>-<id>.pb.gz (the body
 * as stored; ".pb" when the body is not gzip) plus a sidecar <...>-<until_ms>-<id>.json
 * with {"labels":{...merged...},"from_ns":N,"until_ns":N,"tenant":S|null,"id":N}.
 *
 * Encode is pure and carries one profile: payload url = the final profile path, body =
 * the profile bytes, headers[0] = the sidecar JSON text (n_headers = 1; it is not an HTTP
 * header). Path components are sanitised: bytes other than [A-Za-z0-9._-] become '_', an
 * empty component becomes "unspecified", "." and ".." become "_" and "__", and a
 * component is cut at 100 bytes.
 *
 * Send does the (blocking, small) file I/O at once: mkdir -p, then for the sidecar and
 * then the profile, write a temporary file in the same directory, fsync, rename over the
 * final name, and fsync the directory; the result is delivered by a zero-delay libevent
 * timer so done never runs inside send. Any I/O error (ENOSPC, EACCES, ENOTDIR, ...) is
 * RETRY with the errno text. */
#include "sink/backend.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/errmsg.h"
#include "core/log.h"

#define COMPONENT_MAX 100

static void *file_create(const struct pg_cfg_remote *cfg, const struct pg_labels *global_external,
                         struct pg_curlm *cm, struct event_base *base, char *err, size_t errlen)
{
    return pg_sink_inst_create("sink.file", cfg, global_external, cm, base, 0, err, errlen);
}

/* Writes the sanitised form of s (see the file comment) into out (COMPONENT_MAX + 1). */
static void sanitize(const char *s, char *out)
{
    size_t n = 0;
    for (; s && s[n] && n < COMPONENT_MAX; n++) {
        char c = s[n];
        int ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                 c == '.' || c == '_' || c == '-';
        out[n] = ok ? c : '_';
    }
    out[n] = '\0';
    if (n == 0)
        strcpy(out, "unspecified");
    else if (strcmp(out, ".") == 0)
        strcpy(out, "_");
    else if (strcmp(out, "..") == 0)
        strcpy(out, "__");
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    if (a % b < 0)
        q--;
    return q;
}

static char *sidecar_json(const struct pg_labels *ls, const struct pg_buf_item *it)
{
    json_t *root = json_object();
    json_t *labels = json_object();
    char *text = NULL;
    if (!root || !labels) {
        json_decref(labels);
        goto done;
    }
    if (json_object_set_new(root, "labels", labels) != 0)
        goto done;
    for (size_t i = 0; i < ls->n; i++) {
        json_t *v = json_stringn(ls->v[i].value, strlen(ls->v[i].value));
        if (!v || json_object_set_new(labels, ls->v[i].name, v) != 0)
            goto done;
    }
    if (json_object_set_new(root, "from_ns", json_integer(it->from_ns)) != 0 ||
        json_object_set_new(root, "until_ns", json_integer(it->until_ns)) != 0 ||
        json_object_set_new(root, "tenant", it->tenant ? json_string(it->tenant) : json_null()) !=
            0 ||
        json_object_set_new(root, "id", json_integer(it->id)) != 0)
        goto done;
    text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
done:
    json_decref(root);
    return text;
}

static int file_encode(void *inst, const struct pg_buf_item *items, size_t n,
                       struct pg_sink_payload *out, char *err, size_t errlen)
{
    struct pg_sink_inst *in = inst;
    struct pg_labels ls;
    if (pg_sink_encode_begin(in, items, n, out, &ls, err, errlen) != 0)
        return -1;
    const struct pg_buf_item *it = &items[0];
    char svc[COMPONENT_MAX + 1], name[COMPONENT_MAX + 1];
    sanitize(pg_labels_get(&ls, "service_name"), svc);
    const char *pname = pg_labels_get(&ls, "__name__");
    sanitize(pname ? pname : it->name, name);
    int gz = it->len >= 2 && it->body[0] == 0x1f && it->body[1] == 0x8b;

    size_t dl = pg_sink_url_base_len(in->cfg->url, 1);
    const char *sep = in->cfg->url[dl - 1] == '/' ? "" : "/";
    char *path;
    if (asprintf(&path, "%.*s%s%s/%s-%" PRId64 "-%" PRId64 "%s", (int)dl, in->cfg->url, sep, svc,
                 name, floor_div(it->until_ns, 1000000), it->id, gz ? ".pb.gz" : ".pb") < 0)
        path = NULL;
    int rc = pg_sink_payload_one(out, it, path, sidecar_json(&ls, it));
    if (rc != 0)
        pg_errmsg_set(err, errlen, "out of memory");
    pg_labels_reset(&ls);
    return rc;
}

/* Creates dir and its parents. Returns 0 or -1 with errno. */
static int mkdirs(char *dir)
{
    for (char *p = dir + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        int r = mkdir(dir, 0755);
        int e = errno;
        *p = '/';
        if (r != 0 && e != EEXIST) {
            errno = e;
            return -1;
        }
    }
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return -1;
    struct stat st;
    if (stat(dir, &st) != 0)
        return -1;
    if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return -1;
    }
    return 0;
}

/* Writes data to path atomically (temp file, fsync, rename). Returns 0 or -1 with
 * errno. */
static int write_atomic(const char *path, const void *data, size_t len)
{
    char *tmp = NULL;
    if (asprintf(&tmp, "%s.tmp.XXXXXX", path) < 0) {
        errno = ENOMEM;
        return -1;
    }
    int fd = mkstemp(tmp);
    if (fd < 0) {
        int e = errno;
        free(tmp);
        errno = e;
        return -1;
    }
    const uint8_t *p = data;
    size_t off = 0;
    int e = 0;
    while (off < len) {
        ssize_t w = write(fd, p + off, len - off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            e = errno;
            break;
        }
        off += (size_t)w;
    }
    if (!e && fchmod(fd, 0644) != 0)
        e = errno;
    if (!e && fsync(fd) != 0)
        e = errno;
    if (close(fd) != 0 && !e)
        e = errno;
    if (!e && rename(tmp, path) != 0)
        e = errno;
    if (e)
        unlink(tmp);
    free(tmp);
    errno = e;
    return e ? -1 : 0;
}

static void fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd); /* best effort: the files themselves are already synced */
        close(fd);
    }
}

/* One send: its result waits for the zero-delay timer. */
struct file_send {
    struct event *ev;
    pg_sink_done_fn done;
    void *ud;
    enum pg_sink_result r;
    char msg[512];
};

static void file_send_fire(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct file_send *s = arg;
    event_free(s->ev);
    s->done(s->ud, s->r, 0, -1, s->r == PG_SINK_OK ? NULL : s->msg);
    free(s);
}

/* Writes both files of p. Returns 0, or -1 with a reason in msg. */
static int write_files(const struct pg_sink_payload *p, char *msg, size_t msglen)
{
    char *dir = strdup(p->url), *json = NULL;
    int rc = -1;
    if (!dir) {
        snprintf(msg, msglen, "out of memory");
        return -1;
    }
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir)
        *slash = '\0';
    else if (slash)
        dir[1] = '\0';
    size_t ul = strlen(p->url);
    size_t stem = ul;
    if (ul > 6 && strcmp(p->url + ul - 6, ".pb.gz") == 0)
        stem = ul - 6;
    else if (ul > 3 && strcmp(p->url + ul - 3, ".pb") == 0)
        stem = ul - 3;
    if (asprintf(&json, "%.*s.json", (int)stem, p->url) < 0) {
        json = NULL;
        snprintf(msg, msglen, "out of memory");
        goto done;
    }
    if (mkdirs(dir) != 0) {
        snprintf(msg, msglen, "mkdir %s: %s", dir, strerror(errno));
        goto done;
    }
    const char *side = p->n_headers > 0 ? p->headers[0] : "{}";
    if (write_atomic(json, side, strlen(side)) != 0) {
        snprintf(msg, msglen, "write %s: %s", json, strerror(errno));
        goto done;
    }
    if (write_atomic(p->url, p->body, p->len) != 0) {
        snprintf(msg, msglen, "write %s: %s", p->url, strerror(errno));
        goto done;
    }
    fsync_dir(dir);
    rc = 0;
done:
    free(dir);
    free(json);
    return rc;
}

static void *file_send(void *inst, const struct pg_sink_payload *p, const char *tenant,
                       pg_sink_done_fn done, void *ud)
{
    struct pg_sink_inst *in = inst;
    (void)tenant; /* recorded in the sidecar at encode time */
    struct file_send *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->done = done;
    s->ud = ud;
    s->ev = evtimer_new(in->base, file_send_fire, s);
    if (!s->ev) {
        free(s);
        return NULL;
    }
    if (write_files(p, s->msg, sizeof(s->msg)) == 0) {
        s->r = PG_SINK_OK;
    } else {
        s->r = PG_SINK_RETRY;
        pg_log_warn("sink.file", "remote=%s msg=\"%s\"", in->cfg->name ? in->cfg->name : "",
                    s->msg);
    }
    struct timeval zero = {0, 0};
    if (evtimer_add(s->ev, &zero) != 0) {
        event_free(s->ev);
        free(s);
        return NULL;
    }
    return s;
}

static void file_cancel(void *inst, void *handle)
{
    (void)inst;
    struct file_send *s = handle;
    if (!s)
        return;
    event_free(s->ev);
    free(s);
}

const struct pg_sink_backend_type pg_sink_file = {
    .name = "file",
    .create = file_create,
    .encode = file_encode,
    .send = file_send,
    .cancel = file_cancel,
    .destroy = pg_sink_inst_destroy,
};
