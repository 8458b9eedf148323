/* The LB servers' admin states and runtime weights (src/lb/admin.c, the
 * balancer's side in src/lb/balance.c): DRAIN and MAINT take no new
 * request, backups step in when nothing else is READY, a weight changes
 * the round robin's turn at once; the states outlive a reload (by name; a
 * weight the file changed is the file's) and a restart (the saved file),
 * and a generation that has handed over refuses changes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lb/lb.h"
#include "t.h"

#define N 4

/* An LB of n servers (names s0..), checks off, state folder dir. */
struct fake {
	struct daemon d;
	struct lb lb;
	struct lb_server sv[N];
	char names[N][16];
};

static void fake_init(struct fake *f, const char *dir, const int *weights, unsigned n)
{
	memset(f, 0, sizeof(*f));
	f->d.state = dir;
	f->d.id.host = "lb-01";
	f->lb.d = &f->d;
	f->lb.servers = f->sv;
	f->lb.nservers = n;
	for (unsigned i = 0; i < n; i++) {
		snprintf(f->names[i], sizeof(f->names[i]), "s%u", i);
		f->sv[i].px.name = f->names[i];
		unsigned w = (unsigned)(weights[i] < 0 ? -weights[i] : weights[i]);
		f->sv[i].weight = f->sv[i].config_weight = w;
		f->sv[i].backup = weights[i] < 0;
		atomic_store(&f->sv[i].up, true);
	}
	lb_balance_init(&f->lb.bal, LB_ROUNDROBIN, f->sv, n);
}

static void picks(struct lb_balancer *b, int n, char *out)
{
	for (int i = 0; i < n; i++) {
		int s = lb_balance_pick(b, -1);
		out[i] = s == LB_BALANCE_NONE ? '-' : s == LB_BALANCE_FULL ? '!' : (char)('a' + s);
		if (s >= 0)
			lb_balance_release(b, s);
	}
	out[n] = '\0';
}

static struct str name(const char *s)
{
	return (struct str){ s, strlen(s) };
}

static char *read_all(const char *path)
{
	static char buf[4096];
	FILE *f = fopen(path, "r");
	size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
	if (f)
		fclose(f);
	buf[n] = '\0';
	return buf;
}

/* Each test's state folder, made fresh, and removed by done() with the
 * log's level the tests found (what admin.c logs is not theirs to show). */
static char dir[64];
static enum log_level saved_level;

static void fresh_dir(void)
{
	snprintf(dir, sizeof(dir), "/tmp/ts-lb-admin-XXXXXX");
	CHECK(mkdtemp(dir) != NULL);
	saved_level = log_get_level();
	log_set_level(LL_ERROR);
}

static void done(void)
{
	char path[128];
	snprintf(path, sizeof(path), "%s/run/lb-01.lb.servers", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/run", dir);
	rmdir(path);
	CHECK_EQ(rmdir(dir), 0);
	log_set_level(saved_level);
}

TEST(lb_admin_drain_and_maint_take_no_new_requests)
{
	fresh_dir();
	struct fake f;
	char err[128], got[16];
	fake_init(&f, dir, (const int[]){ 1, 1, -1 }, 3);
	lb_admin_start(&f.lb, NULL);
	picks(&f.lb.bal, 4, got);
	CHECK_STR(got, "abab");
	t_case("drain s0: all to s1");
	CHECK_EQ(lb_admin_set_state(&f.lb, 0, LB_ADMIN_DRAIN, err, sizeof(err)), 0);
	picks(&f.lb.bal, 4, got);
	CHECK_STR(got, "bbbb");
	CHECK(!lb_balance_usable(&f.sv[0]));
	CHECK_EQ(lb_balance_up(&f.lb.bal), 3); /* still healthy */
	t_case("maint s1 too: the backup");
	CHECK_EQ(lb_admin_set_state(&f.lb, 1, LB_ADMIN_MAINT, err, sizeof(err)), 0);
	picks(&f.lb.bal, 3, got);
	CHECK_STR(got, "ccc");
	t_case("the backup drained: none");
	CHECK_EQ(lb_admin_set_state(&f.lb, 2, LB_ADMIN_DRAIN, err, sizeof(err)), 0);
	picks(&f.lb.bal, 2, got);
	CHECK_STR(got, "--");
	t_case("ready again");
	for (unsigned i = 0; i < 3; i++)
		CHECK_EQ(lb_admin_set_state(&f.lb, i, LB_ADMIN_READY, err, sizeof(err)), 0);
	picks(&f.lb.bal, 4, got);
	CHECK_STR(got, "abab");
	lb_balance_free(&f.lb.bal);
	done();
}

TEST(lb_admin_weight_changes_the_turn)
{
	fresh_dir();
	struct fake f;
	char err[128], got[32];
	fake_init(&f, dir, (const int[]){ 1, 1 }, 2);
	lb_admin_start(&f.lb, NULL);
	CHECK_EQ(lb_admin_set_weight(&f.lb, 0, 3, err, sizeof(err)), 0);
	picks(&f.lb.bal, 8, got);
	/* 3:1 from wherever the turn was: three a's to a b */
	int a = 0;
	for (int i = 0; i < 8; i++)
		a += got[i] == 'a';
	CHECK_EQ(a, 6);
	t_case("weight 0: out of the turn");
	CHECK_EQ(lb_admin_set_weight(&f.lb, 0, 0, err, sizeof(err)), 0);
	picks(&f.lb.bal, 4, got);
	CHECK_STR(got, "bbbb");
	t_case("both 0: none, and weight 256 fits the turn");
	CHECK_EQ(lb_admin_set_weight(&f.lb, 1, 0, err, sizeof(err)), 0);
	picks(&f.lb.bal, 2, got);
	CHECK_STR(got, "--");
	CHECK_EQ(lb_admin_set_weight(&f.lb, 0, LB_WEIGHT_MAX, err, sizeof(err)), 0);
	CHECK_EQ(lb_admin_set_weight(&f.lb, 1, LB_WEIGHT_MAX, err, sizeof(err)), 0);
	CHECK_EQ(f.lb.bal.len, 2 * LB_WEIGHT_MAX);
	picks(&f.lb.bal, 4, got);
	CHECK_STR(got, "abab");
	lb_balance_free(&f.lb.bal);
	done();
}

TEST(lb_admin_states_outlive_a_reload)
{
	fresh_dir();
	struct fake old, nw;
	char err[128];
	fake_init(&old, dir, (const int[]){ 1, 1, 1 }, 3);
	lb_admin_start(&old.lb, NULL);
	CHECK_EQ(lb_admin_set_state(&old.lb, 0, LB_ADMIN_DRAIN, err, sizeof(err)), 0);
	CHECK_EQ(lb_admin_set_state(&old.lb, 1, LB_ADMIN_MAINT, err, sizeof(err)), 0);
	CHECK_EQ(lb_admin_set_weight(&old.lb, 1, 5, err, sizeof(err)), 0);
	CHECK_EQ(lb_admin_set_weight(&old.lb, 2, 7, err, sizeof(err)), 0);
	/* the new file: s2 gone, s1's weight now 2 in the file, s0 and s3 */
	fake_init(&nw, dir, (const int[]){ 1, 2, 1 }, 3);
	strcpy(nw.names[2], "s3");
	lb_admin_start(&nw.lb, &old.lb);
	CHECK_EQ(atomic_load(&nw.sv[0].admin), LB_ADMIN_DRAIN);
	CHECK_EQ(atomic_load(&nw.sv[1].admin), LB_ADMIN_MAINT);
	CHECK_EQ(atomic_load(&nw.sv[1].weight), 2); /* the file changed it: the file's */
	CHECK_EQ(atomic_load(&nw.sv[2].admin), LB_ADMIN_READY);
	CHECK_EQ(atomic_load(&nw.sv[2].weight), 1);
	t_case("the old generation refuses changes now");
	CHECK_EQ(lb_admin_set_state(&old.lb, 2, LB_ADMIN_DRAIN, err, sizeof(err)), -1);
	CHECK(strstr(err, "reloading") != NULL);
	t_case("a reload that failed gives them back");
	lb_admin_abandon(&old.lb);
	CHECK_EQ(lb_admin_set_state(&old.lb, 2, LB_ADMIN_READY, err, sizeof(err)), 0);
	t_case("an unchanged file weight keeps the runtime's");
	struct fake again;
	fake_init(&again, dir, (const int[]){ 1, 1, 1 }, 3);
	lb_admin_start(&again.lb, &old.lb);
	CHECK_EQ(atomic_load(&again.sv[1].weight), 5);
	CHECK_EQ(atomic_load(&again.sv[2].weight), 7);
	lb_balance_free(&old.lb.bal);
	lb_balance_free(&nw.lb.bal);
	lb_balance_free(&again.lb.bal);
	done();
}

TEST(lb_admin_states_outlive_a_restart)
{
	fresh_dir();
	struct fake a, b;
	char err[128], path[128];
	fake_init(&a, dir, (const int[]){ 1, 1, 1 }, 3);
	lb_admin_start(&a.lb, NULL);
	CHECK_EQ(lb_admin_set_state(&a.lb, 2, LB_ADMIN_DRAIN, err, sizeof(err)), 0);
	CHECK_EQ(lb_admin_set_weight(&a.lb, 0, 4, err, sizeof(err)), 0);
	snprintf(path, sizeof(path), "%s/run/lb-01.lb.servers", dir);
	const char *text = read_all(path);
	CHECK(strstr(text, "\ns0 ready 4 1\ns1 ready 1 1\ns2 drain 1 1\n") != NULL);
	/* lines it does not know are passed over */
	FILE *f = fopen(path, "a");
	CHECK(f != NULL);
	if (f) {
		fputs("nonsense here\ns9 maint 1 1\n", f);
		fclose(f);
	}
	fake_init(&b, dir, (const int[]){ 1, 1, 1 }, 3);
	lb_admin_start(&b.lb, NULL);
	CHECK_EQ(atomic_load(&b.sv[2].admin), LB_ADMIN_DRAIN);
	CHECK_EQ(atomic_load(&b.sv[0].weight), 4);
	CHECK_EQ(atomic_load(&b.sv[1].admin), LB_ADMIN_READY);
	CHECK(strstr(read_all(path), "s9") == NULL); /* rewritten as this LB has them */
	CHECK_EQ(lb_admin_find(&b.lb, name("s1")), 1);
	CHECK_EQ(lb_admin_find(&b.lb, name("s")), -1);
	CHECK_EQ(lb_admin_find(&b.lb, name("s10")), -1);
	lb_balance_free(&a.lb.bal);
	lb_balance_free(&b.lb.bal);
	done();
}
