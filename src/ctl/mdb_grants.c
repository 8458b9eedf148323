/* mdb_grants.c - the app's MariaDB account given exactly what it may do
 * (mdb_app_grants), on a primary that serves: see mdb_app_grants_apply. */
#include <mysql.h>
#include <mysqld_error.h>
#include <stdio.h>
#include <string.h>

#include "ctl.h"

/* Is priv one of the comma-separated list's? */
static bool listed(const char *list, const char *priv)
{
	size_t n = strlen(priv);
	for (const char *p = list; (p = strstr(p, priv)); p += n)
		if ((p == list || p[-1] == ' ' || p[-1] == ',') && (p[n] == ',' || p[n] == '\0'))
			return true;
	return false;
}

/* The revokes that narrow the app's account at from (escaped) towards
 * mdb_app_grants, as many as fit in out (each once): -1 with err when the
 * privileges cannot be read. An object that is not one of the list's tables
 * (a schema, *.*, another table) loses all it has there at once; one of
 * them, each privilege beyond the list; a column privilege, itself; a grant
 * option, once per object. */
static int narrowing(MYSQL *m, const char *schema, const char *from, char out[][768], unsigned max,
                     unsigned *n, char *err, size_t errlen)
{
	static const char *const views[] = { "TABLE_PRIVILEGES", "COLUMN_PRIVILEGES",
		                             "SCHEMA_PRIVILEGES", "USER_PRIVILEGES" };
	static const char *const cols[] = { "TABLE_SCHEMA, TABLE_NAME, ''",
		                            "TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME",
		                            "TABLE_SCHEMA, '*', ''", "'*', '*', ''" };
	char q[2048];
	size_t o = 0;
	for (size_t v = 0; v < ARRAY_SIZE(views); v++)
		o += (size_t)snprintf(q + o, sizeof(q) - o,
		                      "%sSELECT %s, PRIVILEGE_TYPE, IS_GRANTABLE FROM "
		                      "information_schema.%s WHERE GRANTEE = "
		                      "CONCAT('''app''@''', '%s', '''') AND "
		                      "(PRIVILEGE_TYPE <> 'USAGE' OR IS_GRANTABLE = 'YES')",
		                      v ? " UNION ALL " : "", cols[v], views[v], from);
	MYSQL_RES *res = mysql_query(m, q) == 0 ? mysql_store_result(m) : NULL;
	if (res == NULL) {
		snprintf(err, errlen, "the app account's privileges: %s", mysql_error(m));
		return -1;
	}
	*n = 0;
	for (MYSQL_ROW r; (r = mysql_fetch_row(res)) && *n + 2 <= max;) {
		bool table = strcmp(r[1], "*") != 0, column = r[2][0] != '\0';
		const char *want = NULL;
		for (const struct mdb_grant *g = mdb_app_grants; g->table && table; g++)
			if (strcmp(r[0], schema) == 0 && strcmp(r[1], g->table) == 0)
				want = g->privileges;
		char on[300], what[300] = "ALL PRIVILEGES", line[768];
		snprintf(on, sizeof(on),
		         table               ? "`%.100s`.`%.100s`"
		         : strcmp(r[0], "*") ? "`%.100s`.*"
		                             : "*.*",
		         r[0], r[1]);
		if (column)
			snprintf(what, sizeof(what), "%.64s (`%.150s`)", r[3], r[2]);
		else if (want)
			snprintf(what, sizeof(what), "%.64s", r[3]);
		for (int k = 0; k < 2; k++) {
			if (k == 0 &&
			    ((want && !column && listed(want, r[3])) || strcmp(r[3], "USAGE") == 0))
				continue; /* wanted, or only there for its grant option */
			if (k == 1 && strcmp(r[4], "YES") != 0)
				continue;
			snprintf(line, sizeof(line), "REVOKE %s ON %s FROM 'app'@'%.64s'",
			         k ? "GRANT OPTION" : what, on, from);
			bool dup = false;
			for (unsigned i = 0; i < *n && !dup; i++)
				dup = strcmp(out[i], line) == 0;
			if (!dup)
				snprintf(out[(*n)++], 768, "%s", line);
		}
	}
	mysql_free_result(res);
	return 0;
}

/* The app's account at from given exactly mdb_app_grants, and never less
 * meanwhile (the apps use it under load while up runs on a running stack):
 * what it lacks is granted first, then what it has beyond them (a grant
 * narrowed since an earlier up, or one added by hand) is revoked, in
 * rounds until nothing is beyond. */
int mdb_app_grants_apply(MYSQL *m, const char *schema, const char *from_raw, char *err,
                         size_t errlen)
{
	char from[140];
	mysql_real_escape_string(m, from, from_raw, (unsigned long)strnlen(from_raw, 64));
	for (const struct mdb_grant *g = mdb_app_grants; g->table; g++) {
		char q[512];
		snprintf(q, sizeof(q), "GRANT %s ON `%s`.`%s` TO 'app'@'%s'", g->privileges, schema,
		         g->table, from);
		if (mdb_sql(m, err, errlen, q) < 0)
			return -1;
	}
	for (int round = 0; round < 8; round++) {
		char revokes[16][768];
		unsigned n;
		if (narrowing(m, schema, from, revokes, ARRAY_SIZE(revokes), &n, err, errlen) < 0)
			return -1;
		if (n == 0)
			return 0;
		for (unsigned i = 0; i < n; i++)
			if (mdb_sql(m, err, errlen, revokes[i]) < 0 &&
			    mysql_errno(m) != ER_NONEXISTING_GRANT &&
			    mysql_errno(m) != ER_NONEXISTING_TABLE_GRANT)
				return -1;
	}
	snprintf(err, errlen,
	         "the app account at %s keeps privileges beyond its own after 8 "
	         "rounds of revokes",
	         from);
	return -1;
}
