/* tristack-lb's smooth weighted round robin (nginx's): the order of picks
 * for given weights, backup and weight-0 servers left out, `avoid` on a
 * retry, and exact shares over many picks, also from several threads. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "lb/lb.h"
#include "t.h"

#define MAX_SERVERS 8

/* Servers from a weight list; a negative weight makes a backup server of
 * that weight. */
static unsigned make_servers(struct proxy_server *sv, const int *weights, unsigned n)
{
	memset(sv, 0, n * sizeof(*sv));
	for (unsigned i = 0; i < n; i++) {
		sv[i].weight = (unsigned)(weights[i] < 0 ? -weights[i] : weights[i]);
		sv[i].backup = weights[i] < 0;
	}
	return n;
}

/* n picks as letters: "aabacaa". */
static void picks(struct lb_rr *rr, int n, int avoid, char *out)
{
	for (int i = 0; i < n; i++) {
		int s = lb_balance_next(rr, avoid);
		out[i] = s < 0 ? '-' : (char)('a' + s);
	}
	out[n] = '\0';
}

TEST(balance_order)
{
	static const struct {
		const char *what;
		int weights[MAX_SERVERS];
		unsigned n;
		const char *want; /* picks, two turns or more */
	} rows[] = {
		{ "1,1 alternate", { 1, 1 }, 2, "abababab" },
		{ "1,1,1 in turn", { 1, 1, 1 }, 3, "abcabcabc" },
		{ "5,1,1 smooth", { 5, 1, 1 }, 3, "aabacaaaabacaa" },
		{ "2,1", { 2, 1 }, 2, "abaaba" },
		{ "one server", { 3 }, 1, "aaaa" },
		{ "weight 0 left out", { 1, 0, 1 }, 3, "acacac" },
		{ "backup left out", { 1, -1, 1 }, 3, "acacac" },
		{ "backup of weight 5 left out", { -5, 1, 1 }, 3, "bcbc" },
		{ "only the first after zeros", { 0, 0, 2 }, 3, "cccc" },
		{ "4,2,1", { 4, 2, 1 }, 3, "abacabaabacaba" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		t_case("balance %s", rows[i].what);
		struct proxy_server sv[MAX_SERVERS];
		unsigned n = make_servers(sv, rows[i].weights, rows[i].n);
		struct lb_rr rr = { 0 };
		CHECK_EQ(lb_balance_build(&rr, sv, n), 0);
		char got[64];
		int len = (int)strlen(rows[i].want);
		picks(&rr, len, -1, got);
		CHECK_STR(got, rows[i].want);
		lb_balance_free(&rr);
		CHECK(rr.seq == NULL);
		CHECK_EQ(rr.len, 0);
	}
}

TEST(balance_no_server_to_pick)
{
	static const struct {
		const char *what;
		int weights[MAX_SERVERS];
		unsigned n;
	} rows[] = {
		{ "no servers", { 0 }, 0 },
		{ "all weight 0", { 0, 0 }, 2 },
		{ "all backup", { -1, -2 }, 2 },
		{ "backup and weight 0", { -1, 0 }, 2 },
	};
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		t_case("balance %s", rows[i].what);
		struct proxy_server sv[MAX_SERVERS];
		unsigned n = make_servers(sv, rows[i].weights, rows[i].n);
		struct lb_rr rr = { 0 };
		CHECK_EQ(lb_balance_build(&rr, sv, n), 0);
		CHECK_EQ(rr.len, 0);
		CHECK_EQ(lb_balance_next(&rr, -1), -1);
		CHECK_EQ(lb_balance_next(&rr, 0), -1);
		lb_balance_free(&rr);
	}
}

TEST(balance_avoid)
{
	struct proxy_server sv[MAX_SERVERS];
	struct lb_rr rr = { 0 };
	char got[64];

	t_case("balance avoid one of two");
	make_servers(sv, (const int[]){ 1, 1 }, 2);
	CHECK_EQ(lb_balance_build(&rr, sv, 2), 0);
	picks(&rr, 6, 0, got);
	CHECK_STR(got, "bbbbbb");
	picks(&rr, 6, 1, got);
	CHECK_STR(got, "aaaaaa");
	lb_balance_free(&rr);

	t_case("balance avoid the heavy one");
	make_servers(sv, (const int[]){ 5, 1, 1 }, 3);
	CHECK_EQ(lb_balance_build(&rr, sv, 3), 0);
	picks(&rr, 8, 0, got);
	CHECK(strchr(got, 'a') == NULL);
	CHECK(strchr(got, 'b') != NULL && strchr(got, 'c') != NULL);
	/* and the walk goes on from where the retries left it */
	int s = lb_balance_next(&rr, -1);
	CHECK(s >= 0 && s < 3);
	lb_balance_free(&rr);

	t_case("balance avoid a rare one");
	make_servers(sv, (const int[]){ 1, 255 }, 2);
	CHECK_EQ(lb_balance_build(&rr, sv, 2), 0);
	for (int i = 0; i < 600; i++)
		if (lb_balance_next(&rr, 1) != 0) {
			CHECK(0);
			break;
		}
	CHECK_EQ(lb_balance_next(&rr, 1), 0);
	lb_balance_free(&rr);

	t_case("balance avoid the only server");
	make_servers(sv, (const int[]){ 3 }, 1);
	CHECK_EQ(lb_balance_build(&rr, sv, 1), 0);
	picks(&rr, 4, 0, got);
	CHECK_STR(got, "aaaa");
	lb_balance_free(&rr);

	t_case("balance avoid the only one taking traffic");
	make_servers(sv, (const int[]){ 0, 2, -1 }, 3);
	CHECK_EQ(lb_balance_build(&rr, sv, 3), 0);
	picks(&rr, 4, 1, got);
	CHECK_STR(got, "bbbb");
	lb_balance_free(&rr);

	t_case("balance avoid a server out of the rotation");
	make_servers(sv, (const int[]){ 1, 1, -1 }, 3);
	CHECK_EQ(lb_balance_build(&rr, sv, 3), 0);
	picks(&rr, 4, 2, got);
	CHECK_STR(got, "abab");
	lb_balance_free(&rr);
}

TEST(balance_distribution_exact)
{
	static const struct {
		const char *what;
		int weights[MAX_SERVERS];
		unsigned n;
	} rows[] = {
		{ "5,1,1", { 5, 1, 1 }, 3 },
		{ "1,1", { 1, 1 }, 2 },
		{ "3,2,0,backup,2", { 3, 2, 0, -4, 2 }, 5 },
		{ "256,1", { 256, 1 }, 2 },
		{ "7,7,7,7,7,7,7,7", { 7, 7, 7, 7, 7, 7, 7, 7 }, 8 },
	};
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		t_case("balance distribution %s", rows[i].what);
		struct proxy_server sv[MAX_SERVERS];
		unsigned n = make_servers(sv, rows[i].weights, rows[i].n);
		struct lb_rr rr = { 0 };
		CHECK_EQ(lb_balance_build(&rr, sv, n), 0);
		unsigned total = 0;
		for (unsigned k = 0; k < n; k++)
			total += sv[k].backup ? 0 : sv[k].weight;
		CHECK_EQ(rr.len, total);
		/* 1000 turns: each server exactly 1000 x its weight. */
		unsigned count[MAX_SERVERS] = { 0 };
		for (unsigned k = 0; k < 1000 * total; k++) {
			int s = lb_balance_next(&rr, -1);
			if (s < 0 || s >= (int)n) {
				CHECK(0);
				break;
			}
			count[s]++;
		}
		for (unsigned k = 0; k < n; k++)
			CHECK_EQ(count[k], sv[k].backup ? 0 : 1000 * sv[k].weight);
		/* Within any turn, too: the first turn holds each weight. */
		memset(count, 0, sizeof(count));
		for (unsigned k = 0; k < total; k++)
			count[rr.seq[k]]++;
		for (unsigned k = 0; k < n; k++)
			CHECK_EQ(count[k], sv[k].backup ? 0 : sv[k].weight);
		lb_balance_free(&rr);
	}

	t_case("balance 7000 picks of 5,1,1");
	struct proxy_server sv[3];
	make_servers(sv, (const int[]){ 5, 1, 1 }, 3);
	struct lb_rr rr = { 0 };
	CHECK_EQ(lb_balance_build(&rr, sv, 3), 0);
	unsigned count[3] = { 0 };
	for (int k = 0; k < 7000; k++)
		count[lb_balance_next(&rr, -1)]++;
	CHECK_EQ(count[0], 5000);
	CHECK_EQ(count[1], 1000);
	CHECK_EQ(count[2], 1000);
	lb_balance_free(&rr);
}

/* The threads share one counter: together they walk the order exactly. */
struct picker {
	struct lb_rr *rr;
	unsigned count[3];
};

static void *picker_run(void *arg)
{
	struct picker *p = arg;
	for (int i = 0; i < 70000; i++) {
		int s = lb_balance_next(p->rr, -1);
		if (s >= 0 && s < 3)
			p->count[s]++;
	}
	return NULL;
}

TEST(balance_threads_share_the_order)
{
	struct proxy_server sv[3];
	make_servers(sv, (const int[]){ 5, 1, 1 }, 3);
	struct lb_rr rr = { 0 };
	CHECK_EQ(lb_balance_build(&rr, sv, 3), 0);
	struct picker p[4];
	pthread_t t[4];
	for (int i = 0; i < 4; i++) {
		p[i] = (struct picker){ .rr = &rr };
		CHECK_EQ(pthread_create(&t[i], NULL, picker_run, &p[i]), 0);
	}
	unsigned count[3] = { 0 };
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		for (int k = 0; k < 3; k++)
			count[k] += p[i].count[k];
	}
	CHECK_EQ(count[0], 4 * 50000);
	CHECK_EQ(count[1], 4 * 10000);
	CHECK_EQ(count[2], 4 * 10000);
	lb_balance_free(&rr);
}
