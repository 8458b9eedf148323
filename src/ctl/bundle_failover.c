/* bundle_failover.c - automatic failover on real servers ([db]
 * auto_failover = on), what the bundles carry for it (see failover.h and
 * docs/deploy.md):
 *
 *   - the monitoring host ([monitoring] host): tristack-failover-monitor
 *     .service (`tristack failover-monitor HOST`, as the tristack account,
 *     no capability), and in secrets/ the password of its MariaDB account
 *     (FAILOVER_ACCOUNT, made by the primary's provision.sql at that host's
 *     address) and repl's, which a promotion and a rejoin give CHANGE MASTER;
 *   - each database host: tristack-db-guard.service (`tristack db-guard
 *     HOST`, as the mysql account, which may signal its own mariadbd, with
 *     CAP_NET_ADMIN alone, for its nftables table); its cnf says read_only
 *     = ON (bundle_mariadb.c), so that an instance back from a restart
 *     takes no write until the monitor makes it the writable primary.
 */
#include <stdio.h>
#include <string.h>

#include "bundle.h"
#include "conf/names.h"
#include "failover.h"

#define UNIT_MONITOR "tristack-failover-monitor"
#define UNIT_GUARD   "tristack-db-guard"

bool bundle_failover_on(const struct bundle *b)
{
	return b->c->cfg.db.auto_failover && b->primary && mon_conf_host(&b->c->cfg);
}

static bool runs_monitor(const struct bundle *b)
{
	return bundle_failover_on(b) && b->h == mon_conf_host(&b->c->cfg);
}

static bool runs_guard(const struct bundle *b)
{
	return bundle_failover_on(b) && bundle_is_db(b->h);
}

void bundle_failover_units(const struct bundle *b, FILE *f)
{
	if (runs_guard(b))
		bundle_sh_word(f, UNIT_GUARD);
	if (runs_monitor(b))
		bundle_sh_word(f, UNIT_MONITOR);
}

static int put_agent_unit(struct bundle *b, bool monitor)
{
	const char *host = b->h->name, *unit = monitor ? UNIT_MONITOR : UNIT_GUARD;
	struct bundle_out o;
	FILE *f = bundle_out_open(b, &o);
	if (f == NULL)
		return -1;
	fprintf(f,
	        "# %s.service: %s of www.%s, made by `tristack bundle %s`.\n"
	        "[Unit]\n"
	        "Description=tristack %s on %s\n"
	        "Wants=network-online.target\n"
	        "After=network-online.target%s\n"
	        "StartLimitIntervalSec=60\n"
	        "StartLimitBurst=5\n"
	        "\n"
	        "[Service]\n"
	        "Type=exec\n",
	        unit,
	        monitor
	            ? "the failover monitor of the database"
	            : "the guard of this host's MariaDB (the fence's firewall; killed when hung)",
	        b->c->cfg.site.domain, host, monitor ? "failover-monitor" : "db-guard", host,
	        monitor ? "" : " mariadb.service");
	if (monitor)
		fprintf(f,
		        "User=tristack\n"
		        "Group=tristack\n"
		        "ExecStart=%s/tristack -c %s --state %s failover-monitor %s\n"
		        "CapabilityBoundingSet=\n"
		        "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX\n",
		        T_BIN, T_CONF, T_STATE, host);
	else
		fprintf(f,
		        "# mysql: it may signal its own mariadbd (and no other process)\n"
		        "User=mysql\n"
		        "Group=mysql\n"
		        "# " T_STATE "/run: the links to MariaDB's socket and pid file\n"
		        "SupplementaryGroups=tristack\n"
		        "ExecStart=%s/tristack -c %s --state %s db-guard %s\n"
		        "# nft, for its table inet tsfence alone\n"
		        "AmbientCapabilities=CAP_NET_ADMIN\n"
		        "CapabilityBoundingSet=CAP_NET_ADMIN\n"
		        "RestrictAddressFamilies=AF_UNIX AF_NETLINK\n",
		        T_BIN, T_CONF, T_STATE, host);
	fprintf(f, "Restart=always\n"
	           "RestartSec=1\n"
	           "UMask=0027\n"
	           "ProtectKernelTunables=yes\n");
	bundle_unit_sandbox(f, monitor ? T_STATE : NULL, "multi-user.target");
	char rel[128];
	snprintf(rel, sizeof(rel), "systemd/%s.service", unit);
	return bundle_out_put(b, &o, rel, 0644);
}

int bundle_put_failover(struct bundle *b)
{
	if (runs_guard(b) && put_agent_unit(b, false) < 0)
		return -1;
	if (!runs_monitor(b))
		return 0;
	if (bundle_is_db(b->h))
		fprintf(
		    stderr,
		    "tristack: bundle: warning: the failover monitor runs on %s, a database "
		    "host:\n  lost with the primary on it, no one fails over. Give [monitoring] "
		    "host a host\n  without a database (deploy/servers.conf: lb-01)\n",
		    b->h->name);
	/* what the monitor logs in with, and what it gives CHANGE MASTER */
	static const char *const names[] = { FAILOVER_ACCOUNT, "repl" };
	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		char pw[128], rel[128];
		if (mdb_secret(b->c, names[i], pw, sizeof(pw)) < 0)
			return bundle_fail(b, "cannot read or make %s/" STATE_SECRETS "/%s%s",
			                   b->c->state, names[i], SECRET_PASSWORD_SUFFIX);
		snprintf(rel, sizeof(rel), STATE_SECRETS "/%s" SECRET_PASSWORD_SUFFIX, names[i]);
		int rc = bundle_put_file(b, rel, 0600, pw, strlen(pw));
		explicit_bzero(pw, sizeof(pw));
		if (rc < 0)
			return -1;
	}
	return put_agent_unit(b, true);
}
