#ifndef ETCDTLS_H
#define ETCDTLS_H
/* A tiny TLS client on a non-blocking socket, for the etcd client (PortcullisCluster): OpenSSL's
 * libssl with the macros Swift cannot call wrapped as functions. TLS 1.2 or later only; the peer is
 * always verified against the one CA file given and the endpoint's host name or IP address. */
#include <stddef.h>

typedef struct etcdtls_ctx etcdtls_ctx;
typedef struct etcdtls_conn etcdtls_conn;

/* What a handshake/read/write returned besides a byte count. */
#define ETCDTLS_WANT_READ (-1)
#define ETCDTLS_WANT_WRITE (-2)
#define ETCDTLS_ERROR (-3)

/* A context trusting only `ca_file`; with `cert_file` and `key_file` (both or neither), presenting
 * that client certificate. NULL on failure, with the reason in `err`. */
etcdtls_ctx *etcdtls_ctx_new(const char *ca_file, const char *cert_file, const char *key_file,
                             char *err, size_t err_len);
void etcdtls_ctx_free(etcdtls_ctx *ctx);

/* A client session on connected socket `fd` (left open on free), verifying the server as `host`. */
etcdtls_conn *etcdtls_conn_new(etcdtls_ctx *ctx, int fd, const char *host, char *err, size_t err_len);
void etcdtls_conn_free(etcdtls_conn *conn);

/* 1 when done, or ETCDTLS_WANT_READ / ETCDTLS_WANT_WRITE / ETCDTLS_ERROR (see etcdtls_last_error). */
int etcdtls_handshake(etcdtls_conn *conn);
/* Bytes read (>0), 0 at a clean close, or one of the ETCDTLS_ codes. */
long etcdtls_read(etcdtls_conn *conn, void *buf, size_t len);
/* Bytes written (>0) or one of the ETCDTLS_ codes. */
long etcdtls_write(etcdtls_conn *conn, const void *buf, size_t len);
/* Why the last call on `conn` failed (verification result first), as text. */
void etcdtls_last_error(etcdtls_conn *conn, char *err, size_t err_len);

#endif
