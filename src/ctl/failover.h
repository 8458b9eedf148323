/* failover.h - what the failover monitor's two homes share. The decision
 * (failover.c: when the primary is lost, whom to promote, when an old
 * primary rejoins, when a primary that came back read-only is made writable)
 * is one; what differs is the way it reaches an instance:
 *
 *   - the lab's supervisor (fo_lab_way): every instance's Unix socket as
 *     the operator, the probe over TCP from the monitoring host's namespace,
 *     the fence at the old primary's firewall and a hung process killed;
 *   - a server's `tristack failover-monitor HOST` (failover_servers.c), on
 *     the monitoring host: every instance over TCP as the account
 *     FAILOVER_ACCOUNT, from that host's address; the fence there is the
 *     remote part (read_only, the app's sessions killed), the rest is the
 *     `tristack db-guard HOST` beside each instance (db_guard.c).
 */
#ifndef TS_CTL_FAILOVER_H
#define TS_CTL_FAILOVER_H

#include "ctl.h"

/* The servers' monitor logs in as this MariaDB account, with the password
 * in {state}/secrets/FAILOVER_ACCOUNT.password (conf/names.h's suffix). */
#define FAILOVER_ACCOUNT "tsfailover"
/* A round of the monitor, and of the guard */
#define FO_PROBE_MS         500
#define FO_PROBE_TIMEOUT_MS 1000

struct fo_way {
	const char *name; /* in the log: "lab", "servers" */
	/* An administrative session with h (multi-statements on); NULL with
	 * err when it does not answer. */
	MYSQL *(*admin)(const struct ctl *c, const struct conf_host *h, char *err, size_t errlen);
	/* Does h answer a MariaDB handshake over TCP from the monitoring host,
	 * within FO_PROBE_TIMEOUT_MS? */
	bool (*probe)(const struct ctl *c, const struct conf_host *h);
	/* The lost primary's process, if the way reaches it: killed when it
	 * is there but hung (NULL: the way cannot; a guard on its host does). */
	void (*kill_hung)(struct ctl *c, const struct conf_host *h);
};
extern const struct fo_way fo_servers_way;

/* A MariaDB session over TCP with h as user/pw, from source address bind
 * (NULL: the system's choice), connect timeout timeout_s, read timeout
 * read_s; NULL with err. *refused_alive: it was refused by the server
 * itself (an account it does not take, too many connections): the
 * instance answered. */
MYSQL *fo_connect_tcp(const struct ctl *c, const struct conf_host *h, const char *user,
                      const char *pw, const char *bind, unsigned timeout_s, unsigned read_s,
                      bool *refused_alive, char *err, size_t errlen);
/* {state}/secrets/NAME.password, read (never made: a missing one is -1). */
int fo_secret(const struct ctl *c, const char *name, char *out, size_t len);
/* The nftables script of the fence of a database host: its port closed
 * to all but loopback and allow (an address, or NULL); new_only: to new
 * connections only (the guard's: a replica's running I/O thread goes on
 * receiving what a primary made read-only by hand has committed). */
int fo_fence_rules(const struct ctl *c, const char *allow, bool new_only, char *out, size_t len);
void fo_log(const char *fmt, ...) TS_PRINTF(1, 2);
uint64_t fo_now_ms(void);

/* failover_servers.c, for the two agents of servers (the monitor and
 * db_guard.c's guard): SIGTERM and SIGINT end the loop; a sleep a signal
 * cuts short; HOST checked (NULL, said why on stderr, when it is not a
 * host that runs cmd: the monitoring host, a database host). */
void fo_agent_signals(void);
bool fo_agent_stopping(void);
void fo_agent_sleep_until(uint64_t when);
const struct conf_host *fo_agent_host(const struct ctl *c, int argc, char **argv, const char *cmd);

#endif
