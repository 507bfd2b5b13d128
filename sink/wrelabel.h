/* wrelabel.h - what one backend receives: its write_relabel_configs and the tenant label.
 *
 * A forwarding queue (sink/queue.c) runs every row it reads from the buffer through
 * pg_sink_wrelabel before encoding, on the worker that reads and encodes (or on the loop
 * without workers), so other backends are untouched and the loop pays nothing:
 *   - with write_relabel_configs, the labels as the backend would send them (the stored
 *     series labels, then the global and the backend's external_labels,
 *     pg_sink_series_labels) go through the rules, as Prometheus's remote_write does; a
 *     profile a rule drops is not sent to this backend (the queue counts it in
 *     profgate_remote_write_relabel_dropped_profiles_total{remote}); the result is what is
 *     sent (item->labels_final);
 *   - then a non-empty __tenant_id__ label (set by relabel_configs,
 *     profile_relabel_configs, receiver.relabel_configs or these rules) becomes the
 *     profile's tenant, sent as X-Scope-OrgID in place of the one the backend's headers
 *     configure (item->tenant_from_label); the label itself is never sent. A tenant id that
 *     is not valid (dskit: 1-150 bytes of [A-Za-z0-9!-_.*'()], not "." or "..") drops the
 *     profile for this backend (counted in profgate_remote_write_dropped_profiles_total) so
 *     that it never reaches another tenant.
 * A queue's request never mixes tenants (backend.h's encode).
 *
 * Owner: sink. Thread-safe for distinct item arrays (relabeling only; see
 * pg_relabel_set_off_loop). */
#ifndef PG_SINK_WRELABEL_H
#define PG_SINK_WRELABEL_H

#include <stddef.h>

#include "config/config.h"
#include "core/labels.h"
#include "sink/buffer.h"

#define PG_SINK_TENANT_LABEL "__tenant_id__"

struct pg_sink_wrelabel_stats {
    size_t dropped;    /* dropped by a rule (or a regex limit) */
    size_t bad_tenant; /* dropped for an invalid __tenant_id__ */
    char tenant[64];   /* the start of the last invalid tenant, for the log */
};

/* Prepares items[0..n) for backend cfg as the header says, in place: the items kept are
 * moved to the front in order, the others freed. Returns how many are kept; *st (zeroed
 * here) says why the others went. An item whose labels cannot be allocated is kept as
 * it was. */
size_t pg_sink_wrelabel(const struct pg_cfg_remote *cfg, const struct pg_labels *global_external,
                        struct pg_buf_item *items, size_t n, struct pg_sink_wrelabel_stats *st);

#endif
