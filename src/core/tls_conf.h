/* tls_conf.h - a certificate as the configuration names it (the LB's
 * tls_cert lines), for tls_site_load. */
#ifndef TS_TLS_CONF_H
#define TS_TLS_CONF_H

#define TLS_MAX_CERTS 16

struct tls_cert_conf {
	char *cert; /* PEM: the certificate, its chain, maybe its key */
	char *key;  /* PEM key, or NULL when it is in cert */
	int line;
};

#endif
