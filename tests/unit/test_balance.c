/* tristack-lb's balancer: smooth weighted round robin (nginx's order),
 * down servers skipped with the others keeping their shares, leastconn,
 * first, backups only when nothing else is up, maxconn slots (FULL), avoid
 * on a retry, and exact shares from several threads. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "lb/lb.h"
#include "t.h"

#define MAX_SERVERS 8

/* Servers from a weight list; a negative weight makes a backup server. */
static void make(struct lb_balancer *b, struct lb_server *sv, enum lb_balance algo,
                 const int *weights, unsigned n)
{
	memset(sv, 0, n * sizeof(*sv));
	for (unsigned i = 0; i < n; i++) {
		sv[i].weight = (unsigned)(weights[i] < 0 ? -weights[i] : weights[i]);
		sv[i].backup = weights[i] < 0;
		atomic_store(&sv[i].up, true);
	}
	memset(b, 0, sizeof(*b));
	lb_balance_init(b, algo, sv, n);
}

/* n picks as letters ("aabacaa"), each released at once. */
static void picks(struct lb_balancer *b, int n, int avoid, char *out)
{
	for (int i = 0; i < n; i++) {
		int s = lb_balance_pick(b, avoid);
		out[i] = s == LB_BALANCE_NONE ? '-' : s == LB_BALANCE_FULL ? '!' : (char)('a' + s);
		if (s >= 0)
			lb_balance_release(b, s);
	}
	out[n] = '\0';
}

TEST(balance_roundrobin_order)
{
	static const struct {
		const char *what;
		int weights[MAX_SERVERS];
		unsigned n;
		const char *want;
	} rows[] = {
		{ "1,1 alternate", { 1, 1 }, 2, "abababab" },
		{ "1,1,1 in turn", { 1, 1, 1 }, 3, "abcabcabc" },
		{ "5,1,1 smooth", { 5, 1, 1 }, 3, "aabacaaaabacaa" },
		{ "2,1", { 2, 1 }, 2, "abaaba" },
		{ "4,2,1", { 4, 2, 1 }, 3, "abacabaabacaba" },
		{ "one server", { 3 }, 1, "aaaa" },
		{ "weight 0 left out", { 1, 0, 1 }, 3, "acacac" },
		{ "backup left out", { 1, -1, 1 }, 3, "acacac" },
		{ "backup of weight 5 left out", { -5, 1, 1 }, 3, "bcbc" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		t_case("roundrobin %s", rows[i].what);
		struct lb_server sv[MAX_SERVERS];
		struct lb_balancer b;
		make(&b, sv, LB_ROUNDROBIN, rows[i].weights, rows[i].n);
		char got[64];
		picks(&b, (int)strlen(rows[i].want), -1, got);
		CHECK_STR(got, rows[i].want);
		for (unsigned k = 0; k < rows[i].n; k++)
			CHECK_EQ(atomic_load(&sv[k].active), 0);
		lb_balance_free(&b);
	}
}

TEST(balance_down_servers_are_skipped_others_keep_their_shares)
{
	struct lb_server sv[3];
	struct lb_balancer b;
	make(&b, sv, LB_ROUNDROBIN, (const int[]){ 2, 1, 1 }, 3);
	atomic_store(&sv[0].up, false);
	char got[64];
	picks(&b, 8, -1, got);
	CHECK_STR(got, "bcbcbcbc");
	atomic_store(&sv[0].up, true);
	atomic_store(&sv[2].up, false);
	picks(&b, 12, -1, got);
	int a = 0, bb = 0;
	for (char *p = got; *p; p++)
		a += *p == 'a', bb += *p == 'b';
	CHECK_EQ(a, 8); /* 2:1 among the two left */
	CHECK_EQ(bb, 4);
	lb_balance_free(&b);
}

TEST(balance_backups_only_when_all_others_are_down)
{
	struct lb_server sv[4];
	struct lb_balancer b;
	make(&b, sv, LB_ROUNDROBIN, (const int[]){ 1, 1, -1, -1 }, 4);
	char got[16];
	picks(&b, 4, -1, got);
	CHECK_STR(got, "abab");
	atomic_store(&sv[0].up, false);
	picks(&b, 3, -1, got);
	CHECK_STR(got, "bbb");
	atomic_store(&sv[1].up, false);
	picks(&b, 3, -1, got); /* the first backup, as HAProxy without allbackups */
	CHECK_STR(got, "ccc");
	atomic_store(&sv[2].up, false);
	picks(&b, 2, -1, got);
	CHECK_STR(got, "dd");
	atomic_store(&sv[3].up, false);
	picks(&b, 2, -1, got);
	CHECK_STR(got, "--");
	CHECK_EQ(lb_balance_up(&b), 0);
	atomic_store(&sv[1].up, true);
	picks(&b, 2, -1, got); /* a normal server back: backups idle again */
	CHECK_STR(got, "bb");
	lb_balance_free(&b);
}

TEST(balance_avoid_skips_the_failed_server_while_another_is_up)
{
	struct lb_server sv[3];
	struct lb_balancer b;
	make(&b, sv, LB_ROUNDROBIN, (const int[]){ 1, 1, 1 }, 3);
	char got[16];
	picks(&b, 6, 1, got);
	CHECK_STR(got, "acacac");
	atomic_store(&sv[0].up, false);
	atomic_store(&sv[2].up, false);
	picks(&b, 2, 1, got); /* the failed one is all there is */
	CHECK_STR(got, "bb");
	lb_balance_free(&b);

	t_case("avoid with leastconn and first");
	make(&b, sv, LB_LEASTCONN, (const int[]){ 1, 1 }, 2);
	picks(&b, 3, 0, got);
	CHECK_STR(got, "bbb");
	lb_balance_free(&b);
	make(&b, sv, LB_FIRST, (const int[]){ 1, 1 }, 2);
	picks(&b, 3, 0, got);
	CHECK_STR(got, "bbb");
	lb_balance_free(&b);
}

TEST(balance_maxconn_slots_and_full)
{
	struct lb_server sv[2];
	struct lb_balancer b;
	make(&b, sv, LB_ROUNDROBIN, (const int[]){ 1, 1 }, 2);
	sv[0].maxconn = 2;
	sv[1].maxconn = 1;
	int held[3];
	for (int i = 0; i < 3; i++)
		held[i] = lb_balance_pick(&b, -1);
	CHECK(held[0] >= 0 && held[1] >= 0 && held[2] >= 0);
	CHECK_EQ(atomic_load(&sv[0].active), 2);
	CHECK_EQ(atomic_load(&sv[1].active), 1);
	CHECK_EQ(lb_balance_pick(&b, -1), LB_BALANCE_FULL);
	lb_balance_release(&b, 1);
	CHECK_EQ(lb_balance_pick(&b, -1), 1); /* the slot that came free */
	CHECK_EQ(lb_balance_pick(&b, -1), LB_BALANCE_FULL);
	atomic_store(&sv[0].up, false);
	atomic_store(&sv[1].up, false);
	CHECK_EQ(lb_balance_pick(&b, -1), LB_BALANCE_NONE); /* none up is not "full" */
	lb_balance_free(&b);
}

TEST(balance_leastconn)
{
	struct lb_server sv[3];
	struct lb_balancer b;
	make(&b, sv, LB_LEASTCONN, (const int[]){ 1, 1, 1 }, 3);
	/* held requests: each new one goes where the fewest are */
	int s1 = lb_balance_pick(&b, -1), s2 = lb_balance_pick(&b, -1),
	    s3 = lb_balance_pick(&b, -1);
	CHECK(s1 != s2 && s2 != s3 && s1 != s3);
	lb_balance_release(&b, s2);
	CHECK_EQ(lb_balance_pick(&b, -1), s2);
	/* ties take turns */
	struct lb_server one[2];
	struct lb_balancer b2;
	make(&b2, one, LB_LEASTCONN, (const int[]){ 1, 1 }, 2);
	char got[16];
	picks(&b2, 6, -1, got);
	CHECK(strchr(got, 'a') && strchr(got, 'b'));
	lb_balance_free(&b2);
	lb_balance_free(&b);

	t_case("leastconn weighs active by weight");
	make(&b, sv, LB_LEASTCONN, (const int[]){ 3, 1 }, 2);
	int count[2] = { 0, 0 };
	for (int i = 0; i < 8; i++)
		count[lb_balance_pick(&b, -1)]++; /* all held */
	CHECK_EQ(count[0], 6);
	CHECK_EQ(count[1], 2);
	lb_balance_free(&b);
}

TEST(balance_first)
{
	struct lb_server sv[3];
	struct lb_balancer b;
	make(&b, sv, LB_FIRST, (const int[]){ 1, 1, 1 }, 3);
	char got[16];
	picks(&b, 4, -1, got);
	CHECK_STR(got, "aaaa");
	sv[0].maxconn = 2;
	sv[1].maxconn = 1;
	int p[4];
	for (int i = 0; i < 4; i++)
		p[i] = lb_balance_pick(&b, -1);
	CHECK_EQ(p[0], 0);
	CHECK_EQ(p[1], 0);
	CHECK_EQ(p[2], 1);
	CHECK_EQ(p[3], 2); /* fills servers in order */
	atomic_store(&sv[0].up, false);
	lb_balance_release(&b, 1);
	CHECK_EQ(lb_balance_pick(&b, -1), 1);
	lb_balance_free(&b);
}

struct share_arg {
	struct lb_balancer *b;
	int counts[MAX_SERVERS];
	int n;
};

static void *share_thread(void *p)
{
	struct share_arg *a = p;
	for (int i = 0; i < a->n; i++) {
		int s = lb_balance_pick(a->b, -1);
		if (s >= 0) {
			a->counts[s]++;
			lb_balance_release(a->b, s);
		}
	}
	return NULL;
}

TEST(balance_exact_shares_from_several_threads)
{
	struct lb_server sv[3];
	struct lb_balancer b;
	make(&b, sv, LB_ROUNDROBIN, (const int[]){ 5, 1, 1 }, 3);
	struct share_arg args[4];
	pthread_t th[4];
	for (int i = 0; i < 4; i++) {
		memset(&args[i], 0, sizeof(args[i]));
		args[i].b = &b;
		args[i].n = 1750;
		pthread_create(&th[i], NULL, share_thread, &args[i]);
	}
	int total[3] = { 0, 0, 0 };
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		for (int k = 0; k < 3; k++)
			total[k] += args[i].counts[k];
	}
	CHECK_EQ(total[0], 5000);
	CHECK_EQ(total[1], 1000);
	CHECK_EQ(total[2], 1000);
	for (int k = 0; k < 3; k++)
		CHECK_EQ(atomic_load(&sv[k].active), 0);
	lb_balance_free(&b);
}

struct none_arg {
	struct lb_balancer *b;
	int nones;
};

static void *none_thread(void *p)
{
	struct none_arg *a = p;
	for (int i = 0; i < 200000; i++) {
		int s = lb_balance_pick(a->b, -1);
		if (s < 0)
			a->nones++;
		else
			lb_balance_release(a->b, s);
	}
	return NULL;
}

/* Regression: threads walking one order could all step on the down server
 * and answer 503 while another server was up. */
TEST(balance_never_none_while_a_server_is_up_under_threads)
{
	struct lb_server sv[2];
	struct lb_balancer b;
	make(&b, sv, LB_ROUNDROBIN, (const int[]){ 1, 1 }, 2);
	atomic_store(&sv[1].up, false);
	struct none_arg args[4];
	pthread_t th[4];
	for (int i = 0; i < 4; i++) {
		args[i] = (struct none_arg){ &b, 0 };
		pthread_create(&th[i], NULL, none_thread, &args[i]);
	}
	int nones = 0;
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		nones += args[i].nones;
	}
	CHECK_EQ(nones, 0);
	lb_balance_free(&b);
}
