/* test_cfg.c - core's generic loader with a section of its own, defined
 * here, outside core: typed keys, a custom type, a named section, the
 * check callback, -t printing. (The stack file itself: test_conf.c.) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cfg.h"
#include "t.h"

struct pair {
	int a, b;
};

struct things {
	char *name;
	int64_t count;
	uint64_t wait, size;
	bool on;
	int64_t color;
	struct pair pairs[4];
	unsigned npairs;
};

struct box {
	char *name;
	int64_t depth;
	int line;
};

struct root {
	struct things things;
	struct box boxes[2];
	unsigned nboxes;
};

/* "A:B", repeatable */
static int parse_pair(struct cfg_ctx *ctx, const struct cfg_key *k, void *base, const char *value)
{
	struct things *t = base;
	int a, b, n = 0;
	(void)k;
	if (sscanf(value, "%d:%d%n", &a, &b, &n) != 2 || value[n] != '\0') {
		cfg_fail(ctx, "bad pair '%s' in [%s]", value, cfg_section_name(ctx));
		return -1;
	}
	if (t->npairs == 4) {
		cfg_fail(ctx, "too many pairs");
		return -1;
	}
	t->pairs[t->npairs++] = (struct pair){ a, b };
	return 0;
}

static void print_pairs(FILE *out, const struct cfg_key *k, const void *base)
{
	const struct things *t = base;
	for (unsigned i = 0; i < t->npairs; i++)
		fprintf(out, "%s = %d:%d\n", k->name, t->pairs[i].a, t->pairs[i].b);
}

static const struct cfg_custom pair_type = { parse_pair, print_pairs, NULL };
static const char *const colors[] = { "red", "green", NULL };

static const struct cfg_key things_keys[] = {
	CFG_KEY("name", CFG_STR, struct things, name, "thing", 0, 0),
	CFG_KEY("count", CFG_INT, struct things, count, "3", 1, 10),
	CFG_KEY("wait", CFG_DURATION, struct things, wait, "2s", 0, 0),
	CFG_KEY("size", CFG_SIZE, struct things, size, "16k", 0, 0),
	CFG_KEY("on", CFG_BOOL, struct things, on, "yes", 0, 0),
	CFG_KEY_ENUM("color", struct things, color, "red", colors),
	CFG_KEY_CUSTOM("pair", 0, NULL, &pair_type, CFG_REPEAT),
	CFG_KEY_END,
};

static const struct cfg_key box_keys[] = {
	CFG_KEY("depth", CFG_INT, struct box, depth, "1", 0, 100),
	CFG_KEY_END,
};

/* Across sections: a box no deeper than the things count. */
static int check_boxes(struct cfg_ctx *ctx, void *root)
{
	struct root *r = root;
	for (unsigned i = 0; i < r->nboxes; i++)
		if (r->boxes[i].depth > r->things.count) {
			cfg_at(ctx, r->boxes[i].line);
			cfg_fail(ctx, "[box %s] deeper than count", r->boxes[i].name);
			return -1;
		}
	return 0;
}

static const struct cfg_section things_section = {
	.name = "things",
	.keys = things_keys,
	.off = offsetof(struct root, things),
};

static const struct cfg_section box_section = {
	.name = "box",
	.keys = box_keys,
	.off = offsetof(struct root, boxes),
	.elem_size = sizeof(struct box),
	.max = 2,
	.count_off = offsetof(struct root, nboxes),
	.name_off = offsetof(struct box, name),
	.line_off = offsetof(struct box, line),
	.check = check_boxes,
};

static const struct cfg_section *const sections[] = { &things_section, &box_section, NULL };
static const struct cfg_schema schema = { sections, NULL };

static int load(struct root *r, const char *text, char *err, size_t errlen)
{
	memset(r, 0, sizeof(*r));
	int rc = cfg_load_string(&schema, r, "t.conf", text, err, errlen);
	if (rc < 0)
		cfg_free(&schema, r);
	return rc;
}

TEST(cfg_section_from_outside_core)
{
	struct root r;
	char err[256] = "";
	t_case("cfg defaults and values");
	CHECK_EQ(load(&r, "[things]\ncount = 5\npair = 1:2\npair = 3:4\ncolor = green\n", err,
	              sizeof(err)),
	         0);
	CHECK_STR(r.things.name, "thing");
	CHECK_EQ(r.things.count, 5);
	CHECK_EQ(r.things.wait, 2000);
	CHECK_EQ(r.things.size, 16384);
	CHECK(r.things.on);
	CHECK_EQ(r.things.color, 1);
	CHECK_EQ(r.things.npairs, 2);
	CHECK_EQ(r.things.pairs[1].b, 4);
	cfg_free(&schema, &r);

	t_case("cfg named sections and the check callback");
	CHECK_EQ(load(&r, "[box a]\ndepth = 2\n[box b]\n", err, sizeof(err)), 0);
	CHECK_EQ(r.nboxes, 2);
	CHECK_STR(r.boxes[0].name, "a");
	CHECK_EQ(r.boxes[1].depth, 1);
	cfg_free(&schema, &r);
	CHECK_EQ(load(&r, "[things]\ncount = 2\n\n[box deep]\ndepth = 9\n", err, sizeof(err)), -1);
	CHECK_STR(err, "t.conf:4: [box deep] deeper than count");
	CHECK_EQ(load(&r, "[box a]\n[box b]\n[box c]\n", err, sizeof(err)), -1);
	CHECK_STR(err, "t.conf:3: too many boxs (at most 2)");

	t_case("cfg errors name file:line");
	CHECK_EQ(load(&r, "[things]\npair = x\n", err, sizeof(err)), -1);
	CHECK_STR(err, "t.conf:2: bad pair 'x' in [things]");
	CHECK_EQ(load(&r, "[things]\ncuont = 1\n", err, sizeof(err)), -1);
	CHECK_STR(err, "t.conf:2: unknown key 'cuont' in [things] (did you mean 'count'?)");
	CHECK_EQ(load(&r, "[things]\ncount = 1\ncount = 2\n", err, sizeof(err)), -1);
	CHECK_STR(err, "t.conf:3: duplicate key 'count' in [things] (first at line 2)");
	CHECK_EQ(load(&r, "[things]\ncolor = blue\n", err, sizeof(err)), -1);
	CHECK_STR(err, "t.conf:2: bad value 'blue' for 'color' in [things]");
	CHECK_EQ(load(&r, "[nope]\n", err, sizeof(err)), -1);
	CHECK_STR(err, "t.conf:1: unknown section [nope]");

	t_case("cfg prints what loads again");
	CHECK_EQ(
	    load(&r, "[things]\nwait = 90s\npair = 5:6\n[box z]\ndepth = 3\n", err, sizeof(err)),
	    0);
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	cfg_print(&schema, &r, "t.conf", f);
	fclose(f);
	CHECK(strstr(text, "\n[things]\nname = thing\ncount = 3\nwait = 90s\nsize = 16k\non = yes\n"
	                   "color = red\npair = 5:6\n") != NULL);
	CHECK(strstr(text, "\n[box z]\ndepth = 3\n") != NULL);
	struct root again;
	CHECK_EQ(load(&again, text, err, sizeof(err)), 0);
	CHECK_EQ(again.things.wait, 90000);
	CHECK_EQ(again.boxes[0].depth, 3);
	cfg_free(&schema, &again);
	cfg_free(&schema, &r);
	free(text);
}
