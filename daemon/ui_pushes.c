/* ui_pushes.c - the receiver's last push per series for the web UI (see ui_pushes.h). A
 * plain array searched linearly: max_entries is small (256 in the daemon). */
#include "daemon/ui_pushes.h"

#include <stdlib.h>
#include <string.h>

#include "core/labels.h"

struct pg_ui_pushes {
    struct pg_ui_push *v;
    size_t n, max_entries, max_bytes, used;
};

struct pg_ui_pushes *pg_ui_pushes_new(size_t max_entries, size_t max_bytes)
{
    struct pg_ui_pushes *p = calloc(1, sizeof(*p));
    if (p && !(p->v = calloc(max_entries ? max_entries : 1, sizeof(*p->v)))) {
        free(p);
        return NULL;
    }
    if (p) {
        p->max_entries = max_entries ? max_entries : 1;
        p->max_bytes = max_bytes;
    }
    return p;
}

static void entry_clear(struct pg_ui_pushes *p, struct pg_ui_push *e)
{
    if (e->body)
        p->used -= e->len;
    free(e->service);
    free(e->name);
    free(e->labels);
    free(e->body);
    memset(e, 0, sizeof(*e));
}

const struct pg_ui_push *pg_ui_pushes_find(const struct pg_ui_pushes *p, const char *service,
                                           const char *name)
{
    for (size_t i = 0; p && i < p->n; i++)
        if (!strcmp(p->v[i].service, service) && !strcmp(p->v[i].name, name))
            return &p->v[i];
    return NULL;
}

/* The entry for (service, name): the existing one, a new one, or the oldest reused. */
static struct pg_ui_push *slot(struct pg_ui_pushes *p, const char *service, const char *name)
{
    struct pg_ui_push *e = (struct pg_ui_push *)pg_ui_pushes_find(p, service, name);
    if (e)
        return e;
    if (p->n < p->max_entries)
        e = &p->v[p->n++];
    else {
        e = &p->v[0];
        for (size_t i = 1; i < p->n; i++)
            if (p->v[i].time_ms < e->time_ms)
                e = &p->v[i];
        entry_clear(p, e);
    }
    e->service = strdup(service);
    e->name = strdup(name);
    if (!e->service || !e->name) {
        /* out of memory: the slot goes away (the last entry moves into it), so that no
         * counted entry is left without names */
        entry_clear(p, e);
        *e = p->v[--p->n];
        memset(&p->v[p->n], 0, sizeof(*e));
        return NULL;
    }
    return e;
}

void pg_ui_pushes_put(struct pg_ui_pushes *p, const struct pg_labels *labels, const uint8_t *body,
                      size_t len, int64_t now_ms)
{
    const char *service = pg_labels_get(labels, "service_name");
    const char *name = pg_labels_get(labels, "__name__");
    struct pg_ui_push *e = slot(p, service ? service : "", name ? name : "");
    if (!e)
        return;
    if (e->body)
        p->used -= e->len;
    free(e->body);
    free(e->labels);
    e->body = NULL;
    e->len = 0;
    e->labels = pg_labels_format(labels);
    e->time_ms = now_ms;
    e->count++;
    if (len <= p->max_bytes - p->used && (e->body = malloc(len ? len : 1))) {
        memcpy(e->body, body, len);
        e->len = len;
        p->used += len;
    }
}

size_t pg_ui_pushes_count(const struct pg_ui_pushes *p)
{
    return p ? p->n : 0;
}

const struct pg_ui_push *pg_ui_pushes_at(const struct pg_ui_pushes *p, size_t i)
{
    return &p->v[i];
}

void pg_ui_pushes_free(struct pg_ui_pushes *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++)
        entry_clear(p, &p->v[i]);
    free(p->v);
    free(p);
}
