/* units.h - moved to yamlcfg/units.h (the YAML config toolkit's own room); this forwarding
 * header only keeps daemon/web.c building until its include is updated, then goes. */
#ifndef PG_CONFIG_UNITS_FWD_H
#define PG_CONFIG_UNITS_FWD_H

#include "yamlcfg/units.h"

#endif
