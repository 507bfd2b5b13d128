/* curlm.c - libcurl's multi interface driven by one libevent loop.
 *
 * The pattern of curl's docs/examples/hiperfifo.c: curl tells us, through
 * CURLMOPT_SOCKETFUNCTION, which sockets to watch for what; each gets one persistent
 * libevent event (its struct pg_curlm_sock is attached to the socket with
 * curl_multi_assign). CURLMOPT_TIMERFUNCTION arms a single libevent timer. Both event
 * callbacks hand control back to curl with curl_multi_socket_action and then drain
 * CURLMSG_DONE messages, calling each transfer's done callback. Curl's own callbacks only
 * (re)arm events, so nothing completes re-entrantly inside pg_curlm_add or
 * pg_curlm_remove. Each added easy carries a struct pg_curlm_xfer in CURLOPT_PRIVATE;
 * the xfers and socket records are kept in lists so that destroy can free everything.
 * Idle easy handles are kept in a small stack (pool) for reuse, see curlm.h. */
#include "core/curlm.h"

#include <event2/event.h>
#include <stdlib.h>

#include "core/log.h"

struct pg_curlm_xfer {
    struct pg_curlm *m;
    CURL *easy;
    pg_curlm_done_fn done;
    void *ud;
    struct pg_curlm_xfer *prev, *next;
};

struct pg_curlm_sock {
    struct pg_curlm *m;
    curl_socket_t fd;
    struct event *ev;
    int what; /* CURL_POLL_* currently watched */
    struct pg_curlm_sock *prev, *next;
};

struct pg_curlm {
    struct event_base *base;
    CURLM *multi;
    struct event *timer;
    struct pg_curlm_xfer *xfers;
    struct pg_curlm_sock *socks;
    size_t running;
    CURL *pool[PG_CURLM_POOL_MAX]; /* idle handles, reset */
    size_t n_pool;
    void *ext; /* pg_curlm_set_ext's service and its free function */
    void (*ext_free)(void *);
};

static int curl_global_done;

static void check_done(struct pg_curlm *m)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(m->multi, &left)) != NULL) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        CURL *easy = msg->easy_handle;
        CURLcode result = msg->data.result;
        struct pg_curlm_xfer *x = NULL;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&x);
        /* msg is invalid after remove_handle; everything needed was copied above */
        curl_multi_remove_handle(m->multi, easy);
        curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
        if (x == NULL)
            continue;
        if (x->prev)
            x->prev->next = x->next;
        else
            m->xfers = x->next;
        if (x->next)
            x->next->prev = x->prev;
        m->running--;
        pg_curlm_done_fn done = x->done;
        void *ud = x->ud;
        free(x);
        /* may add, remove or free other transfers: curl drops pending messages of
         * removed handles, so the loop stays valid */
        done(ud, easy, result);
    }
}

static void on_event(evutil_socket_t fd, short what, void *arg)
{
    struct pg_curlm *m = arg;
    int action =
        ((what & EV_READ) ? CURL_CSELECT_IN : 0) | ((what & EV_WRITE) ? CURL_CSELECT_OUT : 0);
    int still;
    curl_multi_socket_action(m->multi, fd, action, &still);
    check_done(m);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct pg_curlm *m = arg;
    int still;
    curl_multi_socket_action(m->multi, CURL_SOCKET_TIMEOUT, 0, &still);
    check_done(m);
}

static void sock_free(struct pg_curlm *m, struct pg_curlm_sock *s)
{
    if (s->ev) {
        event_del(s->ev);
        event_free(s->ev);
    }
    if (s->prev)
        s->prev->next = s->next;
    else
        m->socks = s->next;
    if (s->next)
        s->next->prev = s->prev;
    free(s);
}

/* CURLMOPT_SOCKETFUNCTION: start, change or stop watching fd. */
static int on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    (void)easy;
    struct pg_curlm *m = userp;
    struct pg_curlm_sock *s = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (s) {
            curl_multi_assign(m->multi, fd, NULL);
            sock_free(m, s);
        }
        return 0;
    }
    if (s == NULL) {
        s = calloc(1, sizeof(*s));
        if (s == NULL)
            return -1;
        s->m = m;
        s->fd = fd;
        s->next = m->socks;
        if (m->socks)
            m->socks->prev = s;
        m->socks = s;
        curl_multi_assign(m->multi, fd, s);
    }
    if (s->ev && s->what == what)
        return 0;
    short kind = EV_PERSIST | ((what & CURL_POLL_IN) ? EV_READ : 0) |
                 ((what & CURL_POLL_OUT) ? EV_WRITE : 0);
    if (s->ev) {
        event_del(s->ev);
        event_free(s->ev);
    }
    s->ev = event_new(m->base, fd, kind, on_event, m);
    s->what = what;
    if (s->ev == NULL || event_add(s->ev, NULL) != 0)
        return -1;
    return 0;
}

/* CURLMOPT_TIMERFUNCTION: -1 stops the timer, else (re)arm it. Never acts directly. */
static int on_timer_change(CURLM *multi, long timeout_ms, void *userp)
{
    (void)multi;
    struct pg_curlm *m = userp;
    if (timeout_ms < 0) {
        evtimer_del(m->timer);
        return 0;
    }
    struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
    return evtimer_add(m->timer, &tv) == 0 ? 0 : -1;
}

struct pg_curlm *pg_curlm_create(struct event_base *base)
{
    if (!curl_global_done) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
            pg_log_error("curlm", "msg=\"curl_global_init failed\"");
            return NULL;
        }
        curl_global_done = 1;
    }
    struct pg_curlm *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return NULL;
    m->base = base;
    m->timer = evtimer_new(base, on_timer, m);
    m->multi = curl_multi_init();
    if (m->timer == NULL || m->multi == NULL) {
        pg_curlm_destroy(m);
        return NULL;
    }
    curl_multi_setopt(m->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(m->multi, CURLMOPT_SOCKETDATA, m);
    curl_multi_setopt(m->multi, CURLMOPT_TIMERFUNCTION, on_timer_change);
    curl_multi_setopt(m->multi, CURLMOPT_TIMERDATA, m);
    return m;
}

int pg_curlm_add(struct pg_curlm *m, CURL *easy, pg_curlm_done_fn done, void *ud)
{
    if (m == NULL || easy == NULL || done == NULL)
        return -1;
    struct pg_curlm_xfer *x = NULL;
    curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&x);
    if (x != NULL)
        return -1; /* already running here or in another driver */
    x = calloc(1, sizeof(*x));
    if (x == NULL)
        return -1;
    x->m = m;
    x->easy = easy;
    x->done = done;
    x->ud = ud;
    curl_easy_setopt(easy, CURLOPT_PRIVATE, x);
    if (curl_multi_add_handle(m->multi, easy) != CURLM_OK) {
        curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
        free(x);
        return -1;
    }
    x->next = m->xfers;
    if (m->xfers)
        m->xfers->prev = x;
    m->xfers = x;
    m->running++;
    return 0;
}

void pg_curlm_remove(struct pg_curlm *m, CURL *easy)
{
    if (m == NULL || easy == NULL)
        return;
    /* PRIVATE is cleared whenever a transfer leaves m, so a non-NULL value is live */
    struct pg_curlm_xfer *x = NULL;
    curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&x);
    if (x == NULL || x->m != m)
        return;
    curl_multi_remove_handle(m->multi, easy);
    curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
    if (x->prev)
        x->prev->next = x->next;
    else
        m->xfers = x->next;
    if (x->next)
        x->next->prev = x->prev;
    m->running--;
    free(x);
}

CURL *pg_curlm_easy_get(struct pg_curlm *m)
{
    if (m && m->n_pool > 0)
        return m->pool[--m->n_pool];
    return curl_easy_init();
}

void pg_curlm_easy_put(struct pg_curlm *m, CURL *easy)
{
    if (easy == NULL)
        return;
    if (m == NULL || m->n_pool == PG_CURLM_POOL_MAX) {
        curl_easy_cleanup(easy);
        return;
    }
    /* every option back to its default (CURLOPT_PRIVATE too, so pg_curlm_add accepts it) */
    curl_easy_reset(easy);
    /* libcurl 7.88 keeps the receive buffer of a transfer that failed early (a host name
     * that does not resolve) and then refuses CURLOPT_BUFFERSIZE on that handle for good:
     * such a handle would fail every later request that takes it from the pool */
    if (curl_easy_setopt(easy, CURLOPT_BUFFERSIZE, (long)CURL_MAX_WRITE_SIZE) != CURLE_OK) {
        curl_easy_cleanup(easy);
        return;
    }
    m->pool[m->n_pool++] = easy;
}

size_t pg_curlm_pooled(const struct pg_curlm *m)
{
    return m ? m->n_pool : 0;
}

size_t pg_curlm_running(const struct pg_curlm *m)
{
    return m ? m->running : 0;
}

void pg_curlm_destroy(struct pg_curlm *m)
{
    if (m == NULL)
        return;
    if (m->ext_free)
        m->ext_free(m->ext); /* first: it may still cancel its own transfers */
    m->ext = NULL;
    m->ext_free = NULL;
    while (m->xfers)
        pg_curlm_remove(m, m->xfers->easy);
    /* curl may still report socket removals while closing its cached connections */
    if (m->multi)
        curl_multi_cleanup(m->multi);
    while (m->n_pool > 0)
        curl_easy_cleanup(m->pool[--m->n_pool]);
    while (m->socks)
        sock_free(m, m->socks);
    if (m->timer)
        event_free(m->timer);
    free(m);
}

void *pg_curlm_ext(const struct pg_curlm *m)
{
    return m->ext;
}

void pg_curlm_set_ext(struct pg_curlm *m, void *ext, void (*free_fn)(void *))
{
    m->ext = ext;
    m->ext_free = free_fn;
}
