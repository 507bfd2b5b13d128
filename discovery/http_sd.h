/* http_sd.h - the config of the "http" discovery mechanism (Prometheus http_sd_configs),
 * loaded and run by discovery/http_sd.c (the mechanism is pg_sd_http, sd.h). */
#ifndef PG_DISCOVERY_HTTP_SD_H
#define PG_DISCOVERY_HTTP_SD_H

#include <stdint.h>

#include "core/httpcfg.h"

/* One http_sd_configs entry (Prometheus's discovery/http SDConfig). */
struct pg_cfg_http_sd {
    char *url;                   /* required, http or https with a host */
    int64_t refresh_interval_ms; /* default 1m */
    struct pg_httpc_cfg http;
    int line, col; /* position of the entry in the file */
};

#endif
