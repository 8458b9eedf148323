/* netns.c - isolated mode: every host of the stack file is a Linux network
 * namespace on a private bridge, plus a `client` namespace to stand in.
 *
 *   PREFIXsw        the switch: a bridge, one veth per host (nothing of the
 *                   lab shows in the root namespace)
 *   PREFIXHOST      eth0 with the stack file's address, lo, no default
 *                   route, IPv6 off, the host's nftables table
 *
 * The root namespace routes the lab's /24 off the machine by default: while
 * the lab is up it gets `unreachable SUBNET` instead. resolv.conf for `ip
 * netns exec` lives in /etc/netns/PREFIXHOST/. The prefix comes from the
 * state folder, so two labs (two state folders) never share a name.
 * See ../shared/notes/netns.md for the facts this rests on.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "conf/names.h"
#include "ctl.h"

#define SWITCH "sw"

static int root_ns = -1; /* this process's own namespace, to come back to */

int run_tool(char *const argv[], char *err, size_t errlen)
{
	int report; /* its stderr */
	pid_t pid = fork_with_report(&report, err, errlen);
	if (pid < 0)
		return -1;
	if (pid == 0) {
		dup2(report, STDERR_FILENO);
		int devnull = open("/dev/null", O_RDWR);
		dup2(devnull, STDIN_FILENO);
		dup2(devnull, STDOUT_FILENO);
		execvp(argv[0], argv);
		fprintf(stderr, "cannot run %s: %s", argv[0], strerror(errno));
		_exit(127);
	}
	char msg[512];
	size_t n = 0;
	ssize_t r;
	while ((r = read(report, msg + n, sizeof(msg) - 1 - n)) > 0 && n < sizeof(msg) - 1)
		n += (size_t)r;
	close(report);
	msg[n] = '\0';
	msg[strcspn(msg, "\n")] = '\0';
	int st;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return 0;
	size_t o = 0;
	for (int i = 0; argv[i] && o < errlen; i++) {
		int k = snprintf(err + o, errlen - o, "%s%s", i ? " " : "", argv[i]);
		if (k < 0)
			break;
		o += (size_t)k;
	}
	if (o < errlen)
		snprintf(err + o, errlen - o, ": %s", n ? msg : "failed");
	return -1;
}

#define TOOL(...)                                                                                  \
	do {                                                                                       \
		char *const argv_[] = { __VA_ARGS__, NULL };                                       \
		if (run_tool(argv_, err, errlen) < 0)                                              \
			return -1;                                                                 \
	} while (0)

const char *lab_ns(const struct ctl *c, const char *host, char *out, size_t len)
{
	snprintf(out, len, "%s%s", c->ns_prefix, host);
	return out;
}

int lab_plan(struct ctl *c, char *err, size_t errlen)
{
	/* the prefix: a short hash of the state folder */
	uint32_t h = 2166136261u;
	for (const char *p = c->state; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	snprintf(c->ns_prefix, sizeof(c->ns_prefix), "ts%04x-", h & 0xffff);
	uint32_t net = 0;
	for (unsigned i = 0; i < c->cfg.nhosts; i++) {
		const struct conf_host *host = &c->cfg.hosts[i];
		struct in_addr a;
		if (inet_pton(AF_INET, host->address, &a) != 1) {
			snprintf(err, errlen,
			         "isolated mode needs IPv4 addresses; %s has '%s' (see "
			         "conf/foobar-isolated.conf)",
			         host->name, host->address);
			return -1;
		}
		uint32_t ip = ntohl(a.s_addr);
		if ((ip >> 24) == 127) {
			snprintf(
			    err, errlen,
			    "isolated mode needs private addresses, not loopback ones (%s is %s): "
			    "use a stack file like conf/foobar-isolated.conf",
			    host->name, host->address);
			return -1;
		}
		if ((ip & 0xff) == 0 || (ip & 0xff) == 255 || (ip & 0xff) == 100) {
			snprintf(err, errlen,
			         "%s: %s is not usable here (.0, .255, or .100, the client's)",
			         host->name, host->address);
			return -1;
		}
		if (i > 0 && (ip & 0xffffff00u) != net) {
			snprintf(err, errlen,
			         "isolated mode puts every host in one /24; %s (%s) is not",
			         host->name, host->address);
			return -1;
		}
		net = ip & 0xffffff00u;
		if (strcmp(host->name, "client") == 0 || strcmp(host->name, SWITCH) == 0) {
			snprintf(err, errlen, "a host may not be called '%s' in isolated mode",
			         host->name);
			return -1;
		}
	}
	if (vrrp_on(c)) {
		struct in_addr v;
		uint32_t ip = inet_pton(AF_INET, c->cfg.site.vip, &v) == 1 ? ntohl(v.s_addr) : 0;
		if ((ip & 0xffffff00u) != net || (ip & 0xff) == 0 || (ip & 0xff) == 255 ||
		    (ip & 0xff) == 100) {
			snprintf(err, errlen,
			         "[site] vip %s must be an address of the hosts' /24 (not .0, .255 "
			         "or .100, the client's)",
			         c->cfg.site.vip);
			return -1;
		}
	}
	struct in_addr n = { htonl(net) }, cl = { htonl(net | 100) };
	char nb[INET_ADDRSTRLEN];
	inet_ntop(AF_INET, &n, nb, sizeof(nb));
	snprintf(c->subnet, sizeof(c->subnet), "%s/24", nb);
	inet_ntop(AF_INET, &cl, c->client_address, sizeof(c->client_address));
	/* the resolver: the DNS on the floating address when the LB hosts
	 * serve it (whichever holds it answers), else the first DNS host */
	const struct conf_host *dns = conf_host_with_role(&c->cfg, ROLE_DNS);
	const char *ns = dns ? dns->address : "";
	if (dns && vrrp_on(c) && (dns->roles & ROLE_LB))
		ns = c->cfg.site.vip;
	snprintf(c->dns_address, sizeof(c->dns_address), "%s", ns);
	return 0;
}

bool lab_is_up(const struct ctl *c)
{
	char path[128];
	snprintf(path, sizeof(path), "/run/netns/%s%s", c->ns_prefix, SWITCH);
	return access(path, F_OK) == 0;
}

int netns_enter(const struct ctl *c, const char *host)
{
	if (root_ns < 0)
		root_ns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	char path[128];
	snprintf(path, sizeof(path), "/run/netns/%s%s", c->ns_prefix, host);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int r = setns(fd, CLONE_NEWNET);
	close(fd);
	return r;
}

void netns_leave(void)
{
	if (root_ns >= 0)
		(void)setns(root_ns, CLONE_NEWNET);
}

static int write_file(const char *path, const char *text, char *err, size_t errlen)
{
	FILE *f = fopen(path, "w");
	if (f == NULL || fputs(text, f) < 0) {
		snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
		if (f)
			fclose(f);
		return -1;
	}
	if (fclose(f) != 0) {
		snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

static int host_up(struct ctl *c, const char *name, const char *address, const struct conf_host *h,
                   char *err, size_t errlen);

/* A host's firewall, kept in the state folder, loaded (the table is
 * replaced whole: a reload of it keeps the established connections; the
 * fence is a table of its own, left alone). */
static int host_firewall(struct ctl *c, const char *name, const struct conf_host *h, char *err,
                         size_t errlen)
{
	char rules[16384], nft[TS_PATH_MAX + 100], ns[64];
	lab_ns(c, name, ns, sizeof(ns));
	if (fw_render(c, h, rules, sizeof(rules)) < 0) {
		snprintf(err, errlen, "firewall of %s: %s", name, rules);
		return -1;
	}
	snprintf(nft, sizeof(nft), "%s/firewall", c->state);
	TOOL("mkdir", "-p", nft);
	snprintf(nft, sizeof(nft), "%s/firewall/%s.nft", c->state, name);
	if (write_file(nft, rules, err, errlen) < 0)
		return -1;
	TOOL("ip", "netns", "exec", ns, "nft", "-f", nft);
	return 0;
}

static bool ns_exists(const struct ctl *c, const char *name)
{
	char path[128];
	snprintf(path, sizeof(path), "/run/netns/%s%s", c->ns_prefix, name);
	return access(path, F_OK) == 0;
}

int lab_firewalls(struct ctl *c, char *err, size_t errlen)
{
	for (unsigned i = 0; i < c->cfg.nhosts; i++) {
		const struct conf_host *h = &c->cfg.hosts[i];
		if (ns_exists(c, h->name) && host_firewall(c, h->name, h, err, errlen) < 0)
			return -1;
	}
	return 0;
}

/* A lab that is up, made what the file says: a host new to it gets its
 * namespace, every other host its firewall again (its rules name the new
 * host's address where they must). */
static int lab_reconcile(struct ctl *c, char *err, size_t errlen)
{
	for (unsigned i = 0; i < c->cfg.nhosts; i++) {
		const struct conf_host *h = &c->cfg.hosts[i];
		if (ns_exists(c, h->name))
			continue;
		if (host_up(c, h->name, h->address, h, err, errlen) < 0)
			return -1;
		printf("  %-7s its namespace and firewall are made (new in the stack file)\n",
		       h->name);
	}
	return lab_firewalls(c, err, errlen);
}

/* One host's namespace: its end of the wire, its address, its resolver,
 * its firewall. */
static int host_up(struct ctl *c, const char *name, const char *address, const struct conf_host *h,
                   char *err, size_t errlen)
{
	char ns[64], sw[64], veth[32], cidr[64];
	lab_ns(c, name, ns, sizeof(ns));
	lab_ns(c, SWITCH, sw, sizeof(sw));
	snprintf(veth, sizeof(veth), "v-%.12s", name);
	snprintf(cidr, sizeof(cidr), "%s/24", address);
	TOOL("ip", "netns", "add", ns);
	TOOL("ip", "-n", sw, "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns",
	     ns);
	TOOL("ip", "-n", sw, "link", "set", veth, "master", "br0", "up");
	TOOL("ip", "-n", ns, "link", "set", "lo", "up");
	TOOL("ip", "-n", ns, "addr", "add", cidr, "dev", "eth0");
	TOOL("ip", "-n", ns, "link", "set", "eth0", "up");
	TOOL("ip", "netns", "exec", ns, "sysctl", "-q", "-w", "net.ipv6.conf.all.disable_ipv6=1");
	if (h == NULL) /* the client: a refused or dropped connect fails in ~3 s */
		TOOL("ip", "netns", "exec", ns, "sysctl", "-q", "-w", "net.ipv4.tcp_syn_retries=1");
	/* resolv.conf for `ip netns exec` (and so `tristack exec`) */
	char dir[256], path[300], text[512];
	snprintf(dir, sizeof(dir), "/etc/netns/%s", ns);
	if (mkdir("/etc/netns", 0755) < 0 && errno != EEXIST) {
		snprintf(err, errlen, "cannot make /etc/netns: %s", strerror(errno));
		return -1;
	}
	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		snprintf(err, errlen, "cannot make %s: %s", dir, strerror(errno));
		return -1;
	}
	snprintf(path, sizeof(path), "%s/resolv.conf", dir);
	snprintf(text, sizeof(text),
	         "# tristack: this host's resolver is the lab's DNS server\n"
	         "nameserver %s\nsearch %s\noptions timeout:1 attempts:2\n",
	         c->dns_address[0] ? c->dns_address : "127.0.0.1", c->cfg.site.domain);
	if (write_file(path, text, err, errlen) < 0)
		return -1;
	if (host_firewall(c, name, h, err, errlen) < 0)
		return -1;
	/* a host fenced by a failover stays fenced across down and up */
	char mark[TS_PATH_MAX] = "";
	if (h)
		failover_fenced_path(c, h, mark, sizeof(mark));
	if (h && access(mark, F_OK) == 0 && failover_fence(c, h, true) < 0) {
		snprintf(err, errlen, "cannot fence %s again", name);
		return -1;
	}
	return 0;
}

int lab_up(struct ctl *c, char *err, size_t errlen)
{
	if (geteuid() != 0) {
		snprintf(err, errlen, "isolated mode makes network namespaces: run it as root");
		return -1;
	}
	if (lab_is_up(c)) /* made by an earlier up: what the file changed since */
		return lab_reconcile(c, err, errlen);
	char sw[64];
	lab_ns(c, SWITCH, sw, sizeof(sw));
	/* guard first: from now on nothing of the subnet leaves the machine */
	TOOL("ip", "route", "replace", "unreachable", c->subnet);
	if (run_tool((char *const[]){ "ip", "netns", "add", sw, NULL }, err, errlen) < 0)
		goto fail;
	if (run_tool(
	        (char *const[]){ "ip", "-n", sw, "link", "add", "br0", "type", "bridge", NULL },
	        err, errlen) < 0 ||
	    run_tool((char *const[]){ "ip", "-n", sw, "link", "set", "br0", "up", NULL }, err,
	             errlen) < 0)
		goto fail;
	for (unsigned i = 0; i < c->cfg.nhosts; i++) {
		const struct conf_host *h = &c->cfg.hosts[i];
		if (host_up(c, h->name, h->address, h, err, errlen) < 0)
			goto fail;
	}
	if (host_up(c, "client", c->client_address, NULL, err, errlen) < 0)
		goto fail;
	return 0;
fail:;
	char keep[512];
	snprintf(keep, sizeof(keep), "%s", err);
	lab_down(c);
	snprintf(err, errlen, "%s", keep);
	return -1;
}

/* Namespace ns (a full name) and its resolv.conf folder. */
static void ns_del(const char *ns)
{
	char dir[300], path[340], err[256], path_ns[128];
	snprintf(path_ns, sizeof(path_ns), "/run/netns/%s", ns);
	if (access(path_ns, F_OK) == 0)
		run_tool((char *const[]){ "ip", "netns", "del", (char *)ns, NULL }, err,
		         sizeof(err));
	snprintf(dir, sizeof(dir), "/etc/netns/%s", ns);
	snprintf(path, sizeof(path), "%s/resolv.conf", dir);
	unlink(path);
	rmdir(dir);
}

/* Each namespace of this lab (its prefix) whose host the stack file does
 * not have, or every one (all): its name after the prefix to fn. */
static void each_lab_ns(struct ctl *c, bool all, void (*fn)(struct ctl *, const char *))
{
	DIR *d = opendir("/run/netns");
	if (d == NULL)
		return;
	size_t plen = strlen(c->ns_prefix);
	char names[256][64];
	unsigned n = 0;
	for (struct dirent *e; (e = readdir(d)) && n < ARRAY_SIZE(names);) {
		const char *host = e->d_name + plen;
		if (strncmp(e->d_name, c->ns_prefix, plen) != 0 || strlen(host) >= sizeof(names[0]))
			continue;
		if (!all && (conf_host(&c->cfg, host) || strcmp(host, "client") == 0 ||
		             strcmp(host, SWITCH) == 0))
			continue;
		snprintf(names[n++], sizeof(names[0]), "%s", host);
	}
	closedir(d);
	for (unsigned i = 0; i < n; i++)
		fn(c, names[i]);
}

static void remove_host(struct ctl *c, const char *host)
{
	char ns[64], path[TS_PATH_MAX + 100];
	ns_del(lab_ns(c, host, ns, sizeof(ns)));
	snprintf(path, sizeof(path), "%s/firewall/%s.nft", c->state, host);
	unlink(path);
	snprintf(path, sizeof(path), "%s/firewall/%s.fence.nft", c->state, host);
	unlink(path);
	if (strcmp(host, SWITCH) != 0 && strcmp(host, "client") != 0)
		printf("  %-7s its namespace is gone (no longer in the stack file)\n", host);
}

void lab_remove_leftovers(struct ctl *c)
{
	each_lab_ns(c, false, remove_host);
}

static void remove_any(struct ctl *c, const char *host)
{
	char ns[64];
	if (strcmp(host, SWITCH) != 0) /* last: the veths' switch ends go with it */
		ns_del(lab_ns(c, host, ns, sizeof(ns)));
}

void lab_down(struct ctl *c)
{
	char err[256], ns[64];
	/* every namespace of the prefix: hosts the file dropped too */
	each_lab_ns(c, true, remove_any);
	ns_del(lab_ns(c, SWITCH, ns, sizeof(ns)));
	if (c->subnet[0])
		run_tool((char *const[]){ "ip", "route", "del", "unreachable", c->subnet, NULL },
		         err, sizeof(err));
}
