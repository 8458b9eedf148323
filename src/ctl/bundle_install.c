/* bundle_install.c - a bundle's install.sh (deploy/install.sh with the
 * host's settings filled in) and README. See bundle.c. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bundle.h"
#include "failover.h"

void bundle_roles_text(const struct conf_host *h, char *out, size_t len, const char *sep)
{
	static const struct {
		unsigned role;
		const char *name;
	} names[] = { { ROLE_LB, "lb" },
		      { ROLE_DNS, "dns" },
		      { ROLE_WEB, "web" },
		      { ROLE_APP, "app" },
		      { ROLE_DB_PRIMARY, "db-primary" },
		      { ROLE_DB_REPLICA, "db-replica" } };
	size_t o = 0;
	out[0] = '\0';
	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		if ((h->roles & names[i].role) && o < len)
			o +=
			    (size_t)snprintf(out + o, len - o, "%s%s", o ? sep : "", names[i].name);
}

/* This host's database role as the bundle deploys it: the current primary
 * (mdb_primary: a promotion counts) or a replica of it. */
static const char *db_role(const struct bundle *b)
{
	if (!bundle_is_db(b->h) || b->primary == NULL)
		return "";
	return b->h == b->primary ? "primary" : "replica";
}

static void packages(struct bundle *b)
{
	FILE *f = b->packages.f;
	/* tristack itself: OpenSSL, inih, Connector/C (and zlib through it) */
	const char *always[] = { "libssl3",  "libinih1", "libmariadb3",     "zlib1g",
		                 "nftables", "curl",     "ca-certificates", "systemd" };
	for (size_t i = 0; i < ARRAY_SIZE(always); i++)
		bundle_sh_word(f, always[i]);
	if (b->h->roles & ROLE_APP)
		bundle_sh_word(f, "libjansson4");
	if (b->h->roles & ROLE_WEB)
		bundle_sh_word(f, "media-types"); /* /etc/mime.types */
	if (b->h->roles & ROLE_DNS)
		bundle_sh_word(f, "libldns3");
	if ((b->h->roles & ROLE_LB) && vrrp_on(b->c))
		bundle_sh_word(f, "keepalived");
	if ((b->h->roles & ROLE_LB) && acme_on(b->c))
		bundle_sh_word(f, "certbot"); /* tristack certs renew */
	if (bundle_is_db(b->h))
		bundle_sh_word(f, "mariadb-server");
}

int bundle_put_install(struct bundle *b)
{
	char tmpl_path[TS_PATH_MAX], *tmpl;
	size_t tmpl_len;
	snprintf(tmpl_path, sizeof(tmpl_path), "%s/deploy/install.sh", b->c->root);
	if (bundle_read_all(b, tmpl_path, &tmpl, &tmpl_len) < 0)
		return -1;
	static const char mark[] = "# @BUNDLE_SETTINGS@\n";
	char *at = strstr(tmpl, mark);
	if (at == NULL) {
		free(tmpl);
		return bundle_fail(b, "%s: no '%.*s' line", tmpl_path, (int)sizeof(mark) - 2, mark);
	}
	packages(b);
	fflush(b->packages.f);
	fflush(b->checks.f);
	fflush(b->operator_files.f);
	fflush(b->tls_cert_files.f);
	char roles[128];
	bundle_roles_text(b->h, roles, sizeof(roles), " ");
	struct bundle_out o;
	FILE *f = bundle_out_open(b, &o);
	if (f == NULL) {
		free(tmpl);
		return -1;
	}
	fwrite(tmpl, 1, (size_t)(at - tmpl), f);
	fprintf(f, "# ---- settings of %s, from `tristack bundle %s` ----\nHOST=", b->h->name,
	        b->h->name);
	bundle_sh_quote(f, b->h->name);
	fprintf(f, "\nROLES=");
	bundle_sh_quote(f, roles);
	fprintf(f, "\nDOMAIN=");
	bundle_sh_quote(f, b->c->cfg.site.domain);
	fprintf(f, "\n# this host's daemons, in start order\nUNITS=(");
	for (size_t r = 0; r < ARRAY_SIZE(bundle_roles); r++)
		if (b->h->roles & bundle_roles[r].role)
			bundle_sh_word(f, bundle_roles[r].daemon);
	if ((b->h->roles & ROLE_LB) && vrrp_on(b->c)) {
		bundle_sh_word(f, "tristack-vrrp-check");
		bundle_sh_word(f, "tristack-keepalived");
	}
	bundle_failover_units(b, f);
	fprintf(f, " )\n# timers: NAME.timer starts the oneshot NAME.service\nTIMERS=(");
	bundle_acme_timers(b, f);
	fprintf(f, " )\nPACKAGES=(%s )\n", b->packages.text);
	fprintf(f, "# \"daemon URL\": what must answer once they run\nCHECKS=(%s )\n",
	        b->checks.text);
	fprintf(f,
	        "# files the stack file names that the operator installs\nOPERATOR_FILES=(%s )\n",
	        b->operator_files.text);
	fprintf(f, "# [lb] tls_cert files (certbot's)\nTLS_CERT_FILES=(%s )\n",
	        b->tls_cert_files.text);
	fprintf(f, "# '' | primary | replica\nDB_ROLE=");
	bundle_sh_quote(f, db_role(b));
	fprintf(f, "\nSCHEMA=");
	bundle_sh_quote(f, b->c->cfg.db.name);
	fprintf(f, "\nDB_PORT=%lld\nPRIMARY=", (long long)b->c->cfg.db.port);
	bundle_sh_quote(f, b->primary ? b->primary->name : "");
	fprintf(f, "\nPRIMARY_ADDRESS=");
	bundle_sh_quote(f, b->primary ? b->primary->address : "");
	const struct conf_host *mon = mon_conf_host(&b->c->cfg);
	fprintf(f, "\n# [db] auto_failover: the host of tristack failover-monitor ('': off)\n"
	           "FAILOVER_MONITOR=");
	bundle_sh_quote(f, bundle_failover_on(b) && mon ? mon->name : "");
	fprintf(f, "\n# ----\n");
	fputs(at + sizeof(mark) - 1, f);
	free(tmpl);
	return bundle_out_put(b, &o, "install.sh", 0755);
}

/* The order the hosts go in: database primary, replicas, web/app, lb/dns. */
static int install_rank(const struct bundle *b, const struct conf_host *h)
{
	if (h == b->primary)
		return 0;
	if (bundle_is_db(h))
		return 1;
	if (h->roles & (ROLE_WEB | ROLE_APP))
		return 2;
	return 3;
}

int bundle_put_readme(struct bundle *b)
{
	const struct conf *s = &b->c->cfg;
	char roles[128];
	bundle_roles_text(b->h, roles, sizeof(roles), ", ");
	struct bundle_out o;
	FILE *f = bundle_out_open(b, &o);
	if (f == NULL)
		return -1;
	fprintf(f,
	        "tristack-%s: the host %s (%s, roles %s) of www.%s, for Debian 12.\n"
	        "Made by `tristack bundle %s` from %s.\n\n"
	        "Install (as root, on %s):\n\n"
	        "    tar xzf tristack-%s.tar.gz && ./tristack-%s/install.sh\n\n"
	        "install.sh is idempotent: run it again after any change (a new bundle of\n"
	        "the same host upgrades it). It ends with checks of every daemon.\n\n"
	        "Order across the hosts (a replica needs its primary, the apps need the\n"
	        "database, the LB needs servers to send to):\n",
	        b->h->name, b->h->name, b->h->address, roles, s->site.domain, b->h->name, s->path,
	        b->h->name, b->h->name, b->h->name);
	int step = 1;
	for (int rank = 0; rank < 4; rank++)
		for (unsigned i = 0; i < s->nhosts; i++)
			if (install_rank(b, &s->hosts[i]) == rank) {
				char r[128];
				bundle_roles_text(&s->hosts[i], r, sizeof(r), ", ");
				fprintf(f, "  %d. %-8s %-15s %s%s\n", step++, s->hosts[i].name,
				        s->hosts[i].address, r,
				        &s->hosts[i] == b->h ? "   <- this one" : "");
			}
	fprintf(f, "\nInside:\n"
	           "  bin/                    to " T_BIN ":");
	for (size_t r = 0; r < ARRAY_SIZE(bundle_roles); r++)
		if (b->h->roles & bundle_roles[r].role)
			fprintf(f, " %s", bundle_roles[r].daemon);
	fprintf(
	    f,
	    " tristack\n"
	    "  etc/tristack/           to /etc/tristack: foobar.conf (the stack file), host\n"
	    "  systemd/                to /etc/systemd/system: a unit per daemon, user tristack\n"
	    "  nftables/tristack.nft   to /etc/nftables.d, included from /etc/nftables.conf\n");
	if (b->h->roles & ROLE_WEB)
		fprintf(
		    f,
		    "  share/                  to " T_SHARE " (the daemons' working directory):\n"
		    "                          the web root and what else the stack file names by\n"
		    "                          relative path\n");
	if (b->h->roles & ROLE_APP && b->primary)
		fprintf(f, "  secrets/app.password    to " T_STATE
		           "/secrets (0600): the app's database password\n"
		           "  secrets/cookie.key      to " T_STATE
		           "/secrets (0600): the apps' shared signing key\n");
	if (bundle_is_db(b->h) && b->primary) {
		fprintf(f,
		        "  mariadb/60-tristack.cnf to /etc/mysql/mariadb.conf.d: server_id, binary "
		        "log,\n"
		        "                          bind_address %s, read_only %s\n",
		        b->h->address, b->h == b->primary && !bundle_failover_on(b) ? "OFF" : "ON");
		if (b->h == b->primary)
			fprintf(f,
			        "  mariadb/provision.sql   the schema %s, the accounts app and "
			        "repl (0600:\n"
			        "                          passwords)\n"
			        "  mariadb/migrations/     applied in order, once each "
			        "(%s.schema_migrations)\n",
			        s->db.name, s->db.name);
		else
			fprintf(f,
			        "  mariadb/replica.sql     replication from %s (%s) by GTID (0600: "
			        "password)\n",
			        b->primary->name, b->primary->address);
	}
	if (bundle_failover_on(b) && bundle_is_db(b->h))
		fprintf(f, "  systemd/tristack-db-guard.service  as mysql, CAP_NET_ADMIN: this "
		           "MariaDB's port\n"
		           "                          closed while it is read-only and no replica; "
		           "killed when hung\n");
	if (bundle_failover_on(b) && b->h == mon_conf_host(s))
		fprintf(f, "  systemd/tristack-failover-monitor.service  the automatic failover "
		           "(as tristack)\n"
		           "  secrets/" FAILOVER_ACCOUNT
		           ".password, secrets/repl.password  to " T_STATE "/secrets (0600)\n");
	if (bundle_acme_on(b))
		fprintf(f, "  systemd/tristack-certs-renew.{service,timer}  tristack certs renew "
		           "daily, as\n"
		           "                          tristack: the site's certificates from "
		           "[lb] acme_directory\n");
	if (b->local_tls)
		fprintf(f, "  tls/                    to " T_STATE
		           "/tls: the site's certificates from the local CA of\n"
		           "                          the machine that made the bundle (keys 0600; "
		           "browsers\n"
		           "                          do not trust it: docs/deploy.md, "
		           "Certificates from ACME)\n");
	else if (b->h->roles & ROLE_LB && s->lb.ntls_certs)
		fprintf(
		    f,
		    "  (no tls/)               the stack file's tls_cert lines name the "
		    "certificates:\n"
		    "                          install them (certbot's) before install.sh, which\n"
		    "                          checks the tristack user can read them\n");
	fprintf(f, "  install.sh, README\n\n"
	           "After install: journalctl -u tristack-* ; systemctl reload tristack-lb "
	           "(SIGHUP);\n" T_BIN "/tristack -c " T_CONF " --state " T_STATE " status\n"
	           "The whole procedure (order, DNS, certificates, a third web server,\n"
	           "upgrades, rollback, backups, failover): docs/deploy.md in the checkout.\n");
	return bundle_out_put(b, &o, "README", 0644);
}
