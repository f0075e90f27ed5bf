/*
 * The bad-input table: every way a C caller can get it wrong, one row each, with the
 * status and the words of advice it must get back, and no crash.
 *
 * Usage: bad_input GRAPH_URL DIR   (DIR: a scratch folder; token in FBUP_TEST_TOKEN)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fbup.h"

enum call { CREATE, RESUME, READER, UPLOAD_AFTER_SUCCESS, UPLOAD_ON_FAILED, OFFSET_ON_FAILED,
            UPLOAD_NULL, OFFSET_NULL_OUT, ERROR_INFO_NULL_OUT };

/* Ways to spoil the config. */
enum cfgv { OK, NULL_CFG, SIZE_ZERO, SIZE_SMALL, NO_APP, EMPTY_APP, UTF8_APP, NO_TOKEN, HUGE_TOKEN,
            SPACE_TOKEN, BAD_TYPE, FTP_URL, REMOTE_HTTP, BAD_VERSION, UTF8_NAME, BAD_CA, NAMED };

/* Paths that name the files main() makes, or that are bad in themselves. */
#define P_OK "@ok.png"
#define P_GIF "@anim.unknownext"
#define P_EMPTY "@empty.png"
#define P_DIR "@dir.png"
#define P_FIFO "@fifo.png"
/* A file under a path whose parent is a file: no one can open it, root included. */
#define P_NOTDIR "@ok.png/inside.png"
#define P_MISSING "@missing.png"
#define P_UTF8 "@\xff\xfe.png"
#define P_HUGE "#huge"

struct row {
    enum call call;
    enum cfgv cfg;
    const char *path;
    const char *id;
    fbup_status expect;
    const char *needle; /* the message must say this */
};

static const struct row rows[] = {
    /* call    config       path       session id            expected status   advice */
    {CREATE, NULL_CFG,    P_OK,      NULL, FBUP_E_ARGUMENT, "fbup_config_init"},
    {CREATE, SIZE_ZERO,   P_OK,      NULL, FBUP_E_ARGUMENT, "struct_size is 0"},
    {CREATE, SIZE_SMALL,  P_OK,      NULL, FBUP_E_ARGUMENT, "call fbup_config_init"},
    {CREATE, NO_APP,      P_OK,      NULL, FBUP_E_ARGUMENT, "app_id is NULL"},
    {CREATE, EMPTY_APP,   P_OK,      NULL, FBUP_E_ARGUMENT, "app_id is required"},
    {CREATE, UTF8_APP,    P_OK,      NULL, FBUP_E_ARGUMENT, "not valid UTF-8"},
    {CREATE, NO_TOKEN,    P_OK,      NULL, FBUP_E_ARGUMENT, "access_token is NULL"},
    {CREATE, HUGE_TOKEN,  P_OK,      NULL, FBUP_E_ARGUMENT, "access_token is"},
    {CREATE, SPACE_TOKEN, P_OK,      NULL, FBUP_E_ARGUMENT, "bare token"},
    {CREATE, BAD_TYPE,    P_OK,      NULL, FBUP_E_ARGUMENT, "not a MIME type"},
    {CREATE, FTP_URL,     P_OK,      NULL, FBUP_E_ARGUMENT, "must start with https://"},
    {CREATE, REMOTE_HTTP, P_OK,      NULL, FBUP_E_ARGUMENT, "clear text"},
    {CREATE, BAD_VERSION, P_OK,      NULL, FBUP_E_ARGUMENT, "must look like v24.0"},
    {CREATE, UTF8_NAME,   P_OK,      NULL, FBUP_E_ARGUMENT, "file_name is not valid UTF-8"},
    {CREATE, BAD_CA,      P_OK,      NULL, FBUP_E_ARGUMENT, "cannot read ca_file"},
    {CREATE, OK,          NULL,      NULL, FBUP_E_ARGUMENT, "file_path is NULL"},
    {CREATE, OK,          "",        NULL, FBUP_E_ARGUMENT, "path is empty"},
    {CREATE, OK,          P_MISSING, NULL, FBUP_E_FILE,     "does not exist"},
    {CREATE, OK,          P_DIR,     NULL, FBUP_E_ARGUMENT, "directory"},
    {CREATE, OK,          P_FIFO,    NULL, FBUP_E_ARGUMENT, "not a regular file"},
    {CREATE, OK,          "/dev/zero", NULL, FBUP_E_ARGUMENT, "not a regular file"},
    {CREATE, NAMED,       "/dev/zero", NULL, FBUP_E_ARGUMENT, "not a regular file"},
    {CREATE, OK,          P_EMPTY,   NULL, FBUP_E_ARGUMENT, "empty"},
    {CREATE, OK,          P_NOTDIR,  NULL, FBUP_E_FILE,     "cannot look at"},
    {CREATE, OK,          P_GIF,     NULL, FBUP_E_ARGUMENT, "from its extension"},
    {CREATE, OK,          P_UTF8,    NULL, FBUP_E_ARGUMENT, "not valid UTF-8"},
    {CREATE, NAMED,       P_HUGE,    NULL, FBUP_E_FILE,     "cannot look at"},
    {RESUME, NULL_CFG,    P_OK,      "upload:a?sig=AR", FBUP_E_ARGUMENT, "fbup_config_init"},
    {RESUME, OK,          NULL,      "upload:a?sig=AR", FBUP_E_ARGUMENT, "file_path is NULL"},
    {RESUME, OK,          P_OK,      NULL, FBUP_E_ARGUMENT, "session_id is NULL"},
    {RESUME, OK,          P_OK,      "",   FBUP_E_ARGUMENT, "upload:"},
    {RESUME, OK,          P_OK,      "12345", FBUP_E_ARGUMENT, "does not start with 'upload:'"},
    {RESUME, OK,          P_OK,      "upload:a\r\nX-Evil: 1", FBUP_E_ARGUMENT, "never has"},
    {RESUME, OK,          P_OK,      "upload:../../x", FBUP_E_ARGUMENT, "never has"},
    {RESUME, OK,          P_OK,      "#huge", FBUP_E_ARGUMENT, "limit"},
    {RESUME, OK,          P_OK,      "upload:unknown?sig=ARx", FBUP_E_GRAPH, "subcode 33"},
    {READER, NULL_CFG,    "10",      NULL, FBUP_E_ARGUMENT, "fbup_config_init"},
    {READER, OK,          NULL,      NULL, FBUP_E_ARGUMENT, "read_at is NULL"},
    {READER, NAMED,       "0",       NULL, FBUP_E_ARGUMENT, "length is 0"},
    {READER, OK,          "10",      NULL, FBUP_E_ARGUMENT, "file_name is required"},
    {UPLOAD_AFTER_SUCCESS, OK, P_OK, NULL, FBUP_E_STATE,    "already complete"},
    {UPLOAD_ON_FAILED,    NO_APP, P_OK, NULL, FBUP_E_STATE, "never created"},
    {OFFSET_ON_FAILED,    NO_APP, P_OK, NULL, FBUP_E_STATE, "never created"},
    {UPLOAD_NULL,         OK, NULL,  NULL, FBUP_E_ARGUMENT, NULL},
    {OFFSET_NULL_OUT,     OK, P_OK,  NULL, FBUP_E_ARGUMENT, "out_offset is NULL"},
    {ERROR_INFO_NULL_OUT, OK, P_OK,  NULL, FBUP_E_ARGUMENT, NULL},
};

static const char *graph_url;
static const char *dir;
static char *huge; /* a 1 MiB string */

static int64_t read_zeros(void *user, uint64_t offset, uint8_t *buf, size_t len) {
    (void)user;
    (void)offset;
    memset(buf, 0, len);
    return (int64_t)len;
}

static void make_config(fbup_config *cfg, enum cfgv v) {
    static char token_with_space[] = "EAA token";
    static const char bad_utf8[] = "\xff\xfe";
    fbup_config_init(cfg);
    cfg->app_id = "1234";
    cfg->access_token = getenv("FBUP_TEST_TOKEN");
    cfg->graph_url = graph_url;
    cfg->retry_base_ms = 5;
    cfg->max_attempts = 2;
    switch (v) {
    case OK: case NULL_CFG: break;
    case SIZE_ZERO: cfg->struct_size = 0; break;
    case SIZE_SMALL: cfg->struct_size = 16; break;
    case NO_APP: cfg->app_id = NULL; break;
    case EMPTY_APP: cfg->app_id = ""; break;
    case UTF8_APP: cfg->app_id = bad_utf8; break;
    case NO_TOKEN: cfg->access_token = NULL; break;
    case HUGE_TOKEN: cfg->access_token = huge; break;
    case SPACE_TOKEN: cfg->access_token = token_with_space; break;
    case BAD_TYPE: cfg->file_type = "image/gif; charset=x"; break;
    case FTP_URL: cfg->graph_url = "ftp://graph.example"; break;
    case REMOTE_HTTP: cfg->graph_url = "http://graph.example"; break;
    case BAD_VERSION: cfg->api_version = "latest"; break;
    case UTF8_NAME: cfg->file_name = bad_utf8; break;
    case BAD_CA: cfg->ca_file = "/nonexistent/ca.pem"; break;
    case NAMED: cfg->file_name = "named.png"; cfg->file_type = "image/png"; break;
    }
}

/* "@name" is a file in DIR; "#huge" the 1 MiB string. */
static const char *resolve(const char *p, char *buf, size_t n) {
    if (p == NULL) return NULL;
    if (strcmp(p, "#huge") == 0) return huge;
    if (p[0] == '@') {
        snprintf(buf, n, "%s/%s", dir, p + 1);
        return buf;
    }
    return p;
}

static int run_row(size_t i, const struct row *r) {
    char pbuf[4096];
    const char *path = resolve(r->path, pbuf, sizeof pbuf);
    const char *id = r->id && strcmp(r->id, "#huge") == 0 ? huge : r->id;
    fbup_config cfg;
    make_config(&cfg, r->cfg);
    const fbup_config *cp = r->cfg == NULL_CFG ? NULL : &cfg;
    fbup_session *s = NULL;
    fbup_status st = FBUP_E_INTERNAL;
    const char *msg = "";

    switch (r->call) {
    case CREATE:
        st = fbup_create_session(cp, path, &s);
        break;
    case RESUME:
        st = fbup_resume_session(cp, path, id, &s);
        break;
    case READER:
        st = fbup_create_session_reader(cp, r->path ? strtoull(r->path, NULL, 10) : 10,
                                        r->path ? read_zeros : NULL, NULL, &s);
        break;
    case UPLOAD_AFTER_SUCCESS:
        if (fbup_create_session(cp, path, &s) == FBUP_OK && fbup_upload(s, NULL, NULL) == FBUP_OK)
            st = fbup_upload(s, NULL, NULL);
        break;
    case UPLOAD_ON_FAILED:
        fbup_create_session(cp, path, &s);
        st = fbup_upload(s, NULL, NULL);
        break;
    case OFFSET_ON_FAILED: {
        uint64_t off = 42;
        fbup_create_session(cp, path, &s);
        st = fbup_get_offset(s, &off);
        if (off != 42) { printf("row %zu: out written on failure\n", i); return 1; }
        break;
    }
    case UPLOAD_NULL:
        st = fbup_upload(NULL, NULL, NULL);
        break;
    case OFFSET_NULL_OUT:
        fbup_create_session(cp, path, &s);
        st = fbup_get_offset(s, NULL);
        break;
    case ERROR_INFO_NULL_OUT:
        fbup_create_session(cp, path, &s);
        st = fbup_error_info(s, NULL);
        break;
    }
    if (s) msg = fbup_errmsg(s);
    int bad = st != r->expect || (r->needle && strstr(msg, r->needle) == NULL) ||
              (r->needle && strlen(msg) == 0);
    const char *token = getenv("FBUP_TEST_TOKEN");
    if (token && *token && strstr(msg, token)) bad = 1;
    printf("row %zu: %s status %d (want %d): %.200s\n", i, bad ? "FAIL" : "ok", st, r->expect, msg);
    fbup_free(s);
    return bad;
}

int main(int argc, char **argv) {
    if (argc < 3) return 2;
    graph_url = argv[1];
    dir = argv[2];
    huge = malloc(1 << 20);
    if (!huge) return 2;
    memset(huge, 'a', (1 << 20) - 1);
    huge[(1 << 20) - 1] = '\0';

    char p[4096];
    FILE *f;
    snprintf(p, sizeof p, "%s/ok.png", dir);
    if (!(f = fopen(p, "wb"))) return 2;
    fputs("a small but honest file", f);
    fclose(f);
    snprintf(p, sizeof p, "%s/anim.unknownext", dir);
    if (!(f = fopen(p, "wb"))) return 2;
    fputs("GIF89a", f);
    fclose(f);
    snprintf(p, sizeof p, "%s/empty.png", dir);
    if (!(f = fopen(p, "wb"))) return 2;
    fclose(f);
    snprintf(p, sizeof p, "%s/dir.png", dir);
    mkdir(p, 0700);
    snprintf(p, sizeof p, "%s/fifo.png", dir);
    mkfifo(p, 0600);
    /* Every row runs, as root too: none is skipped. */
    int failed = 0;
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        failed += run_row(i, &rows[i]);
    }
    printf("bad_input: %zu rows, %d failed, 0 skipped\n", sizeof rows / sizeof rows[0], failed);
    free(huge);
    return failed == 0 ? 0 : 1;
}
