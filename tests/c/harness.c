/*
 * The C harness: drives libfbup through its C API against the emulator.
 *
 * Usage: harness SCENARIO GRAPH_URL FILE
 * The token comes from the environment (FBUP_TEST_TOKEN), never from argv.
 * Prints "key=value" lines that tests/c_harness.rs checks; exits non-zero when a
 * check made here fails.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fbup.h"

static int failures = 0;

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "CHECK failed at %s:%d: %s\n", __FILE__, __LINE__, \
                    #cond);                                                    \
            failures++;                                                        \
        }                                                                      \
    } while (0)

/* What the progress callback saw. */
struct progress {
    uint64_t last;
    uint64_t total;
    int calls;
    int backwards;
    int over_total;
    int at_total;
    uint64_t cancel_at; /* cancel once bytes_done reaches this; 0 = never */
};

static int32_t on_progress(void *user_data, uint64_t done, uint64_t total) {
    struct progress *p = user_data;
    if (p->calls > 0 && done < p->last) p->backwards++;
    if (done > total) p->over_total++;
    if (done == total) p->at_total++;
    p->last = done;
    p->total = total;
    p->calls++;
    return (p->cancel_at != 0 && done >= p->cancel_at) ? 1 : 0;
}

static void setup(fbup_config *cfg, const char *graph_url) {
    fbup_config_init(cfg);
    cfg->app_id = "1234";
    cfg->access_token = getenv("FBUP_TEST_TOKEN");
    cfg->graph_url = graph_url;
    cfg->stall_timeout_ms = 5000;
}

static void print_error(const char *what, fbup_session *s) {
    fbup_error e;
    if (fbup_error_info(s, &e) == FBUP_OK) {
        printf("%s_status=%d\n%s_http=%d\n%s_code=%lld\n%s_subcode=%lld\n", what,
               e.status, what, e.http_status, what, (long long)e.graph_code, what,
               (long long)e.graph_subcode);
        printf("%s_type=%s\n%s_fbtrace=%s\n", what, e.graph_type, what, e.fbtrace_id);
        /* The message may span lines only if Graph's does; keep it on one. */
        printf("%s_message=", what);
        for (const char *c = e.message; *c; c++) putchar(*c == '\n' ? ' ' : *c);
        putchar('\n');
    }
}

/* Prints the handle with its newlines escaped, so that one line holds it. */
static void print_handle(fbup_session *s) {
    const char *h = fbup_file_handle(s);
    printf("handle=");
    for (const char *c = h; c && *c; c++) {
        if (*c == '\n') fputs("\\n", stdout);
        else putchar(*c);
    }
    putchar('\n');
}

static void print_progress(const struct progress *p) {
    printf("progress_calls=%d\nprogress_backwards=%d\nprogress_over=%d\n"
           "progress_at_total=%d\nprogress_last=%llu\nprogress_total=%llu\n",
           p->calls, p->backwards, p->over_total, p->at_total,
           (unsigned long long)p->last, (unsigned long long)p->total);
}

/* Create, upload, print: the common path of several scenarios. */
static int upload_file(const char *graph_url, const char *file) {
    fbup_config cfg;
    setup(&cfg, graph_url);
    fbup_session *s = NULL;
    fbup_status st = fbup_create_session(&cfg, file, &s);
    printf("create=%d\n", st);
    CHECK(s != NULL);
    if (st != FBUP_OK) {
        print_error("create", s);
        fbup_free(s);
        return st;
    }
    printf("id=%s\n", fbup_session_id(s));
    CHECK(fbup_file_handle(s) == NULL);
    struct progress p = {0};
    st = fbup_upload(s, on_progress, &p);
    printf("upload=%d\n", st);
    print_progress(&p);
    if (st == FBUP_OK) {
        print_handle(s);
        CHECK(strcmp(fbup_errmsg(s), "") == 0);
        /* A second upload of a complete session is a state error. */
        CHECK(fbup_upload(s, NULL, NULL) == FBUP_E_STATE);
        CHECK(strlen(fbup_errmsg(s)) > 0);
        uint64_t off = 0;
        CHECK(fbup_get_offset(s, &off) == FBUP_OK);
        CHECK(off == p.total);
    } else {
        print_error("upload", s);
    }
    fbup_free(s);
    return st;
}

static int cancel_then_resume(const char *graph_url, const char *file) {
    fbup_config cfg;
    setup(&cfg, graph_url);
    fbup_session *s = NULL;
    CHECK(fbup_create_session(&cfg, file, &s) == FBUP_OK);
    struct progress p = {0};
    p.cancel_at = 1; /* the first report past zero */
    fbup_status st = fbup_upload(s, on_progress, &p);
    printf("first_upload=%d\nfirst_progress_calls=%d\nfirst_progress_last=%llu\n", st,
           p.calls, (unsigned long long)p.last);
    CHECK(st == FBUP_E_CANCELLED);
    print_error("cancel", s);
    /* Keep the id beyond the session's life, as a program would persist it. */
    const char *sid = fbup_session_id(s);
    char *id = malloc(strlen(sid) + 1);
    if (id == NULL) return 2;
    memcpy(id, sid, strlen(sid) + 1);
    fbup_free(s);

    fbup_session *r = NULL;
    st = fbup_resume_session(&cfg, file, id, &r);
    printf("resume=%d\n", st);
    CHECK(st == FBUP_OK);
    CHECK(r != NULL && strcmp(fbup_session_id(r), id) == 0);
    uint64_t held = 0;
    CHECK(fbup_get_offset(r, &held) == FBUP_OK);
    printf("resumed_from=%llu\n", (unsigned long long)held);
    struct progress p2 = {0};
    st = fbup_upload(r, on_progress, &p2);
    printf("upload=%d\nid=%s\n", st, id);
    print_progress(&p2);
    if (st == FBUP_OK) print_handle(r);
    else print_error("upload", r);
    free(id);
    fbup_free(r);
    return st;
}

static int null_and_static(void) {
    fbup_free(NULL);
    fbup_cancel(NULL);
    CHECK(fbup_errmsg(NULL) != NULL);
    CHECK(fbup_session_id(NULL) == NULL);
    CHECK(fbup_file_handle(NULL) == NULL);
    CHECK(fbup_upload(NULL, NULL, NULL) == FBUP_E_ARGUMENT);
    CHECK(fbup_get_offset(NULL, NULL) == FBUP_E_ARGUMENT);
    fbup_error e;
    CHECK(fbup_error_info(NULL, &e) == FBUP_E_ARGUMENT);
    fbup_config_init(NULL);
    CHECK(strcmp(fbup_status_str(FBUP_OK), "success") == 0);
    CHECK(strcmp(fbup_status_str(FBUP_E_AUTH), "access token refused by Graph") == 0);
    CHECK(strcmp(fbup_status_str(12345), "unknown status") == 0);
    CHECK(strcmp(fbup_version(), FBUP_VERSION) == 0);
    printf("version=%s\n", fbup_version());

    /* A failed create still hands out a session that explains. */
    fbup_session *s = NULL;
    CHECK(fbup_create_session(NULL, "x.png", &s) == FBUP_E_ARGUMENT);
    CHECK(s != NULL);
    CHECK(strstr(fbup_errmsg(s), "fbup_config_init") != NULL);
    CHECK(fbup_session_id(s) == NULL);
    CHECK(fbup_upload(s, NULL, NULL) == FBUP_E_STATE);
    fbup_free(s);
    CHECK(fbup_create_session(NULL, NULL, NULL) == FBUP_E_ARGUMENT);

    fbup_config cfg;
    fbup_config_init(&cfg);
    CHECK(cfg.struct_size == sizeof(fbup_config));
    CHECK(cfg.max_attempts == 8 && cfg.stall_timeout_ms == 60000);
    cfg.struct_size = 4;
    s = NULL;
    CHECK(fbup_create_session(&cfg, "x.png", &s) == FBUP_E_ARGUMENT);
    CHECK(strstr(fbup_errmsg(s), "struct_size") != NULL);
    fbup_free(s);
    printf("null_checks=done\n");
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: harness SCENARIO [GRAPH_URL FILE]\n");
        return 2;
    }
    const char *scenario = argv[1];
    int st;
    if (strcmp(scenario, "null") == 0) {
        st = null_and_static();
    } else if (argc < 4) {
        fprintf(stderr, "usage: harness SCENARIO GRAPH_URL FILE\n");
        return 2;
    } else if (strcmp(scenario, "upload") == 0) {
        st = upload_file(argv[2], argv[3]);
    } else if (strcmp(scenario, "cancel_resume") == 0) {
        st = cancel_then_resume(argv[2], argv[3]);
    } else {
        fprintf(stderr, "unknown scenario %s\n", scenario);
        return 2;
    }
    printf("checks_failed=%d\n", failures);
    fflush(stdout);
    (void)st;
    return failures == 0 ? 0 : 1;
}
