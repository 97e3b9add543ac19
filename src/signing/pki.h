/*
 * TLS certificates for the HTTPS listener, through OpenSSL libcrypto (only
 * src/signing/ may call it): a fleet CA (a key and its self-signed
 * certificate, which devices trust), the server certificates it issues,
 * public certificates taken as they are, and what a device's firmware needs
 * to pin any of them (the CA as PEM, the leaf's public key, its SHA-1 and
 * SHA-256 fingerprints, a C header with all of it).
 *
 * The point of the fleet CA is that pinning survives renewals: a device
 * that trusts the CA accepts every server certificate it issues, and a
 * renewal keeps the server's key unless asked for a new one, so a device
 * that pins the key keeps working too. Only a device that pins the
 * certificate itself (its SHA-1 fingerprint) must be updated at renewal.
 *
 * This module writes and reads the files it is given (the CLI names them
 * with core/tls_paths.h); it does not serve TLS (the HTTP server does), know
 * the data folder, or print. Private keys are written mode 0600 through a
 * temporary file in the same folder (created O_EXCL with mode 0600, fsync,
 * rename, fsync of the folder), so no other user can read one at any
 * moment; they are loaded with the rules of signing_key_load_private (ours,
 * mode 0600 or 0400, unencrypted). Errors are -errno with a one-line struct
 * reason; OpenSSL's error queue is translated and cleared here. Reasons
 * never contain key material.
 */
#ifndef OTAD_SIGNING_PKI_H
#define OTAD_SIGNING_PKI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/reason.h"
#include "signing/signing.h"

#define PKI_CA_DAYS_DEFAULT     7305u           /* 20 years */
#define PKI_SERVER_DAYS_DEFAULT 397u            /* the longest public CAs may issue */
#define PKI_DAYS_MAX            36525u          /* 100 years */
#define PKI_CHAIN_FILE_MAX      (1024u * 1024u) /* a larger certificate file is refused */
#define PKI_CHAIN_MAX           10u             /* certificates in one file */
#define PKI_SAN_MAX             32u             /* host names and addresses in one certificate */
#define PKI_NAME_MAX            64u             /* bytes in a CN (X.520's upper bound) */
#define PKI_HOST_MAX            253u            /* bytes in a DNS name */
#define PKI_SHA1_LEN            20u
#define PKI_SHA256_LEN          32u
#define PKI_FINGERPRINT_TEXT    (3u * PKI_SHA256_LEN) /* "AA:BB:...:FF" and a NUL */

/* What pki_ca_create makes. */
struct pki_ca_params {
    const char *common_name;        /* the subject's CN; NULL: "otad fleet CA HOSTNAME" */
    unsigned days;                  /* validity from now; 0: PKI_CA_DAYS_DEFAULT */
    enum signing_key_type key_type; /* SIGNING_KEY_ECDSA_P256 (the default) or an RSA type */
    bool force;                     /* replace an existing CA */
};

/*
 * Creates a CA: a new key of PARAMS->key_type written to KEY_PATH (PKCS#8
 * PEM, 0600) and its self-signed certificate to CERT_PATH (PEM, 0644):
 * version 3, 16 random bytes of serial (positive), subject and issuer
 * CN=common_name, valid from an hour ago (for devices whose clocks lag) for
 * `days` days, basicConstraints critical CA:TRUE pathlen:0, keyUsage
 * critical keyCertSign cRLSign, a subjectKeyIdentifier, signed with SHA-256.
 * The folder of each path is created (0700) when missing. Without
 * PARAMS->force nothing is written when either file exists (a new CA cuts
 * off every device that trusts the old one); with it both are replaced.
 * All strings are borrowed.
 * Returns 0; -EEXIST (a CA is there and not force); -EINVAL (a CN that is
 * empty, longer than PKI_NAME_MAX bytes or not UTF-8 text; days out of 1 to
 * PKI_DAYS_MAX; a key type other than ECDSA P-256/P-384 or RSA); -EIO
 * (OpenSSL failed); -ENOMEM; or the -errno of a file operation. WHY says which.
 */
int pki_ca_create(const char *cert_path, const char *key_path, const struct pki_ca_params *params,
                  struct reason *why);

/* What pki_server_issue makes. Every pointer is borrowed. */
struct pki_server_params {
    const char *ca_cert_path;       /* the issuing CA's certificate (PEM), then any above it */
    const char *ca_key_path;        /* its private key (ours, 0600) */
    const char *const *hosts;       /* DNS names (a first label "*" allowed) */
    size_t host_count;              /* the first name is the CN */
    const char *const *ips;         /* IPv4 or IPv6 addresses as text */
    size_t ip_count;                /* the CN when there is no host name */
    unsigned days;                  /* validity from now; 0: PKI_SERVER_DAYS_DEFAULT */
    enum signing_key_type key_type; /* of a new key: SIGNING_KEY_ECDSA_P256, SIGNING_KEY_RSA_2048 */
    bool new_key;                   /* make a new key even when KEY_PATH holds one */
    const char *cert_path;          /* written: the leaf, then the CA file's certificates */
    const char *key_path;           /* kept when present (and !new_key), else written 0600 */
};

/* What pki_server_issue did. */
struct pki_issued {
    bool key_created; /* false: the key at key_path was kept, so its public key is unchanged */
    bool clamped;     /* the validity was cut to end with the CA's */
};

/*
 * Issues a server certificate signed by the CA at PARAMS->ca_cert_path and
 * ca_key_path, and writes the chain (the new leaf, then every certificate
 * of the CA file) to cert_path. The leaf: version 3, 16 random bytes of
 * serial, CN the first host (or address), subjectAltName every host (DNS)
 * and address (IP), valid from an hour ago for `days` days but never past
 * the CA's end, basicConstraints CA:FALSE, keyUsage critical
 * digitalSignature (and keyEncipherment for RSA), extendedKeyUsage
 * serverAuth, subject and authority key identifiers, signed with SHA-256.
 * Its key is the one at key_path when there is one and PARAMS->new_key is
 * false (a renewal: devices that pin the key keep working), else a new key
 * of key_type written there (0600). The new chain is checked against the
 * CA, with its first name, before anything is written; the key (when new)
 * and the chain are then put in place one after the other.
 * Fills *RET_ISSUED (may be NULL) on success.
 * Returns 0; -EINVAL (no host and no address, more than PKI_SAN_MAX, a
 * malformed name or address, days out of range, a kept key of the other
 * algorithm than key_type, a CA certificate that is not a CA or does not
 * match its key, an unreadable certificate file); -EKEYEXPIRED (the CA has
 * expired); -ENOENT (no CA file); -EPERM (a key other users can read or
 * that is not ours); -ENOTSUP (a key type otad does not take); -EIO
 * (OpenSSL failed, or the issued chain does not verify); -ENOMEM; or the
 * -errno of a file operation. WHY says which.
 */
int pki_server_issue(const struct pki_server_params *params, struct pki_issued *ret_issued,
                     struct reason *why);

/*
 * Takes a certificate issued elsewhere (a public CA, e.g. Let's Encrypt) as
 * it is: reads the PEM chain at CHAIN_PATH (the leaf first, as fullchain.pem
 * has it) and the unencrypted PEM private key at KEY_PATH (which may be
 * group-readable: it is copied, not used in place), checks that the key is
 * the leaf's and that each certificate is issued by the next, then writes
 * the chain to CERT_DEST (0644) and the key to KEY_DEST (PKCS#8 PEM, 0600),
 * replacing what is there. The dates are not checked (`otad tls show` does).
 * All strings are borrowed.
 * Returns 0; -EINVAL (no certificate or a malformed one, more than
 * PKI_CHAIN_MAX, a chain out of order, no or an encrypted key); -EKEYREJECTED
 * (the key is not the leaf's); -ENOTSUP (a key type otad does not take:
 * RSA 2048 to 4096 bits, ECDSA P-256 or P-384); -EFBIG; -ENOMEM; or the
 * -errno of a file operation. WHY says which.
 */
int pki_server_import(const char *chain_path, const char *key_path, const char *cert_dest,
                      const char *key_dest, struct reason *why);

/*
 * The certificates of one PEM file, in file order (a server chain: the
 * leaf first). Opaque; made by pki_chain_load, freed by pki_chain_free.
 */
struct pki_chain;

/* What one certificate is, for reports and exports. */
struct pki_cert_info {
    char subject[256];                      /* RFC 2253, "CN=otad.example.net"; cut when longer */
    char issuer[256];                       /* the same for the issuer */
    char sans[512];                         /* "DNS:a.example.net, IP:192.0.2.7"; "" when none */
    char serial[2 * 20 + 1];                /* hex, upper case; cut past 20 bytes */
    int64_t not_before;                     /* seconds since the epoch */
    int64_t not_after;                      /* the last second it is valid */
    char key_type[24];                      /* "ecdsa-p256", "rsa-2048", or OpenSSL's name */
    bool ca;                                /* basicConstraints CA:TRUE */
    bool self_signed;                       /* issued by itself, signature checked */
    uint8_t sha1[PKI_SHA1_LEN];             /* of the DER certificate */
    uint8_t sha256[PKI_SHA256_LEN];         /* of the DER certificate */
    char sha1_text[PKI_FINGERPRINT_TEXT];   /* "AA:BB:...", as `openssl x509 -fingerprint` */
    char sha256_text[PKI_FINGERPRINT_TEXT]; /* the same for SHA-256 */
    char spki_sha256[SIGNING_FINGERPRINT_HEX]; /* hex SHA-256 of the DER SubjectPublicKeyInfo */
};

/*
 * Loads the PEM certificates at PATH (at most PKI_CHAIN_FILE_MAX bytes and
 * PKI_CHAIN_MAX certificates; text outside the PEM blocks is ignored).
 * Writes *RET_CHAIN (caller frees) only on success.
 * Returns 0, -ENOENT (no such file), -EINVAL (no certificate, a malformed
 * one, too many), -EFBIG, -ENOMEM, or the -errno of open/read; WHY says which.
 */
int pki_chain_load(const char *path, struct pki_chain **ret_chain, struct reason *why);

/* Frees CHAIN. NULL-safe. */
void pki_chain_free(struct pki_chain *chain);

/* How many certificates CHAIN holds (at least one). */
size_t pki_chain_length(const struct pki_chain *chain);

/*
 * Fills *RET_INFO with what certificate INDEX (< pki_chain_length) of CHAIN
 * is. Returns 0, or -EIO (OpenSSL could not encode it) / -ENOMEM.
 */
int pki_chain_info(const struct pki_chain *chain, size_t index, struct pki_cert_info *ret_info,
                   struct reason *why);

/* Appends certificate INDEX of CHAIN to OUT as PEM. Returns 0, -EIO, or buf_append's error. */
int pki_chain_cert_pem(const struct pki_chain *chain, size_t index, struct buf *out,
                       struct reason *why);

/*
 * Appends the public key of certificate INDEX of CHAIN to OUT as PEM
 * SubjectPublicKeyInfo ("BEGIN PUBLIC KEY": what BearSSL::PublicKey takes).
 * Returns 0, -EIO, or buf_append's error.
 */
int pki_chain_pubkey_pem(const struct pki_chain *chain, size_t index, struct buf *out,
                         struct reason *why);

/*
 * Checks CHAIN's first certificate as a TLS client would: a path through
 * the rest of CHAIN (untrusted) to a certificate of ANCHORS (trusted, need
 * not be self-signed, as BearSSL's trust anchors), every signature, the
 * dates now, the CA constraints, extendedKeyUsage serverAuth, and, when
 * HOST is not NULL, that the leaf names HOST (a DNS name, or an IPv4/IPv6
 * address checked against its IP names). Both chains are borrowed.
 * Returns 0, -EBADMSG (it does not verify; WHY says OpenSSL's reason and
 * the depth), -EIO or -ENOMEM.
 */
int pki_chain_verify(const struct pki_chain *chain, const struct pki_chain *anchors,
                     const char *host, struct reason *why);

/*
 * True when CHAIN leads to ANCHORS' first certificate whatever the date:
 * one of CHAIN's certificates is that certificate, or is signed by its key
 * and names it as issuer. Both chains are borrowed. What `otad tls export`
 * asks to choose the trust anchor; pki_chain_verify is the whole check.
 */
bool pki_chain_issued_by(const struct pki_chain *chain, const struct pki_chain *anchors);

/*
 * Whether the private key at KEY_PATH (loaded with the rules of
 * signing_key_load_private) belongs to CHAIN's first certificate.
 * Returns 0 (it does), -EKEYREJECTED (another key), or the errors of
 * signing_key_load_private; WHY says which.
 */
int pki_chain_key_matches(const struct pki_chain *chain, const char *key_path, struct reason *why);

/* One server certificate in a C header. Every pointer is borrowed. */
struct pki_export_leaf {
    const struct pki_chain *chain; /* its first certificate is the leaf */
    const char *ident;             /* the prefix of its names: "OTAD_SERVER", "OTAD_SERVER_RSA" */
    const char *file;              /* its file name, for the comments: "server.pem" */
};

/*
 * Appends to OUT a C header for device firmware (C++ or GNU C: the PEM
 * texts are raw string literals) that defines, each with a comment saying
 * how a sketch uses it and which renewals it survives:
 *   OTAD_FLEET_CA       char[], PROGMEM: the PEM of ANCHOR's last certificate
 *                       (for BearSSL::X509List + setTrustAnchors on the
 *                       ESP8266, setCACert on arduino-esp32, cert_pem in
 *                       ESP-IDF); FLEET_CA says whether it is otad's fleet
 *                       CA or the top of a chain issued elsewhere;
 *   IDENT_SHA1          uint8_t[20]: the leaf's SHA-1 (setFingerprint);
 *   IDENT_SHA256        uint8_t[32]: the leaf's SHA-256;
 *   IDENT_PUBKEY        char[], PROGMEM: the leaf's public key PEM
 *                       (BearSSL::PublicKey + setKnownKey);
 * for each of LEAF_COUNT LEAVES. PROGMEM is defined empty when the includer
 * has none, so the header also compiles on a host. Every ident must be a C
 * identifier of at most 32 bytes.
 * Returns 0, -EINVAL (a bad ident), -EIO, or buf_append's error.
 */
int pki_export_header(const struct pki_chain *anchor, bool fleet_ca,
                      const struct pki_export_leaf *leaves, size_t leaf_count, struct buf *out,
                      struct reason *why);

#endif
