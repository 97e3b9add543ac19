/*
 * Every size, count or time that a peer (device, operator, GitHub) can influence
 * has its ceiling here, named once. Configurable ceilings have their defaults
 * here and their bounds in the config table (config.c); the rest are fixed.
 */
#ifndef OTAD_CORE_LIMITS_H
#define OTAD_CORE_LIMITS_H

/* HTTP request shape: enforced by libmicrohttpd's per-connection memory pool. */
#define LIMIT_CONNECTION_MEMORY_DEFAULT    (32u * 1024u) /* request line + headers */
#define LIMIT_CONNECTION_TIMEOUT_S_DEFAULT 30u           /* idle connection */
#define LIMIT_CONNECTIONS_DEFAULT          20000u        /* concurrent connections */
#define LIMIT_URL_BYTES                    2048u         /* request-target, before routing */
#define LIMIT_HEADERS_PER_REQUEST          64u           /* headers a handler looks at */
#define LIMIT_QUERY_ARGS_PER_REQUEST       16u

/* Device identity headers: the longest value we accept for each string. */
#define LIMIT_DEVICE_VERSION_BYTES 64u /* x-ESP8266-version, ?tag=, ?version= */
#define LIMIT_DEVICE_SDK_BYTES     64u /* x-ESP8266-sdk-version */
#define LIMIT_USER_AGENT_BYTES     128u

/* Names chosen by operators. */
#define LIMIT_PRODUCT_NAME_BYTES    64u
#define LIMIT_CHANNEL_NAME_BYTES    32u
#define LIMIT_RELEASE_VERSION_BYTES 64u
#define LIMIT_RELEASE_NOTES_BYTES   (64u * 1024u)
#define LIMIT_TOKEN_NAME_BYTES      64u
#define LIMIT_ALIASES               32u

/* Firmware images. */
#define LIMIT_IMAGE_MIN_BYTES          16u                   /* smaller cannot be an image */
#define LIMIT_UPLOAD_BYTES_DEFAULT     (16u * 1024u * 1024u) /* 413 beyond it */
#define LIMIT_UPLOAD_BYTES_MAX         (64u * 1024u * 1024u) /* bound for the setting */
#define LIMIT_MULTIPART_OVERHEAD_BYTES (64u * 1024u)         /* form fields around an upload */
#define LIMIT_GUNZIP_BYTES             (32u * 1024u * 1024u) /* inflated gzip image */

/* JSON bodies of the admin API. */
#define LIMIT_JSON_BODY_BYTES (64u * 1024u)
#define LIMIT_JSON_DEPTH      16u

/* Device registry. */
#define LIMIT_REGISTRY_QUEUE            262144u /* check-ins waiting for the flusher */
#define LIMIT_REGISTRY_FLUSH_MS_DEFAULT 250u
#define LIMIT_REGISTRY_FLUSH_MS_MAX     1000u /* "committed at least once a second" */
#define LIMIT_API_PAGE_ROWS             1000u /* rows per API list page */

#endif
