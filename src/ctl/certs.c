/* certs.c - the certificates `tristack up` makes when the stack file names
 * none: a local CA, made once, and an ECDSA P-256 and an RSA 2048
 * certificate for www.<domain> and <domain> signed by it, remade when they
 * near their end (or the domain changes). The CA is constrained to the
 * site's names and the LBs' addresses (ca_constraints). Keys are 0600; the CA certificate
 * is what clients are told to trust. All in {state}/tls/.
 */
#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/tls.h"
#include "ctl.h"

#define CA_DAYS        3650
#define LEAF_DAYS      397 /* what browsers accept for a server certificate */
#define RENEW_DAYS     30
#define CRL_DAYS       60
#define CRL_RENEW_DAYS 20

static void fmt(char *out, size_t len, const char *f, const char *a, const char *b)
{
	snprintf(out, len, f, a, b);
}

static void openssl_err(char *err, size_t errlen, const char *what)
{
	char why[200];
	unsigned long e = ERR_get_error();
	ERR_error_string_n(e, why, sizeof(why));
	ERR_clear_error();
	snprintf(err, errlen, "%s: %s", what, e ? why : "failed");
}

/* Write PEM blocks to path with the given mode (made afresh, then renamed
 * over the old file, so a reader never sees half a file). */
static int write_pem(const char *path, mode_t mode, X509 *cert, X509 *chain, EVP_PKEY *key,
                     char *err, size_t errlen)
{
	char tmp[4400];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0) {
		snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
		return -1;
	}
	fchmod(fd, mode);
	FILE *f = fdopen(fd, "w");
	int ok = f != NULL;
	if (ok && cert)
		ok = PEM_write_X509(f, cert);
	if (ok && chain)
		ok = PEM_write_X509(f, chain);
	if (ok && key)
		ok = PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
	if (f == NULL)
		close(fd);
	else if (fclose(f) != 0)
		ok = 0;
	if (!ok || rename(tmp, path) < 0) {
		snprintf(err, errlen, "cannot write %s", path);
		unlink(tmp);
		ERR_clear_error();
		return -1;
	}
	return 0;
}

static EVP_PKEY *new_key(bool rsa)
{
	return rsa ? EVP_RSA_gen(2048) : EVP_EC_gen("P-256");
}

static int add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX v3;
	X509V3_set_ctx_nodb(&v3);
	X509V3_set_ctx(&v3, issuer, cert, NULL, NULL, 0);
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
	if (ext == NULL)
		return -1;
	int ok = X509_add_ext(cert, ext, -1);
	X509_EXTENSION_free(ext);
	return ok ? 0 : -1;
}

/* A certificate for key, signed by ca_key (issuer NULL: self-signed). */
static X509 *make_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *ca_key, int days,
                       const char *const *exts)
{
	X509 *x = X509_new();
	unsigned char serial[16];
	BIGNUM *bn = NULL;
	if (x == NULL || RAND_bytes(serial, sizeof(serial)) != 1)
		goto fail;
	serial[0] &= 0x7f; /* positive */
	bn = BN_bin2bn(serial, sizeof(serial), NULL);
	if (bn == NULL || BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) == NULL)
		goto fail;
	X509_set_version(x, 2);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_time_adj_ex(X509_getm_notAfter(x), days, 0, NULL);
	X509_set_pubkey(x, key);
	X509_NAME *name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"tristack", -1,
	                           -1, 0);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
	for (int i = 0; exts[i]; i += 2)
		if (add_ext(x, issuer ? issuer : x, OBJ_txt2nid(exts[i]), exts[i + 1]) < 0)
			goto fail;
	if (X509_sign(x, ca_key, EVP_sha256()) == 0)
		goto fail;
	BN_free(bn);
	return x;
fail:
	BN_free(bn);
	X509_free(x);
	return NULL;
}

static X509 *read_cert(const char *path)
{
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return NULL;
	X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	ERR_clear_error();
	return x;
}

static EVP_PKEY *read_key(const char *path)
{
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return NULL;
	EVP_PKEY *k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	ERR_clear_error();
	return k;
}

/* The CA's nameConstraints (critical): the site's domain and its
 * subdomains, and the addresses its certificates name (the LB hosts', the
 * pair's floating address), so that a leaked CA key mints nothing a client
 * would take for another site. Not the other hosts': a web server added to
 * the stack must not change the CA every client trusts. */
static void ca_constraints(const struct conf *s, char *out, size_t len)
{
	size_t o = (size_t)snprintf(out, len, "critical,permitted;DNS:%s", s->site.domain);
	for (unsigned i = 0; i < s->nhosts && o < len; i++) {
		const char *a = s->hosts[i].address;
		bool v6 = strchr(a, ':') != NULL;
		if (!(s->hosts[i].roles & ROLE_LB))
			continue;
		o += (size_t)snprintf(out + o, len - o, ",permitted;IP:%s/%s", a,
		                      v6 ? "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"
		                         : "255.255.255.255");
	}
	if (s->site.vip && s->site.vip[0] && o < len) /* the pair's floating address */
		snprintf(out + o, len - o, ",permitted;IP:%s/255.255.255.255", s->site.vip);
}

/* An extension's lines as OpenSSL prints them, into a string of the
 * caller's (freed with free), or NULL. */
static char *ext_text(X509_EXTENSION *ext)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *text = NULL;
	if (b && X509V3_EXT_print(b, ext, 0, 0) == 1 && BIO_write(b, "\n", 2) == 2) {
		char *p;
		long n = BIO_get_mem_data(b, &p);
		text = n > 0 ? strndup(p, (size_t)n) : NULL;
	}
	BIO_free(b);
	return text;
}

/* Does ca permit at least what these constraints permit (each of their
 * subtrees is one of its own; it may have more: a CA made when the stack had
 * other addresses stays trusted), critical, and exclude nothing? A CA made
 * before constraints existed, or for another domain, is made again. */
static bool ca_constrained(X509 *ca, const char *constraints)
{
	int i = X509_get_ext_by_NID(ca, NID_name_constraints, -1);
	X509_EXTENSION *have = i >= 0 ? X509_get_ext(ca, i) : NULL;
	X509V3_CTX v3;
	X509V3_set_ctx_nodb(&v3);
	X509V3_set_ctx(&v3, ca, ca, NULL, NULL, 0);
	X509_EXTENSION *want = X509V3_EXT_conf_nid(NULL, &v3, NID_name_constraints, constraints);
	char *h = have && X509_EXTENSION_get_critical(have) ? ext_text(have) : NULL;
	char *w = want ? ext_text(want) : NULL;
	bool ok = h && w && strstr(h, "Excluded") == NULL;
	/* each line of w (a subtree, or the "Permitted:" heading) is in h */
	for (char *line = w, *nl; ok && line && *line; line = nl + 1) {
		nl = strchr(line, '\n');
		if (nl == NULL)
			break;
		*nl = '\0';
		bool found = false;
		for (const char *at = h; !found && (at = strstr(at, line)); at++)
			found = (at == h || at[-1] == '\n') &&
			        (at[strlen(line)] == '\n' || at[strlen(line)] == '\0');
		ok = found;
	}
	free(h);
	free(w);
	X509_EXTENSION_free(want);
	ERR_clear_error();
	return ok;
}

/* Is the leaf at path still good: signed by ca, for these names, with
 * more than RENEW_DAYS left? */
static bool leaf_ok(const char *path, X509 *ca, const char *www, const char *domain, const char *ip)
{
	X509 *x = read_cert(path);
	if (x == NULL)
		return false;
	int days = 0, secs = 0;
	EVP_PKEY *cakey = X509_get0_pubkey(ca);
	bool ok = X509_verify(x, cakey) == 1 && X509_check_host(x, www, 0, 0, NULL) == 1 &&
	          X509_get_ext_by_NID(x, NID_crl_distribution_points, -1) >= 0 &&
	          X509_check_host(x, domain, 0, 0, NULL) == 1 &&
	          (ip == NULL || X509_check_ip_asc(x, ip, 0) == 1) &&
	          ASN1_TIME_diff(&days, &secs, NULL, X509_get0_notAfter(x)) && days > RENEW_DAYS;
	X509_free(x);
	ERR_clear_error();
	return ok;
}

/* The CA's revocation list (empty: nothing is revoked), published by the
 * LB at CRL_PATH over plain HTTP; re-signed when it nears its nextUpdate. */
static int ensure_crl(const char *path, X509 *ca, EVP_PKEY *cakey, bool *renewed, char *err,
                      size_t errlen)
{
	FILE *f = fopen(path, "r");
	X509_CRL *old = f ? PEM_read_X509_CRL(f, NULL, NULL, NULL) : NULL;
	if (f)
		fclose(f);
	ERR_clear_error();
	int days = 0, secs = 0;
	bool good = old && X509_CRL_verify(old, X509_get0_pubkey(ca)) == 1 &&
	            X509_CRL_get0_nextUpdate(old) &&
	            ASN1_TIME_diff(&days, &secs, NULL, X509_CRL_get0_nextUpdate(old)) &&
	            days > CRL_RENEW_DAYS;
	X509_CRL_free(old);
	ERR_clear_error();
	if (good)
		return 0;
	X509_CRL *crl = X509_CRL_new();
	ASN1_TIME *t = ASN1_TIME_new();
	int ok = crl && t && X509_CRL_set_version(crl, 1) &&
	         X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca)) &&
	         X509_gmtime_adj(t, 0) && X509_CRL_set1_lastUpdate(crl, t) &&
	         X509_time_adj_ex(t, CRL_DAYS, 0, NULL) && X509_CRL_set1_nextUpdate(crl, t) &&
	         X509_CRL_sign(crl, cakey, EVP_sha256());
	ASN1_TIME_free(t);
	if (!ok) {
		X509_CRL_free(crl);
		openssl_err(err, errlen, "signing the CA's revocation list");
		return -1;
	}
	char tmp[4400];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	ok = f && PEM_write_X509_CRL(f, crl);
	if (f && fclose(f) != 0)
		ok = 0;
	X509_CRL_free(crl);
	if (!ok || rename(tmp, path) < 0) {
		snprintf(err, errlen, "cannot write %s", path);
		unlink(tmp);
		return -1;
	}
	*renewed = true;
	return 0;
}

int certs_ensure(struct ctl *c, bool *renewed, char *err, size_t errlen)
{
	*renewed = false;
	if (c->cfg.lb.tls_listen == NULL || c->cfg.lb.tls_listen[0] == '\0' ||
	    c->cfg.lb.ntls_certs > 0)
		return 0; /* no HTTPS, or the operator's own certificates */
	char dir[TS_PATH_MAX], ca_crt[TS_PATH_MAX + 100], ca_key[TS_PATH_MAX + 100],
	    path[TS_PATH_MAX + 100];
	fmt(dir, sizeof(dir), "%s/tls%s", c->state, "");
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		snprintf(err, errlen, "cannot make %s: %s", dir, strerror(errno));
		return -1;
	}
	fmt(ca_crt, sizeof(ca_crt), "%s/%s", dir, "ca.crt");
	fmt(ca_key, sizeof(ca_key), "%s/%s", dir, "ca.key");
	const char *domain = c->cfg.site.domain;
	const struct conf_host *lb = conf_host_with_role(&c->cfg, ROLE_LB);
	const char *ip = lb && lb->address && lb->address[0] ? lb->address : NULL;
	if (vrrp_on(c)) /* the pair's: clients reach the floating address */
		ip = c->cfg.site.vip;
	char www[300], cn[300];
	snprintf(www, sizeof(www), "www.%s", domain);
	char constraints[CONF_MAX_HOSTS * 64 + 300];
	ca_constraints(&c->cfg, constraints, sizeof(constraints));
	X509 *ca = read_cert(ca_crt);
	EVP_PKEY *cakey = read_key(ca_key);
	int rc = -1;
	if (ca && !ca_constrained(ca, constraints))
		printf("  the local CA lacks this stack's name constraints: made again; "
		       "clients must trust the new %s\n",
		       ca_crt);
	if (ca == NULL || cakey == NULL || X509_check_private_key(ca, cakey) != 1 ||
	    !ca_constrained(ca, constraints)) {
		ERR_clear_error();
		X509_free(ca);
		EVP_PKEY_free(cakey);
		cakey = new_key(false);
		snprintf(cn, sizeof(cn), "tristack local CA for %s", domain);
		const char *const ca_exts[] = { "basicConstraints",
			                        "critical,CA:TRUE,pathlen:0",
			                        "keyUsage",
			                        "critical,keyCertSign,cRLSign",
			                        "subjectKeyIdentifier",
			                        "hash",
			                        "nameConstraints",
			                        constraints,
			                        NULL };
		ca = cakey ? make_cert(cakey, cn, NULL, cakey, CA_DAYS, ca_exts) : NULL;
		if (ca == NULL) {
			openssl_err(err, errlen, "making the local CA");
			goto out;
		}
		if (write_pem(ca_key, 0600, NULL, NULL, cakey, err, errlen) < 0 ||
		    write_pem(ca_crt, 0644, ca, NULL, NULL, err, errlen) < 0)
			goto out;
		printf("  made a local CA: %s\n", ca_crt);
	}
	fmt(path, sizeof(path), "%s/%s", dir, "ca.crl");
	if (ensure_crl(path, ca, cakey, renewed, err, errlen) < 0)
		goto out;
	/* where the LB publishes it: plain HTTP, as RFC 5280 clients expect */
	char crl_uri[400], port[16] = "";
	struct addr la;
	char e[256];
	if (lb && conf_resolve_addr(&c->cfg, c->cfg.lb.http.listen, lb, &la, e, sizeof(e)) == 0 &&
	    addr_port(&la) != 80)
		snprintf(port, sizeof(port), ":%d", addr_port(&la));
	snprintf(crl_uri, sizeof(crl_uri), "URI:http://%s%s%s", www, port, TS_CRL_PATH);
	for (int rsa = 0; rsa < 2; rsa++) {
		/* ACME's, once obtained (tristack certs renew), and the local
		 * CA's only until then */
		int acme = acme_on(c) ? acme_install(c, (unsigned)rsa, renewed, err, errlen) : 0;
		if (acme < 0)
			goto out;
		fmt(path, sizeof(path), "%s/%s", dir, rsa ? "site-rsa.pem" : "site-ecdsa.pem");
		if (acme > 0 || leaf_ok(path, ca, www, domain, ip))
			continue;
		/* the LB's address too, so https://ADDRESS/ verifies as well */
		char san[700];
		snprintf(san, sizeof(san), "DNS:%s,DNS:%s%s%s", www, domain, ip ? ",IP:" : "",
		         ip ? ip : "");
		const char *const leaf_exts[] = {
			"basicConstraints",
			"critical,CA:FALSE",
			"keyUsage",
			rsa ? "critical,digitalSignature,keyEncipherment"
			    : "critical,digitalSignature",
			"extendedKeyUsage",
			"serverAuth",
			"subjectAltName",
			san,
			"authorityKeyIdentifier",
			"keyid",
			"crlDistributionPoints",
			crl_uri,
			NULL,
		};
		EVP_PKEY *key = new_key(rsa);
		X509 *leaf = key ? make_cert(key, www, ca, cakey, LEAF_DAYS, leaf_exts) : NULL;
		if (leaf == NULL) {
			openssl_err(err, errlen, "making the site's certificate");
			EVP_PKEY_free(key);
			goto out;
		}
		int w = write_pem(path, 0600, leaf, NULL, key, err, errlen);
		X509_free(leaf);
		EVP_PKEY_free(key);
		if (w < 0)
			goto out;
		printf("  made a certificate for %s and %s (%s): %s\n", www, domain,
		       rsa ? "RSA" : "ECDSA", path);
		*renewed = true;
	}
	rc = 0;
out:
	X509_free(ca);
	EVP_PKEY_free(cakey);
	return rc;
}
