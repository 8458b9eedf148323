/* bundle_acme.c - the renewal of the site's certificates from ACME ([lb]
 * acme_directory, acme.c) on each LB host, what its bundle carries for it:
 *
 *   - tristack-certs-renew.service, Type=oneshot: `tristack certs renew`
 *     as the tristack account, with no capability but the LB's (see
 *     put_service: it finds the LB by its /proc/PID/exe, which the
 *     kernel shows only to a process with every capability the LB holds).
 *     Nothing it does needs root:
 *     what it writes ({state}/acme, certbot's webroot; {state}/secrets/acme,
 *     certbot's account, lineages and work folder; {state}/log/certbot;
 *     {state}/tls/site-*.pem) is the account's (install.sh makes it so),
 *     and the LB it sends SIGHUP runs as that account too. Run as root,
 *     certs renew would need CAP_CHOWN, CAP_FOWNER, CAP_DAC_OVERRIDE,
 *     CAP_KILL and CAP_SYS_PTRACE (the LB's /proc/PID/exe): root in all but
 *     name, running certbot and its Python;
 *   - tristack-certs-renew.timer: daily, a random hour's delay, a run
 *     missed while the server was off made up at boot, as Debian's
 *     certbot.timer (certbot renews a lineage only within 30 days of its
 *     end, so a daily run costs the CA nothing).
 *
 * In an LB pair ([site] vip) the CA's HTTP-01 request reaches the LB that
 * holds the floating address, so the service runs on that one alone
 * (ExecCondition on the state vrrp-check keeps); a run on the other would
 * fail the challenge.
 */
#include <stdio.h>
#include <string.h>

#include "bundle.h"
#include "conf/names.h"

#define UNIT_RENEW "tristack-certs-renew"

/* Will `tristack certs renew` run on this host? Only an LB renews, and
 * only what it serves itself: tls_listen, no tls_cert of the operator's
 * (else cmd_certs refuses, and a timer would fail every day). */
bool bundle_acme_on(const struct bundle *b)
{
	const struct lb_conf *lb = &b->c->cfg.lb;
	return (b->h->roles & ROLE_LB) && acme_on(b->c) && lb->tls_listen && lb->tls_listen[0] &&
	       lb->ntls_certs == 0;
}

void bundle_acme_timers(const struct bundle *b, FILE *f)
{
	if (bundle_acme_on(b))
		bundle_sh_word(f, UNIT_RENEW);
}

static int put_service(struct bundle *b)
{
	const char *host = b->h->name;
	struct bundle_out o;
	FILE *f = bundle_out_open(b, &o);
	if (f == NULL)
		return -1;
	fprintf(f,
	        "# " UNIT_RENEW ".service: the certificates of www.%s from ACME (certbot),\n"
	        "# renewed within 30 days of their end; started by " UNIT_RENEW ".timer.\n"
	        "# Made by `tristack bundle %s`.\n"
	        "[Unit]\n"
	        "Description=tristack certs renew (ACME) on %s\n"
	        "Wants=network-online.target\n"
	        "After=network-online.target tristack-lb.service\n"
	        "\n"
	        "[Service]\n"
	        "Type=oneshot\n",
	        b->c->cfg.site.domain, host, host);
	if (vrrp_on(b->c)) {
		struct vrrp_paths p;
		vrrp_paths(T_STATE "/" STATE_VRRP, "/etc/tristack", host, &p);
		fprintf(f,
		        "# the CA's challenge reaches the LB holding the floating address: "
		        "renew there\n"
		        "ExecCondition=/bin/grep -qx state=MASTER %s\n",
		        p.state);
	}
	fprintf(f,
	        "# not root: what it writes is tristack's, and so is the LB it reloads\n"
	        "User=tristack\n"
	        "Group=tristack\n"
	        "ExecStart=%s/tristack -c %s --state %s certs renew\n"
	        "# certbot waits on the CA; a hung run must not hold off the next\n"
	        "TimeoutStartSec=15min\n",
	        T_BIN, T_CONF, T_STATE);
	if (bundle_low_port(b, ROLE_LB))
		fprintf(f, "# the LB's capability, to bind nothing: the kernel shows a process's\n"
		           "# /proc/PID/exe only to one holding every capability it holds, and\n"
		           "# certs renew reads the LB's there before it sends it SIGHUP\n"
		           "AmbientCapabilities=CAP_NET_BIND_SERVICE\n"
		           "CapabilityBoundingSet=CAP_NET_BIND_SERVICE\n");
	else
		fprintf(f, "CapabilityBoundingSet=\n");
	fprintf(f, "ProtectKernelTunables=yes\n"
	           "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX\n"
	           "SystemCallFilter=@system-service\n"
	           "SystemCallErrorNumber=EPERM\n"
	           "UMask=0027\n");
	bundle_unit_sandbox(f, T_STATE, NULL); /* no [Install]: the timer starts it */
	return bundle_out_put(b, &o, "systemd/" UNIT_RENEW ".service", 0644);
}

static int put_timer(struct bundle *b)
{
	struct bundle_out o;
	FILE *f = bundle_out_open(b, &o);
	if (f == NULL)
		return -1;
	fprintf(f,
	        "# " UNIT_RENEW ".timer: " UNIT_RENEW ".service daily, made by `tristack "
	        "bundle %s`.\n"
	        "[Unit]\n"
	        "Description=tristack certs renew (ACME) daily on %s\n"
	        "\n"
	        "[Timer]\n"
	        "OnCalendar=daily\n"
	        "RandomizedDelaySec=1h\n"
	        "# a run missed while the server was off: at boot\n"
	        "Persistent=true\n"
	        "\n"
	        "[Install]\n"
	        "WantedBy=timers.target\n",
	        b->h->name, b->h->name);
	return bundle_out_put(b, &o, "systemd/" UNIT_RENEW ".timer", 0644);
}

int bundle_put_acme(struct bundle *b)
{
	if (!bundle_acme_on(b)) {
		if ((b->h->roles & ROLE_LB) && acme_on(b->c))
			fprintf(stderr,
			        "tristack: bundle: warning: [lb] acme_directory is set, but "
			        "`tristack certs renew`\n  refuses to run without tls_listen or "
			        "with tls_cert: %s gets no renewal timer\n",
			        b->h->name);
		return 0;
	}
	return put_service(b) < 0 ? -1 : put_timer(b);
}
