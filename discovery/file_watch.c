/* file_watch.c - the "file" discovery mechanism (Prometheus file_sd_configs).
 *
 * Loads one file_sd_configs entry (struct pg_cfg_file_sd, file_sd.h). Reads every file matching the
 * config's patterns (via pg_sd_file_read), then re-reads on inotify events in the patterns'
 * directories and on a refresh_interval timer. Each refresh emits the groups of every file plus
 * empty groups for sources that disappeared (a file deleted or holding fewer groups). A file that
 * fails to parse keeps its previous groups. The instance owns the inotify fd and its event. */
#include <errno.h>
#include <event2/event.h>
#include <glob.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "yamlcfg/load.h"
#include "core/log.h"
#include "discovery/file_sd.h"
#include "discovery/sd.h"

/* Returns 1 when path ends in an extension file_sd reads. */
static int pg_sd_file_ext_ok(const char *p)
{
    size_t n = strlen(p);
    return (n > 5 && !strcmp(p + n - 5, ".json")) || (n > 4 && !strcmp(p + n - 4, ".yml")) ||
           (n > 5 && !strcmp(p + n - 5, ".yaml"));
}

/* Loads one file_sd_configs entry (Prometheus discovery/file: SDConfig). */
static void *pg_sd_file_config_load(struct pg_cfg_ld *l, yaml_node_t *g)
{
    static const char *const k[] = {"files", "refresh_interval", NULL};
    struct pg_cfg_file_sd *f = calloc(1, sizeof(*f));
    if (!f)
        return NULL;
    f->refresh_interval_ms = 5 * 60 * 1000;
    if (pg_yaml_check_keys(l->y, g, k, "file.SDConfig", l->errs) < 0)
        return f;
    pg_cfg_get_strv(l, g, "files", 1, &f->files, &f->n_files);
    /* relative patterns are the config file's directory's, as in Prometheus */
    for (size_t j = 0; j < f->n_files; j++)
        pg_cfg_resolve_in_place(l, g, &f->files[j]);
    pg_cfg_get_dur(l, g, "refresh_interval", &f->refresh_interval_ms);
    if (f->n_files == 0)
        pg_yaml_error(l->y, g, l->errs,
                      "file service discovery config must contain at "
                      "least one path name");
    for (size_t j = 0; j < f->n_files; j++)
        if (!pg_sd_file_ext_ok(f->files[j]))
            pg_yaml_error(l->y, g, l->errs,
                          "path name %s is not valid for file discovery (must end in "
                          ".json, .yml or .yaml)",
                          f->files[j]);
    return f;
}

static void pg_sd_file_config_free(void *cfg)
{
    struct pg_cfg_file_sd *f = cfg;
    if (!f)
        return;
    pg_cfg_strv_free(f->files, f->n_files);
    free(f);
}

struct pg_sd_file_entry {
    char *path;
    struct pg_tgroup *groups;
    size_t n;
};

struct pg_sd_file_inst {
    const struct pg_cfg_file_sd *cfg;
    char *job;
    struct event_base *base;
    pg_sd_emit_fn emit;
    void *ud;
    int ifd;               /* inotify fd, -1 when none */
    struct event *ev_in;   /* owned: EV_READ on ifd */
    struct event *ev_tick; /* owned: refresh timer */
    struct pg_sd_file_entry *files;
    size_t n_files;
};

static void pg_sd_file_entries_free(struct pg_sd_file_entry *e, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(e[i].path);
        pg_tgroup_free_array(e[i].groups, e[i].n);
    }
    free(e);
}

static struct pg_sd_file_entry *pg_sd_file_find(struct pg_sd_file_entry *e, size_t n,
                                                const char *path)
{
    for (size_t i = 0; i < n; i++)
        if (e[i].path && strcmp(e[i].path, path) == 0)
            return &e[i];
    return NULL;
}

static int pg_sd_file_has_source(const struct pg_sd_file_entry *e, size_t n, const char *src)
{
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < e[i].n; j++)
            if (strcmp(e[i].groups[j].source, src) == 0)
                return 1;
    return 0;
}

/* Appends to the new entry list ne the entry of one matched file: its groups, or when it cannot
 * be read the groups it had in f->files (moved over), or nothing when it had none. Returns 0 or
 * -1 on OOM. */
static int pg_sd_file_add(struct pg_sd_file_inst *f, const char *path, struct pg_sd_file_entry **ne,
                          size_t *nn, size_t *cap)
{
    if (pg_sd_file_find(*ne, *nn, path))
        return 0;
    if (*nn == *cap) {
        size_t nc = *cap ? *cap * 2 : 8;
        struct pg_sd_file_entry *t = realloc(*ne, nc * sizeof(*t));
        if (!t)
            return -1;
        *ne = t;
        *cap = nc;
    }
    struct pg_sd_file_entry *e = &(*ne)[*nn];
    memset(e, 0, sizeof(*e));
    char err[256];
    if (pg_sd_file_read(path, &e->groups, &e->n, err, sizeof(err)) < 0) {
        struct pg_sd_file_entry *old = pg_sd_file_find(f->files, f->n_files, path);
        pg_log_warn("sd.file",
                    "job=%s msg=\"cannot read file, keeping previous "
                    "groups\" path=%s err=\"%s\"",
                    f->job, path, err);
        if (!old)
            return 0;
        /* keep the previous groups: move them over */
        e->groups = old->groups;
        e->n = old->n;
        old->groups = NULL;
        old->n = 0;
    }
    e->path = strdup(path);
    (*nn)++;
    return e->path ? 0 : -1;
}

/* Reads every file matching the config's patterns into a new entry list (*ne, *nn), each file
 * once. Returns 0 or -1 on OOM (the entries read so far are left in *ne for the caller). */
static int pg_sd_file_scan(struct pg_sd_file_inst *f, struct pg_sd_file_entry **ne, size_t *nn)
{
    size_t cap = 0;
    for (size_t p = 0; p < f->cfg->n_files; p++) {
        glob_t gl;
        memset(&gl, 0, sizeof(gl));
        int rc = glob(f->cfg->files[p], 0, NULL, &gl);
        if (rc == GLOB_NOMATCH) {
            globfree(&gl);
            continue;
        }
        if (rc != 0) {
            globfree(&gl);
            pg_log_warn("sd.file", "job=%s msg=\"glob failed\" pattern=%s", f->job,
                        f->cfg->files[p]);
            continue;
        }
        for (size_t i = 0; i < gl.gl_pathc; i++) {
            if (pg_sd_file_add(f, gl.gl_pathv[i], ne, nn, &cap) < 0) {
                globfree(&gl);
                return -1;
            }
        }
        globfree(&gl);
    }
    return 0;
}

/* Emits all groups of the new entries ne plus empty groups for the sources of f->files that
 * vanished, after making ne the current entries. Returns 0 or -1 on OOM (nothing emitted,
 * ne not taken). */
static int pg_sd_file_emit(struct pg_sd_file_inst *f, struct pg_sd_file_entry *ne, size_t nn)
{
    size_t total = 0, gone = 0;
    for (size_t i = 0; i < nn; i++)
        total += ne[i].n;
    for (size_t i = 0; i < f->n_files; i++)
        for (size_t j = 0; j < f->files[i].n; j++)
            if (!pg_sd_file_has_source(ne, nn, f->files[i].groups[j].source))
                gone++;
    struct pg_tgroup *out = calloc(total + gone + 1, sizeof(*out));
    if (!out)
        return -1;
    size_t k = 0;
    for (size_t i = 0; i < nn; i++)
        for (size_t j = 0; j < ne[i].n; j++)
            out[k++] = ne[i].groups[j]; /* shallow: borrowed for the emit */
    size_t first_empty = k;
    for (size_t i = 0; i < f->n_files; i++)
        for (size_t j = 0; j < f->files[i].n; j++) {
            const char *src = f->files[i].groups[j].source;
            if (!pg_sd_file_has_source(ne, nn, src)) {
                if (pg_tgroup_init(&out[k], src) < 0) {
                    for (size_t x = first_empty; x < k; x++)
                        pg_tgroup_reset(&out[x]);
                    free(out);
                    return -1;
                }
                k++;
            }
        }
    pg_sd_file_entries_free(f->files, f->n_files);
    f->files = ne;
    f->n_files = nn;
    f->emit(f->ud, out, k);
    for (size_t x = first_empty; x < k; x++)
        pg_tgroup_reset(&out[x]);
    free(out);
    return 0;
}

/* Re-reads all files and emits. Returns 0 or -1 on OOM (old state kept). */
static int pg_sd_file_refresh(struct pg_sd_file_inst *f)
{
    struct pg_sd_file_entry *ne = NULL;
    size_t nn = 0;
    if (pg_sd_file_scan(f, &ne, &nn) == 0 && pg_sd_file_emit(f, ne, nn) == 0)
        return 0;
    /* groups moved out of f->files for failing files are lost here; acceptable on OOM */
    pg_sd_file_entries_free(ne, nn);
    pg_log_error("sd.file", "job=%s msg=\"out of memory during refresh\"", f->job);
    return -1;
}

static void *pg_sd_file_create(const void *cfg, const char *job)
{
    struct pg_sd_file_inst *f = calloc(1, sizeof(*f));
    if (!f)
        return NULL;
    f->cfg = cfg;
    f->ifd = -1;
    f->job = strdup(job ? job : "");
    if (!f->job) {
        free(f);
        return NULL;
    }
    return f;
}

static void pg_sd_file_on_inotify(evutil_socket_t fd, short what, void *arg)
{
    struct pg_sd_file_inst *f = arg;
    char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    (void)what;
    for (;;) { /* drain, then refresh once */
        ssize_t r = read(fd, buf, sizeof(buf));
        if (r <= 0)
            break;
    }
    pg_sd_file_refresh(f);
}

static void pg_sd_file_on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    pg_sd_file_refresh(arg);
}

/* Adds an inotify watch on the directory part of pattern (skipped when it has globs). */
static void pg_sd_file_watch_dir(struct pg_sd_file_inst *f, const char *pattern)
{
    char *dir = strdup(pattern);
    if (!dir)
        return;
    char *slash = strrchr(dir, '/');
    if (!slash)
        strcpy(dir, ".");
    else if (slash == dir)
        dir[1] = '\0';
    else
        *slash = '\0';
    if (strpbrk(dir, "*?[")) {
        pg_log_warn("sd.file",
                    "job=%s msg=\"directory pattern not watched, relying on "
                    "refresh_interval\" pattern=%s",
                    f->job, pattern);
    } else if (inotify_add_watch(f->ifd, dir,
                                 IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE |
                                     IN_MOVED_FROM) < 0) {
        pg_log_warn("sd.file", "job=%s msg=\"cannot watch directory\" dir=%s err=\"%s\"", f->job,
                    dir, strerror(errno));
    }
    free(dir);
}

static int pg_sd_file_start(void *inst, struct event_base *base, pg_sd_emit_fn emit, void *ud)
{
    struct pg_sd_file_inst *f = inst;
    f->base = base;
    f->emit = emit;
    f->ud = ud;
    f->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (f->ifd < 0) {
        pg_log_warn("sd.file",
                    "job=%s msg=\"inotify unavailable, relying on "
                    "refresh_interval\" err=\"%s\"",
                    f->job, strerror(errno));
    } else {
        for (size_t i = 0; i < f->cfg->n_files; i++)
            pg_sd_file_watch_dir(f, f->cfg->files[i]);
        f->ev_in = event_new(base, f->ifd, EV_READ | EV_PERSIST, pg_sd_file_on_inotify, f);
        if (!f->ev_in || event_add(f->ev_in, NULL) < 0)
            return -1;
    }
    int64_t ms = f->cfg->refresh_interval_ms > 0 ? f->cfg->refresh_interval_ms : 300000;
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000)};
    f->ev_tick = event_new(base, -1, EV_PERSIST, pg_sd_file_on_tick, f);
    if (!f->ev_tick || event_add(f->ev_tick, &tv) < 0)
        return -1;
    return pg_sd_file_refresh(f);
}

static void pg_sd_file_stop(void *inst)
{
    struct pg_sd_file_inst *f = inst;
    if (f->ev_tick) {
        event_free(f->ev_tick);
        f->ev_tick = NULL;
    }
    if (f->ev_in) { /* remove the event before closing its fd */
        event_free(f->ev_in);
        f->ev_in = NULL;
    }
    if (f->ifd >= 0) {
        close(f->ifd);
        f->ifd = -1;
    }
}

static void pg_sd_file_destroy(void *inst)
{
    struct pg_sd_file_inst *f = inst;
    if (!f)
        return;
    pg_sd_file_stop(f);
    pg_sd_file_entries_free(f->files, f->n_files);
    free(f->job);
    free(f);
}

const struct pg_sd_mechanism pg_sd_file = {
    .name = "file",
    .config_key = "file_sd_configs",
    .config_load = pg_sd_file_config_load,
    .config_free = pg_sd_file_config_free,
    .create = pg_sd_file_create,
    .start = pg_sd_file_start,
    .stop = pg_sd_file_stop,
    .destroy = pg_sd_file_destroy,
};
