/* firewall.c - each host's nftables rules, made from the roles of the
 * stack file:
 *
 *   lb   HTTP and HTTPS from anywhere; its admin port from [site] admin;
 *        with a floating address ([site] vip), VRRP from the other LB
 *        hosts, and a connection to a port nothing listens on is dropped,
 *        not refused (see below)
 *   dns  53/udp and 53/tcp from anywhere; its admin port from [site] admin
 *   web  its port from the load balancer(s) only; admin port from [site] admin
 *   app  its port from its own host only (its web server); admin port from
 *        [site] admin
 *   db   3306 from the app hosts and the other database hosts (replication,
 *        either way: a promotion turns it around), and the monitoring host
 *        with [db] auto_failover (the failover monitor: its probe in the
 *        lab; on servers every statement of its account, failover.h)
 *
 * The admin ports (/metrics of every daemon), the MariaDB exporters' and
 * the supervisor's take the "watchers": [site] admin, the monitoring host
 * (its Prometheus scrapes them) and the load balancer(s) (the LB's
 * dashboard polls its peers). Prometheus's own port takes [site] admin and
 * its host.
 *
 * and on every host: loopback, established and related traffic, ICMP;
 * everything else is dropped. One table, `inet tristack`, replaced whole
 * when loaded (so loading twice is loading once).
 */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ctl.h"

struct out {
	char *p;
	size_t len, used;
	bool overflow;
};

static void put(struct out *o, const char *fmt, ...) TS_PRINTF(2, 3);

static void put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	size_t room = o->used < o->len ? o->len - o->used : 0;
	int n = vsnprintf(o->p + o->used, room, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= room)
		o->overflow = true;
	else
		o->used += (size_t)n;
}

/* The port of a listen spec (":8080", "10.0.0.1:80"), or 0. */
static int spec_port(const struct ctl *c, const char *spec, const struct conf_host *h)
{
	struct addr a;
	char e[256];
	if (spec == NULL || spec[0] == '\0' ||
	    conf_resolve_addr(&c->cfg, spec, h, &a, e, sizeof(e)) < 0)
		return 0;
	return addr_port(&a);
}

/* Add address to the list "a, b" in out, unless it is there. */
static void add_addr(char *out, size_t len, const char *address)
{
	size_t alen = strlen(address);
	for (const char *p = out; (p = strstr(p, address)) != NULL; p += alen)
		if ((p == out || p[-1] == ' ') && (p[alen] == '\0' || p[alen] == ','))
			return;
	size_t o = strlen(out);
	int n = snprintf(out + o, len - o, "%s%s", o ? ", " : "", address);
	if (n < 0 || (size_t)n >= len - o)
		out[o] = '\0';
}

/* Add the addresses of the hosts that have any of roles to the list
 * "a, b" in out (each once). */
static void hosts_with(const struct ctl *c, unsigned roles, const struct conf_host *except,
                       char *out, size_t len)
{
	for (unsigned i = 0; i < c->cfg.nhosts; i++) {
		const struct conf_host *h = &c->cfg.hosts[i];
		if ((h->roles & roles) && h != except)
			add_addr(out, len, h->address);
	}
}

/* An "ip saddr { from } tcp dport PORT" rule for spec on h, when both are. */
static void allow(struct out *o, const struct ctl *c, const struct conf_host *h, const char *spec,
                  const char *from, const char *what)
{
	int p = spec_port(c, spec, h);
	if (p && from[0])
		put(o, "\t\tip saddr { %s } tcp dport %d accept comment \"%s\"\n", from, p, what);
}

/* [site] admin: host names become their addresses; CIDRs and addresses
 * stay. Returns -1 with err for a word that is neither. */
static int admin_sources(const struct ctl *c, char *out, size_t len, char *err, size_t errlen)
{
	size_t o = 0;
	out[0] = '\0';
	const char *a = c->cfg.site.admin ? c->cfg.site.admin : "";
	char word[128];
	while (*a) {
		while (*a == ' ' || *a == '\t' || *a == ',')
			a++;
		size_t n = strcspn(a, " \t,");
		if (n == 0)
			break;
		if (n >= sizeof(word)) {
			snprintf(err, errlen, "[site] admin: '%.*s' is too long", (int)n, a);
			return -1;
		}
		memcpy(word, a, n);
		word[n] = '\0';
		a += n;
		const char *addr = NULL;
		const struct conf_host *h = conf_host(&c->cfg, word);
		if (h)
			addr = h->address;
		else if (strcmp(word, "client") == 0 && c->client_address[0])
			addr = c->client_address;
		else {
			char ip[128];
			unsigned char buf[16];
			snprintf(ip, sizeof(ip), "%s", word);
			char *slash = strchr(ip, '/');
			if (slash)
				*slash = '\0';
			if (inet_pton(AF_INET, ip, buf) == 1)
				addr = word;
		}
		if (addr == NULL) {
			snprintf(
			    err, errlen,
			    "[site] admin: '%s' is neither a host of the stack file nor an IPv4 "
			    "address or CIDR",
			    word);
			return -1;
		}
		int k = snprintf(out + o, len - o, "%s%s", o ? ", " : "", addr);
		if (k < 0 || (size_t)k >= len - o) {
			snprintf(err, errlen, "[site] admin: too long");
			return -1;
		}
		o += (size_t)k;
	}
	return 0;
}

/* On the monitoring host: the supervisor's metrics for those who watch;
 * Prometheus and Alertmanager for the admin sources and the host itself
 * (Prometheus sends to Alertmanager there). */
static void allow_monitoring(struct out *o, const struct ctl *c, const struct conf_host *h,
                             const char *admin, const char *watch)
{
	const struct mon_conf *m = &c->cfg.monitoring;
	char set[2048];
	allow(o, c, h, m->supervisor, watch, "the supervisor's metrics");
	if (!mon_on(c))
		return;
	snprintf(set, sizeof(set), "%s", admin);
	add_addr(set, sizeof(set), h->address);
	allow(o, c, h, m->listen, set, "prometheus");
	allow(o, c, h, m->alertmanager, set, "alertmanager");
}

int fw_render(const struct ctl *c, const struct conf_host *h, char *buf, size_t len)
{
	struct out o = { buf, len, 0, false };
	char err[256], admin[1024], set[2048], watch[2048];
	if (admin_sources(c, admin, sizeof(admin), err, sizeof(err)) < 0) {
		snprintf(buf, len, "%s", err);
		return -1;
	}
	const struct conf *s = &c->cfg;
	const struct conf_host *mon = mon_conf_host(s);
	snprintf(watch, sizeof(watch), "%s", admin);
	if (mon)
		add_addr(watch, sizeof(watch), mon->address);
	hosts_with(c, ROLE_LB, NULL, watch, sizeof(watch));
	put(&o, "# tristack: the firewall of %s (%s), made from the stack file's roles.\n",
	    h ? h->name : "client", h ? h->address : c->client_address);
	put(&o, "# Loaded with nft -f; the table is replaced whole.\n");
	put(&o, "table inet tristack\ndelete table inet tristack\n\n");
	put(&o, "table inet tristack {\n");
	put(&o, "\tchain input {\n\t\ttype filter hook input priority filter; policy drop;\n");
	put(&o, "\t\tiif \"lo\" accept\n");
	put(&o, "\t\tct state established,related accept\n");
	put(&o, "\t\tct state invalid drop\n");
	put(&o, "\t\tmeta l4proto { icmp, ipv6-icmp } accept\n");
	unsigned roles = h ? h->roles : 0;
	bool vip = vrrp_on(c) && (roles & ROLE_LB);
	if (vip) {
		set[0] = '\0';
		hosts_with(c, ROLE_LB, h, set, sizeof(set));
		if (set[0])
			put(&o,
			    "\t\tip saddr { %s } ip protocol vrrp accept comment \"vrrp: the "
			    "other LB hosts\"\n",
			    set);
	}
	if (roles & ROLE_LB) {
		int p = spec_port(c, s->lb.http.listen, h), tp = spec_port(c, s->lb.tls_listen, h);
		/* On an LB of a pair, a SYN that finds no listener (the LB died a
		 * moment ago and this host still holds the address) is dropped,
		 * not answered with a reset: the client sends it again a second
		 * later, when the other LB holds the address, instead of failing
		 * at once. (`socket` finds the listening socket, if any.) */
		const char *listening = vip ? "socket transparent 0 " : "";
		if (p)
			put(&o, "\t\ttcp dport %d %saccept comment \"lb: HTTP from anywhere\"\n", p,
			    listening);
		if (tp)
			put(&o, "\t\ttcp dport %d %saccept comment \"lb: HTTPS from anywhere\"\n",
			    tp, listening);
		if (vip && p && tp)
			put(&o,
			    "\t\ttcp dport { %d, %d } drop comment \"lb: not listening: the "
			    "client tries again\"\n",
			    p, tp);
		allow(&o, c, h, s->lb.http.admin, watch, "lb: admin");
	}
	if (roles & ROLE_DNS) {
		int p = spec_port(c, s->dns.listen, h);
		const char *listening = vip ? "socket transparent 0 " : "";
		if (p) {
			put(&o, "\t\tudp dport %d %saccept comment \"dns\"\n", p, listening);
			put(&o, "\t\ttcp dport %d %saccept comment \"dns over TCP\"\n", p,
			    listening);
		}
		allow(&o, c, h, s->dns.admin, watch, "dns: admin");
	}
	if (roles & ROLE_WEB) {
		int p = spec_port(c, s->web.http.listen, h);
		set[0] = '\0';
		hosts_with(c, ROLE_LB, NULL, set, sizeof(set));
		if (p && set[0])
			put(&o,
			    "\t\tip saddr { %s } tcp dport %d accept comment \"web: from the load "
			    "balancer\"\n",
			    set, p);
		allow(&o, c, h, s->web.http.admin, watch, "web: admin");
	}
	if (roles & ROLE_APP) {
		int p = spec_port(c, s->app.http.listen, h);
		if (p)
			put(&o,
			    "\t\tip saddr %s tcp dport %d accept comment \"app: from its own "
			    "host's "
			    "web server\"\n",
			    h->address, p);
		allow(&o, c, h, s->app.http.admin, watch, "app: admin");
	}
	if (roles & (ROLE_DB_PRIMARY | ROLE_DB_REPLICA)) {
		set[0] = '\0';
		hosts_with(c, ROLE_APP, NULL, set, sizeof(set));
		hosts_with(c, ROLE_DB_PRIMARY | ROLE_DB_REPLICA, h, set, sizeof(set));
		/* the failover monitor (the supervisor; on servers failover-monitor) */
		if (mon && s->db.auto_failover)
			add_addr(set, sizeof(set), mon->address);
		if (set[0])
			put(&o,
			    "\t\tip saddr { %s } tcp dport %lld accept comment \"db: the apps, "
			    "replication%s\"\n",
			    set, (long long)s->db.port,
			    mon && s->db.auto_failover ? ", the failover monitor" : "");
	}
	if ((roles & (ROLE_DB_PRIMARY | ROLE_DB_REPLICA)) && mon_on(c))
		allow(&o, c, h, s->monitoring.mysqld_exporter, watch, "db: its exporter");
	if (h && h == mon)
		allow_monitoring(&o, c, h, admin, watch);
	put(&o, "\t}\n");
	put(&o, "\tchain forward {\n\t\ttype filter hook forward priority filter; policy drop;\n"
	        "\t}\n");
	put(&o, "\tchain output {\n\t\ttype filter hook output priority filter; policy accept;\n"
	        "\t}\n");
	put(&o, "}\n");
	if (o.overflow) {
		snprintf(buf, len, "the rules do not fit");
		return -1;
	}
	return 0;
}
