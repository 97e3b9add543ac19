/*
 * Every size, count or time that a peer (device, operator, GitHub) can influence
 * has its ceiling here, named once. Ceilings an operator may change are
 * settings instead, with default and bounds in the one config table
 * (config.c): max_upload_bytes, connection_memory (request line + headers),
 * connection_timeout_s, max_connections, max_connections_per_ip, registry_flush_ms,
 * registry_new_devices_per_ip_per_minute, registry_max_devices_per_product.
 */
#ifndef OTAD_CORE_LIMITS_H
#define OTAD_CORE_LIMITS_H

/* HTTP request shape, checked before routing. */
#define LIMIT_URL_BYTES              2048u /* request-target, before routing */
#define LIMIT_HEADERS_PER_REQUEST    64u   /* headers a handler looks at */
#define LIMIT_QUERY_ARGS_PER_REQUEST 16u

/*
 * Behind load balancers (trusted_proxies): prefixes the setting may list, and
 * trusted X-Forwarded-For elements read before the client's address (more
 * is a malformed header: no real chain of proxies is that long).
 */
#define LIMIT_TRUSTED_PROXIES 64u
#define LIMIT_FORWARDED_HOPS  16u

/* Device identity headers: the longest value we accept for each string. */
#define LIMIT_DEVICE_VERSION_BYTES 64u /* x-ESP8266-version, ?tag=, ?version= */
#define LIMIT_DEVICE_SDK_BYTES     64u /* x-ESP8266-sdk-version */
#define LIMIT_USER_AGENT_BYTES     128u
#define LIMIT_CORE_VERSION_BYTES   32u /* ?core= (ESP.getCoreVersion()), a declared core */
#define LIMIT_MANIFEST_TYPE_BYTES  64u /* esp32FOTA's ?type=, echoed in its manifest */

/* Names chosen by operators. */
#define LIMIT_PRODUCT_NAME_BYTES    64u
#define LIMIT_CHANNEL_NAME_BYTES    32u
#define LIMIT_RELEASE_VERSION_BYTES 64u
#define LIMIT_RELEASE_NOTES_BYTES   (64u * 1024u)
#define LIMIT_TOKEN_NAME_BYTES      64u
#define LIMIT_ALIASES               32u

/*
 * Dashboard sign-in (docs/SECURITY.md). Live sessions per token: signing in
 * once more past it ends the token's oldest session. Bad sign-ins one source
 * address may make a minute before it is answered 429 (the form must not be
 * a token oracle), and the addresses tracked at once: when every place holds
 * an address that failed this minute, a new address is refused too.
 */
#define LIMIT_SESSIONS_PER_TOKEN         16u
#define LIMIT_SIGNIN_FAILURES_PER_MINUTE 10u
#define LIMIT_SIGNIN_ADDRESSES           4096u
#define LIMIT_SESSION_ADDRESS_BYTES      45u /* INET6_ADDRSTRLEN - 1 */

/* HTTPS (docs/TLS.md). */
#define LIMIT_TLS_CERT_FILES        4u             /* certificate/key pairs, one per key type */
#define LIMIT_TLS_PEM_BYTES         (256u * 1024u) /* a chain or key file */
#define LIMIT_TLS_SESSION_BYTES     4096u          /* one stored TLS session */
#define LIMIT_TLS_SESSION_ID_BYTES  32u            /* RFC 5246 session_id<0..32> */
#define LIMIT_TLS_SESSION_CACHE_MAX 1000000u       /* bound for the setting */

/* Firmware images. */
#define LIMIT_IMAGE_MIN_BYTES          16u                   /* smaller cannot be an image */
#define LIMIT_UPLOAD_BYTES_MAX         (64u * 1024u * 1024u) /* bound for the setting */
#define LIMIT_MULTIPART_OVERHEAD_BYTES (64u * 1024u)         /* form fields around an upload */
#define LIMIT_GUNZIP_BYTES             (32u * 1024u * 1024u) /* inflated gzip image */
/* A stored form: the largest image and its signature. A larger blob file is not one otad wrote. */
#define LIMIT_BLOB_BYTES (LIMIT_UPLOAD_BYTES_MAX + 64u * 1024u)

/* JSON bodies of the admin API. */
#define LIMIT_JSON_BODY_BYTES (64u * 1024u)
/*
 * A body refused from its head alone is still read, and dropped, up to this
 * size before the refusal goes out: a server that closes on unread bytes
 * sends a reset that can destroy its own answer before the client reads it
 * (curl: "Empty reply from server"). A larger body, a chunked one, or one
 * the client holds back for "100 Continue" is refused at once.
 */
#define LIMIT_REFUSED_BODY_DRAIN_BYTES (4u * 1024u * 1024u)
#define LIMIT_REPLY_BODY_BYTES         (64u * 1024u * 1024u) /* a JSON answer we build */
#define LIMIT_JSON_DEPTH               16u
/* Path segments of the admin API that name a device or an action (longer: no such path, 404). */
#define LIMIT_MAC_SEGMENT_BYTES    32u /* a MAC's text; a malformed one that fits is a 400 */
#define LIMIT_ACTION_SEGMENT_BYTES 16u /* pause, resume, abort, promote, halt, revert */

/* Fleet control (docs/FLEET.md): a rollout plan's soak, ramp and interval. */
#define LIMIT_PLAN_DURATION_S (366u * 86400u)

/* Device registry. */
/*
 * Distinct devices between two registry commits (a device's repeated
 * check-ins within one interval take one place): 262,144 distinct devices a
 * second at the default interval. Past it, check-ins are dropped and counted.
 * Memory: two tables of up to this many 848-byte records (56 MB each at
 * the ceiling; they grow on demand and shrink when a storm is over).
 */
#define LIMIT_REGISTRY_QUEUE 65536u
/*
 * The largest array literal the PostgreSQL backend sends as one parameter
 * (a registry batch's column: LIMIT_REGISTRY_QUEUE devices of at most a few
 * hundred bytes each).
 */
#define LIMIT_PG_ARRAY_BYTES (64u << 20)
/* Fleet events (offers, downloads, outcomes) queued between two registry commits. */
#define LIMIT_FLEET_EVENTS_PENDING 262144u
/*
 * Devices in flight in rollouts plus releases devices failed, held in memory
 * (service/tracker.h; about 112 bytes each): past it an offer is not tracked.
 */
#define LIMIT_TRACKER_ENTRIES     2000000u
#define LIMIT_GROUP_MACS_PER_CALL 10000u /* MACs added to or removed from a group at once */
/* Source addresses the new-device limit tracks per minute (admission.h). */
#define LIMIT_REGISTRY_ADDRS_PER_MINUTE 65536u
#define LIMIT_REGISTRY_FLUSH_MS_MAX     1000u /* "committed at least once a second" */
#define LIMIT_API_PAGE_ROWS             1000u /* rows per API list page */
/*
 * The dashboard's figures (service/dashboard.h): versions listed per
 * product and per day of the version history before the rest is summed as
 * "other" (the devices choose their versions: a fleet reporting a million
 * distinct ones must not make a million rows a day), the days of history
 * kept and the most asked for at once, and the product size up to which a
 * page of the device list counts its matches exactly.
 */
#define LIMIT_SUMMARY_VERSIONS     16u
#define LIMIT_VERSION_HISTORY_KEPT 400u
#define LIMIT_VERSION_HISTORY_DAYS 366u
#define LIMIT_EXACT_DEVICE_COUNT   100000u
/*
 * The devices one page of the device list may walk when its filter is one
 * no index answers (quiet, a part of a version, two indexed filters at
 * once): past them the page ends where the walk stopped and says so
 * (next_after, prev_before), so no filter costs a scan of a million rows
 * on a worker that also answers check-ins.
 */
#define LIMIT_DEVICE_PAGE_SCAN 20000u

/* The audit log (service/audit.h, docs/AUDIT.md). */
#define LIMIT_AUDIT_ACTION_BYTES  32u  /* "rollout.promote", "group.macs.remove" */
#define LIMIT_AUDIT_OBJECT_BYTES  64u  /* a version, channel, rollout id or MAC */
#define LIMIT_AUDIT_ADDRESS_BYTES 63u  /* a peer's textual address, "local" */
#define LIMIT_AUDIT_REASON_BYTES  159u /* the short reason of a refusal */
#define LIMIT_AUDIT_FILTER_BYTES  64u  /* one filter's text (actor, action, product) */
/* An entry's parameters as JSON; longer ones are kept as {"truncated": true}. */
#define LIMIT_AUDIT_PARAMS_BYTES (8u * 1024u)

/*
 * GitHub release sources (src/sources/): names, what GitHub can make us
 * buffer, time bounds. Waits and retries: a failed poll (a 5xx, a failed
 * download of the newest tag) is retried after RETRY_BASE_S (or the poll
 * interval when shorter), doubling up to RETRY_MAX_S, for as long as it
 * fails; a 403/429 that names no reset waits SECONDARY_WAIT_S (GitHub: at
 * least a minute), doubling; no reset or Retry-After is believed beyond
 * WAIT_MAX_S (an hour + margin).
 */
#define LIMIT_GITHUB_OWNER_BYTES         39u   /* GitHub's own ceiling on a user or org */
#define LIMIT_GITHUB_REPO_BYTES          100u  /* GitHub's own ceiling on a repository */
#define LIMIT_GITHUB_TAG_BYTES           128u  /* longer tags are refused */
#define LIMIT_GITHUB_ASSET_NAME_BYTES    255u  /* an asset name compared with the glob */
#define LIMIT_GITHUB_GLOB_BYTES          128u  /* the asset name pattern */
#define LIMIT_GITHUB_API_URL_BYTES       256u  /* a source's API base URL */
#define LIMIT_GITHUB_URL_BYTES           4096u /* a storage redirect (signed URLs are long) */
#define LIMIT_GITHUB_ETAG_BYTES          256u  /* longer: not kept, the poll goes unconditional */
#define LIMIT_GITHUB_API_BODY_BYTES      (4u * 1024u * 1024u) /* one page of releases JSON */
#define LIMIT_GITHUB_RELEASES_PER_PAGE   10u   /* releases asked for per poll, newest first */
#define LIMIT_SOURCE_PATH_BYTES          1024u /* a token or webhook-secret file name */
#define LIMIT_SOURCE_ENV_NAME_BYTES      64u   /* a token or webhook-secret variable name */
#define LIMIT_SOURCE_SECRET_BYTES        1024u /* a token or webhook secret (file or env) */
#define LIMIT_SOURCES                    1000u /* sources one otad polls */
#define LIMIT_GITHUB_CONNECT_TIMEOUT_S   10u   /* TCP + TLS connect, API or storage */
#define LIMIT_GITHUB_API_TIMEOUT_S       60u   /* one whole API request */
#define LIMIT_GITHUB_ASSET_TIMEOUT_S     600u  /* one whole asset download */
#define LIMIT_GITHUB_LOW_SPEED_BYTES     1024u /* slower than this (bytes/s) ... */
#define LIMIT_GITHUB_LOW_SPEED_S         30u   /* ... for this long: aborted */
#define LIMIT_GITHUB_STORAGE_REDIRECTS   3u    /* hops after the API's 302 */
#define LIMIT_GITHUB_POLL_INTERVAL_S_MAX 86400u
#define LIMIT_GITHUB_RETRY_BASE_S        30u
#define LIMIT_GITHUB_RETRY_MAX_S         1800u /* a failing source is tried every 30 min at least */
#define LIMIT_GITHUB_SECONDARY_WAIT_S    60u
#define LIMIT_GITHUB_WAIT_MAX_S          3900u
#define LIMIT_GITHUB_ASSET_WAIT_S        2u /* a webhook's release lacks its asset: re-query */
#define LIMIT_GITHUB_ASSET_WAIT_TRIES    7u /* after 2, 4, ... 64 s (about 2 minutes) */
#define LIMIT_WEBHOOK_BODY_BYTES         (1024u * 1024u)     /* GitHub allows 25 MB */
#define LIMIT_WEBHOOK_DELIVERY_BYTES     80u                 /* X-GitHub-Delivery, a signature */
#define LIMIT_WEBHOOK_DELIVERIES_KEEP_S  (30u * 24u * 3600u) /* ids kept against replays */
/*
 * Webhook bodies are read before they can be authenticated: the bytes all
 * deliveries in flight may declare together (8 full-size bodies). Past it a
 * delivery is answered 503 with Retry-After before its body is read.
 */
#define LIMIT_WEBHOOK_BYTES_IN_FLIGHT (8u * LIMIT_WEBHOOK_BODY_BYTES)
#define LIMIT_WEBHOOK_BUSY_RETRY_S    10u /* the Retry-After of that 503 */

/*
 * Outgoing notifications (src/notify/, docs/NOTIFICATIONS.md). Receivers are
 * added by admins; what a receiver answers is read only for its status code
 * (its body is discarded), so nothing a receiver sends is buffered.
 */
#define LIMIT_EVENT_QUEUE              256u /* events emitted and not yet taken into the database */
#define LIMIT_EVENT_DATA_BYTES         4096u  /* one event's data, as JSON */
#define LIMIT_NOTIFY_RECEIVERS         64u    /* receivers configured */
#define LIMIT_NOTIFY_NAME_BYTES        64u    /* a receiver's name */
#define LIMIT_NOTIFY_URL_BYTES         2048u  /* a receiver's URL */
#define LIMIT_NOTIFY_SECRET_BYTES      256u   /* a receiver's signing secret */
#define LIMIT_NOTIFY_PATTERNS          16u    /* event patterns per receiver */
#define LIMIT_NOTIFY_PATTERN_BYTES     32u    /* "rollout.*", "release.published" */
#define LIMIT_NOTIFY_ERROR_BYTES       200u   /* a delivery's last error, our words */
#define LIMIT_NOTIFY_DELIVERIES_LISTED 200u   /* recent deliveries one request lists */
#define LIMIT_NOTIFY_KEEP_FINISHED     10000u /* finished deliveries kept, every receiver */

/*
 * Time zones (core/tz.c): a zone's name as an operator gives it, and the
 * compiled zone file read for it (RFC 8536 TZif). Real files hold a few
 * hundred transitions and a few dozen types; the counts are refused before
 * anything is allocated for them.
 */
#define LIMIT_TZ_NAME_BYTES   64u            /* "America/Argentina/ComodRivadavia" is 32 */
#define LIMIT_TZ_FILE_BYTES   (256u * 1024u) /* every count below at its ceiling fits */
#define LIMIT_TZ_TRANSITIONS  10000u
#define LIMIT_TZ_TYPES        256u  /* the format's own ceiling: a type index is one byte */
#define LIMIT_TZ_CHARS        1024u /* time zone abbreviations */
#define LIMIT_TZ_LEAPS        1000u /* leap-second records (27 so far) */
#define LIMIT_TZ_FOOTER_BYTES 256u  /* the POSIX TZ string after the data */

/*
 * Metrics (core/metrics.c): the series one labelled family keeps. A label
 * value can come from a peer (a product name in a check-in's path), so past
 * the cap a new label set is counted in otad_metrics_series_dropped_total
 * and not stored; the values a family already has keep counting.
 */
#define LIMIT_METRICS_SERIES      256u
#define LIMIT_METRICS_LABELS      3u  /* labels per family */
#define LIMIT_METRICS_LABEL_BYTES 64u /* a label value, cut to it: a product name fits whole */
#define LIMIT_METRICS_BUCKETS     16u /* bucket bounds per histogram, +Inf aside */
#define LIMIT_METRICS_TEXT_BYTES  (4u * 1024u * 1024u) /* one scrape's text */

#endif
