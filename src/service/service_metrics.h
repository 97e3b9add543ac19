/*
 * The service's metrics (docs/METRICS.md): the families the service's files
 * count in, defined in service_metrics.c and registered by service_open.
 * Updates are core/metrics.h calls: atomics, no lock.
 */
#ifndef OTAD_SERVICE_SERVICE_METRICS_H
#define OTAD_SERVICE_SERVICE_METRICS_H

#include "core/metrics.h"

extern struct metric_family metric_checkins;          /* {product,channel,status} */
extern struct metric_family metric_images_served;     /* {product} */
extern struct metric_family metric_image_bytes;       /* no labels */
extern struct metric_family metric_downloads_active;  /* gauge, no labels */
extern struct metric_family metric_downloads_refused; /* {product} */
extern struct metric_family metric_catalog_rebuilds;  /* no labels */
extern struct metric_family metric_registry_depth;    /* gauge, no labels */
extern struct metric_family metric_registry_dropped;  /* {reason} */
extern struct metric_family metric_registry_flush;    /* histogram, seconds */
extern struct metric_family metric_rollouts_halted;   /* {product,channel} */

/* Registers every family above (metrics_register); more calls do nothing. */
void service_metrics_register(void);

#endif
