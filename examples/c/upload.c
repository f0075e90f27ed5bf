/*
 * upload: the smallest complete fbup program. Uploads FILE, resuming on its own when
 * the network breaks, and prints the handle.
 *
 *   cc upload.c $(pkg-config --cflags --libs fbup) -o upload
 *   FBUP_ACCESS_TOKEN=... FBUP_APP_ID=... ./upload FILE [GRAPH_URL]
 */
#include <stdio.h>
#include <stdlib.h>

#include <fbup.h>

static int32_t progress(void *user_data, uint64_t done, uint64_t total) {
    (void)user_data;
    fprintf(stderr, "\r%llu / %llu bytes", (unsigned long long)done, (unsigned long long)total);
    return 0; /* non-zero cancels */
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s FILE [GRAPH_URL]\n", argv[0]);
        return 2;
    }
    fbup_config cfg;
    fbup_config_init(&cfg);
    cfg.app_id = getenv("FBUP_APP_ID");
    cfg.access_token = getenv("FBUP_ACCESS_TOKEN");
    if (argc > 2) cfg.graph_url = argv[2];

    fbup_session *s = NULL;
    fbup_status st = fbup_create_session(&cfg, argv[1], &s);
    if (st == FBUP_OK) st = fbup_upload(s, progress, NULL);
    fputc('\n', stderr);
    if (st == FBUP_OK) {
        printf("%s\n", fbup_file_handle(s));
    } else {
        fprintf(stderr, "fbup: %s: %s\n", fbup_status_str(st), fbup_errmsg(s));
    }
    fbup_free(s); /* always, even after a failure */
    return st == FBUP_OK ? 0 : 1;
}
