#include "etcdtls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

struct etcdtls_ctx { SSL_CTX *ssl_ctx; };
struct etcdtls_conn { SSL *ssl; int fd; unsigned long error; int ssl_error; int sys_errno; };

static void put_error(char *err, size_t err_len, const char *what, unsigned long code) {
    char reason[256] = "unknown error";
    if (code != 0) ERR_error_string_n(code, reason, sizeof reason);
    snprintf(err, err_len, "%s: %s", what, reason);
}

/* A socket BIO that sends with MSG_NOSIGNAL: a write to a closed peer fails with EPIPE instead of
 * killing the process with SIGPIPE (OpenSSL's own socket BIO uses write(2)). */
static int nosig_write(BIO *bio, const char *data, int len) {
    int fd = (int)BIO_get_fd(bio, NULL);
    ssize_t n = send(fd, data, (size_t)len, MSG_NOSIGNAL);
    BIO_clear_retry_flags(bio);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) BIO_set_retry_write(bio);
    return (int)n;
}

static BIO_METHOD *nosig;
static pthread_once_t nosig_once = PTHREAD_ONCE_INIT;

static void nosig_build(void) {
    const BIO_METHOD *base = BIO_s_socket();
    BIO_METHOD *m = BIO_meth_new(BIO_TYPE_SOCKET, "etcd socket");
    if (m == NULL) return;
    BIO_meth_set_write(m, nosig_write);
    BIO_meth_set_read(m, BIO_meth_get_read(base));
    BIO_meth_set_puts(m, BIO_meth_get_puts(base));
    BIO_meth_set_ctrl(m, BIO_meth_get_ctrl(base));
    BIO_meth_set_create(m, BIO_meth_get_create(base));
    BIO_meth_set_destroy(m, BIO_meth_get_destroy(base));
    nosig = m;
}

/* Built once for the process. */
static BIO_METHOD *nosig_method(void) {
    pthread_once(&nosig_once, nosig_build);
    return nosig;
}

etcdtls_ctx *etcdtls_ctx_new(const char *ca_file, const char *cert_file, const char *key_file,
                             char *err, size_t err_len) {
    ERR_clear_error();
    SSL_CTX *ssl_ctx = SSL_CTX_new(TLS_client_method());
    if (ssl_ctx == NULL) { put_error(err, err_len, "cannot create a TLS context", ERR_get_error()); return NULL; }
    SSL_CTX_set_min_proto_version(ssl_ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(ssl_ctx, SSL_VERIFY_PEER, NULL);
    if (SSL_CTX_load_verify_locations(ssl_ctx, ca_file, NULL) != 1) {
        char what[1200];
        snprintf(what, sizeof what, "cannot load the CA certificate %s", ca_file);
        put_error(err, err_len, what, ERR_get_error());
        SSL_CTX_free(ssl_ctx);
        return NULL;
    }
    if (cert_file != NULL && key_file != NULL) {
        char what[1200];
        if (SSL_CTX_use_certificate_chain_file(ssl_ctx, cert_file) != 1) {
            snprintf(what, sizeof what, "cannot load the client certificate %s", cert_file);
            put_error(err, err_len, what, ERR_get_error());
            SSL_CTX_free(ssl_ctx);
            return NULL;
        }
        if (SSL_CTX_use_PrivateKey_file(ssl_ctx, key_file, SSL_FILETYPE_PEM) != 1
            || SSL_CTX_check_private_key(ssl_ctx) != 1) {
            snprintf(what, sizeof what, "cannot use the client key %s with %s", key_file, cert_file);
            put_error(err, err_len, what, ERR_get_error());
            SSL_CTX_free(ssl_ctx);
            return NULL;
        }
    }
    etcdtls_ctx *ctx = calloc(1, sizeof *ctx);
    if (ctx == NULL) { SSL_CTX_free(ssl_ctx); snprintf(err, err_len, "out of memory"); return NULL; }
    ctx->ssl_ctx = ssl_ctx;
    return ctx;
}

void etcdtls_ctx_free(etcdtls_ctx *ctx) {
    if (ctx == NULL) return;
    SSL_CTX_free(ctx->ssl_ctx);
    free(ctx);
}

etcdtls_conn *etcdtls_conn_new(etcdtls_ctx *ctx, int fd, const char *host, char *err, size_t err_len) {
    ERR_clear_error();
    SSL *ssl = SSL_new(ctx->ssl_ctx);
    BIO_METHOD *method = nosig_method();
    BIO *bio = method ? BIO_new(method) : NULL;
    if (ssl == NULL || bio == NULL) {
        put_error(err, err_len, "cannot create a TLS session", ERR_get_error());
        SSL_free(ssl);
        BIO_free(bio);
        return NULL;
    }
    BIO_set_fd(bio, fd, BIO_NOCLOSE);
    SSL_set_bio(ssl, bio, bio);
    X509_VERIFY_PARAM *param = SSL_get0_param(ssl);
    unsigned char address[16];
    int ok;
    if (inet_pton(AF_INET, host, address) == 1 || inet_pton(AF_INET6, host, address) == 1) {
        ok = X509_VERIFY_PARAM_set1_ip_asc(param, host);
    } else {
        X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        ok = X509_VERIFY_PARAM_set1_host(param, host, 0) && SSL_set_tlsext_host_name(ssl, host);
    }
    if (!ok) {
        put_error(err, err_len, "cannot set the host name to verify", ERR_get_error());
        SSL_free(ssl);
        return NULL;
    }
    SSL_set_connect_state(ssl);
    etcdtls_conn *conn = calloc(1, sizeof *conn);
    if (conn == NULL) { SSL_free(ssl); snprintf(err, err_len, "out of memory"); return NULL; }
    conn->ssl = ssl;
    conn->fd = fd;
    return conn;
}

void etcdtls_conn_free(etcdtls_conn *conn) {
    if (conn == NULL) return;
    SSL_free(conn->ssl);
    free(conn);
}

static long outcome(etcdtls_conn *conn, int rc) {
    int code = SSL_get_error(conn->ssl, rc);
    switch (code) {
    case SSL_ERROR_WANT_READ: return ETCDTLS_WANT_READ;
    case SSL_ERROR_WANT_WRITE: return ETCDTLS_WANT_WRITE;
    case SSL_ERROR_ZERO_RETURN: return 0;
    default:
        conn->ssl_error = code;
        conn->sys_errno = errno;
        conn->error = ERR_peek_last_error();
        return ETCDTLS_ERROR;
    }
}

int etcdtls_handshake(etcdtls_conn *conn) {
    ERR_clear_error();
    int rc = SSL_do_handshake(conn->ssl);
    if (rc == 1) return 1;
    long result = outcome(conn, rc);
    return result == 0 ? ETCDTLS_ERROR : (int)result;
}

long etcdtls_read(etcdtls_conn *conn, void *buf, size_t len) {
    ERR_clear_error();
    size_t done = 0;
    int rc = SSL_read_ex(conn->ssl, buf, len, &done);
    if (rc == 1) return (long)done;
    return outcome(conn, rc);
}

long etcdtls_write(etcdtls_conn *conn, const void *buf, size_t len) {
    ERR_clear_error();
    size_t done = 0;
    int rc = SSL_write_ex(conn->ssl, buf, len, &done);
    if (rc == 1) return (long)done;
    long result = outcome(conn, rc);
    return result == 0 ? ETCDTLS_ERROR : result;
}

void etcdtls_last_error(etcdtls_conn *conn, char *err, size_t err_len) {
    long verify = SSL_get_verify_result(conn->ssl);
    if (verify != X509_V_OK) {
        snprintf(err, err_len, "certificate verify failed: %s", X509_verify_cert_error_string(verify));
    } else if (conn->error != 0) {
        char reason[256];
        ERR_error_string_n(conn->error, reason, sizeof reason);
        const char *text = ERR_reason_error_string(conn->error);
        snprintf(err, err_len, "%s", text ? text : reason);
    } else if (conn->ssl_error == SSL_ERROR_SYSCALL && conn->sys_errno != 0) {
        snprintf(err, err_len, "%s", strerror(conn->sys_errno));
    } else {
        snprintf(err, err_len, "connection closed during TLS");
    }
}
