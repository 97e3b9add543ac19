/*
 * The service's metric families (service_metrics.h). Names, labels and
 * units are docs/METRICS.md's; a label value that comes from a device is
 * never used unchecked: a product label is a catalog product's name, "" for
 * a check-in naming none.
 */
#include "service/service_metrics.h"

#include "core/util.h"

struct metric_family metric_checkins = METRIC_COUNTER(
    "otad_checkins_total",
    "Device check-ins by product, channel and answer (304, 200, 403, 404, 400); product and "
    "channel are empty when the product is unknown.",
    METRIC_LABELS("product", "channel", "status"));
struct metric_family metric_images_served = METRIC_COUNTER(
    "otad_images_served_total", "Whole image bodies sent (check-in updates and /images/ 200s).",
    METRIC_LABELS("product"));
struct metric_family metric_image_bytes =
    METRIC_COUNTER("otad_image_bytes_sent_total",
                   "Bytes of image bodies sent whole (ranges included).", METRIC_NO_LABELS);
struct metric_family metric_downloads_active = METRIC_GAUGE(
    "otad_downloads_in_flight",
    "Image bodies being sent now (check-in updates and /images/ downloads).", METRIC_NO_LABELS);
struct metric_family metric_downloads_refused = METRIC_COUNTER(
    "otad_downloads_refused_total",
    "Offers turned into 304 because the node's or the product's download cap was reached.",
    METRIC_LABELS("product"));
struct metric_family metric_catalog_rebuilds =
    METRIC_COUNTER("otad_catalog_rebuilds_total",
                   "Rebuilds of the in-memory catalog check-ins decide from.", METRIC_NO_LABELS);
struct metric_family metric_registry_depth = METRIC_GAUGE(
    "otad_registry_queue_depth", "Devices with a check-in waiting for the registry's next commit.",
    METRIC_NO_LABELS);
struct metric_family metric_registry_dropped = METRIC_COUNTER(
    "otad_registry_records_dropped_total",
    "Check-ins and fleet events the registry lost: queue_full (LIMIT_REGISTRY_QUEUE devices or "
    "LIMIT_FLEET_EVENTS_PENDING events between two commits) or database (a failed commit).",
    METRIC_LABELS("reason"));
static const double flush_bounds[] = {0.001, 0.005, 0.01, 0.025, 0.05, 0.1,
                                      0.25,  0.5,   1,    2.5,   5,    10};
struct metric_family metric_registry_flush = METRIC_HISTOGRAM(
    "otad_registry_flush_duration_seconds",
    "Time of one registry commit (device rows and fleet events) on the flusher's connection.",
    flush_bounds, METRIC_NO_LABELS);
struct metric_family metric_rollouts_halted = METRIC_COUNTER(
    "otad_rollouts_halted_total", "Rollouts halted by the controller (a threshold was crossed).",
    METRIC_LABELS("product", "channel"));

void service_metrics_register(void)
{
    struct metric_family *all[] = {
        &metric_checkins,         &metric_images_served,     &metric_image_bytes,
        &metric_downloads_active, &metric_downloads_refused, &metric_catalog_rebuilds,
        &metric_registry_depth,   &metric_registry_dropped,  &metric_registry_flush,
        &metric_rollouts_halted,
    };
    for (size_t i = 0; i < ARRAY_SIZE(all); i++)
        metrics_register(all[i]);
}
