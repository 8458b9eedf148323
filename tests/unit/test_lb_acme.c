/* The LB's reading of ACME's HTTP-01 challenge paths (src/lb/acme.c): the
 * token it names, what is refused under the prefix (and so never reaches
 * the servers), and what is not ACME's at all. */
#include <stdio.h>
#include <string.h>

#include "core/common.h"
#include "lb/acme.h"
#include "t.h"

static enum lb_acme_match match(const char *target, char *token)
{
	return lb_acme_match(target, strlen(target), token, LB_ACME_TOKEN_MAX + 1);
}

/* Each of rows, n of them, is read as want, and names no token. */
static void check_rows(const char *const *rows, size_t n, enum lb_acme_match want)
{
	for (size_t i = 0; i < n; i++) {
		t_case("'%s'", rows[i]);
		char token[LB_ACME_TOKEN_MAX + 1] = "";
		CHECK_EQ(match(rows[i], token), want);
		CHECK_STR(token, "");
	}
}

TEST(lb_acme_takes_one_base64url_token)
{
	static const struct {
		const char *target, *token;
	} rows[] = {
		{ "/.well-known/acme-challenge/LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0",
		  "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0" },
		{ "/.well-known/acme-challenge/a-b_c", "a-b_c" },
		{ "/.well-known/acme-challenge/x", "x" },
		/* read as the web server reads it */
		{ "/.well-known/./acme-challenge/%41", "A" },
		{ "/.well-known//acme-challenge/tok", "tok" },
		{ "/x/../.well-known/acme-challenge/tok", "tok" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		t_case("'%s'", rows[i].target);
		char token[LB_ACME_TOKEN_MAX + 1] = "";
		CHECK_EQ(match(rows[i].target, token), LB_ACME_TOKEN);
		CHECK_STR(token, rows[i].token);
	}
}

TEST(lb_acme_refuses_anything_else_under_the_prefix)
{
	static const char *const rows[] = {
		"/.well-known/acme-challenge/",
		"/.well-known/acme-challenge/../../echo",
		"/.well-known/acme-challenge/%2e%2e/%2E%2E/echo",
		"/.well-known/acme-challenge/..%2f..%2fecho",
		"/.well-known/acme-challenge//../../echo",
		"/.well-known/acme-challenge/tok/../../../echo",
		"/.well-known/acme-challenge/../../../../etc/passwd",
		"/.well-known/acme-challenge/../../api/hello?x=/.well-known/acme-challenge/",
		"/.well-known/acme-challenge/a%2Fb",
		"/.well-known/acme-challenge/tok/x",
		"/.well-known/acme-challenge/tok/",
		"/.well-known/acme-challenge/tok%00",
		"/.well-known/acme-challenge/tok%0a",
		"/.well-known/acme-challenge/tok.html",
		"/.well-known/acme-challenge/..",
		"/.well-known/acme-challenge/.hidden",
		"/.well-known/acme-challenge/tok?x=1",
		"/.well-known/acme-challenge/a=b",
		"/.well-known/acme-challenge/a+b",
		"/.well-known/acme-challenge/%",
		"/.well-known/./acme-challenge/tok?x=1",
	};
	check_rows(rows, ARRAY_SIZE(rows), LB_ACME_BAD);
}

TEST(lb_acme_token_length_limit)
{
	char target[sizeof(LB_ACME_PREFIX) + 2 * LB_ACME_TOKEN_MAX];
	char token[LB_ACME_TOKEN_MAX + 1];
	for (size_t n = LB_ACME_TOKEN_MAX - 1; n <= LB_ACME_TOKEN_MAX + 2; n++) {
		t_case("%zu characters", n);
		memcpy(target, LB_ACME_PREFIX, sizeof(LB_ACME_PREFIX) - 1);
		memset(target + sizeof(LB_ACME_PREFIX) - 1, 'a', n);
		target[sizeof(LB_ACME_PREFIX) - 1 + n] = '\0';
		CHECK_EQ(match(target, token),
		         n <= LB_ACME_TOKEN_MAX ? LB_ACME_TOKEN : LB_ACME_BAD);
	}
	t_case("a token buffer too small");
	CHECK_EQ(lb_acme_match("/.well-known/acme-challenge/x", 29, token, LB_ACME_TOKEN_MAX),
	         LB_ACME_BAD);
}

TEST(lb_acme_leaves_other_paths_alone)
{
	static const char *const rows[] = {
		"/",
		"/api/hello",
		"/.well-known/acme-challenge",
		"/.well-known/acme-challenge%2ftok",
		"/.well-known/acme-challengex/tok",
		"/.WELL-KNOWN/acme-challenge/tok",
		"/.well-known/tristack/ca.crl",
		"*",
		"",
		"/%41pi/hello",
	};
	check_rows(rows, ARRAY_SIZE(rows), LB_ACME_NOT_MINE);
}
