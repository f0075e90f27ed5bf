// The C++ wrapper's test: run by tests/bindings.rs against the emulator.
// usage: test GRAPH_URL FILE TLS_URL CA_FILE   (token in FBUP_TEST_TOKEN)
// GRAPH_URL cuts its first upload; TLS_URL is an HTTPS emulator whose certificate
// CA_FILE signed, which cuts once and refuses the token once.
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <stdexcept>
#include <filesystem>
#include <string_view>
#include <vector>

#include "fbup.hpp"

static int failures = 0;
#define EXPECT(cond)                                                              \
    do {                                                                          \
        if (!(cond)) {                                                            \
            std::cerr << "EXPECT failed at line " << __LINE__ << ": " #cond "\n"; \
            failures++;                                                           \
        }                                                                         \
    } while (0)

int main(int argc, char **argv) {
    if (argc < 5) return 2;
    fbup::config cfg;
    cfg.app_id = "1234";
    cfg.access_token = std::getenv("FBUP_TEST_TOKEN");
    cfg.graph_url = argv[1];
    cfg.retry_base_ms = 5;

    // An exception thrown by the progress callback cancels the upload and comes back
    // as itself, after fbup_upload has returned.
    auto s = fbup::session::create(cfg, argv[2]);
    std::string id = s.id();
    bool caught = false;
    try {
        s.upload([](uint64_t done, uint64_t) -> bool {
            if (done > 0) throw std::runtime_error("stop here");
            return true;
        });
    } catch (const std::runtime_error &e) {
        caught = std::string(e.what()) == "stop here";
    }
    EXPECT(caught);
    EXPECT(!s.handle().has_value());

    // Resume from the saved id in a new session; the emulator cuts once on the way.
    auto r = fbup::session::resume(cfg, argv[2], id);
    uint64_t last = 0;
    bool backwards = false;
    std::string handle = r.upload([&](uint64_t done, uint64_t) {
        backwards = backwards || done < last;
        last = done;
        return true;
    });
    EXPECT(!backwards);
    EXPECT(r.handle().value_or("") == handle);
    EXPECT(r.offset() == last);

    // A moved-from session is empty, as a default-constructed one is: valid() is
    // false, id() is "", and calls throw FBUP_E_STATE instead of undefined behaviour.
    {
        fbup::session empty;
        EXPECT(!empty.valid() && !empty);
        fbup::session moved = fbup::session::resume(cfg, argv[2], id);
        fbup::session taken = std::move(moved);
        EXPECT(taken.valid() && !moved.valid());
        EXPECT(moved.id().empty() && taken.id() == id);
        EXPECT(!moved.handle().has_value());
        bool state = false;
        try {
            moved.upload();
        } catch (const fbup::error &e) {
            state = e.status() == FBUP_E_STATE;
        }
        EXPECT(state);
        moved.cancel();
        empty = std::move(taken);
        EXPECT(empty.valid() && empty.id() == id && !taken.valid());
    }

    // The figures of the resumed session: it went on from Graph's offset.
    fbup::info figures = r.info();
    EXPECT(figures.bytes_confirmed == last);
    EXPECT(figures.resumes >= 1);
    EXPECT(figures.requests >= 2);
    EXPECT(figures.bytes_sent > 0 && figures.bytes_sent <= 2 * last);
    int lines = 0;
    bool token_seen = false, request_seen = false;
    fbup::config traced = cfg;
    traced.log_level = 4;
    // Requests of at most 1 MB: the 4 MB file goes in four or more.
    traced.max_request = 1000000;
    traced.log = [&](int level, const std::string &line) {
        lines++;
        token_seen = token_seen || line.find(cfg.access_token) != std::string::npos;
        request_seen = request_seen || (level == 3 && line.rfind("-> POST ", 0) == 0);
        if (lines == 1) throw std::runtime_error("swallowed: a trace never breaks an upload");
    };
    {
        auto t = fbup::session::create(traced, std::string_view(argv[2]));
        uint64_t figures_in_callback = 0;
        t.upload([&](uint64_t, uint64_t) {
            figures_in_callback = t.info().requests;
            return true;
        });
        EXPECT(figures_in_callback >= 1);
        EXPECT(t.info().requests >= 5);
    }
    EXPECT(lines > 3);
    EXPECT(request_seen);
    EXPECT(!token_seen);

    // A client: two sessions over one connection (its trace tells each connect).
    {
        int connects = 0;
        fbup::config pooled = cfg;
        pooled.log_level = 4;
        pooled.log = [&](int, const std::string &line) {
            if (line.find("connected to ") != std::string::npos) connects++;
        };
        fbup::client shared(pooled);
        auto a = shared.resume(argv[2], id);
        EXPECT(a.valid() && a.id() == id);
        std::vector<uint8_t> bytes(300000, 7);
        auto b = shared.create_reader(
            bytes.size(),
            [&](uint64_t offset, uint8_t *buf, size_t len) -> int64_t {
                size_t n = std::min(len, bytes.size() - static_cast<size_t>(offset));
                std::memcpy(buf, bytes.data() + offset, n);
                return static_cast<int64_t>(n);
            },
            "shared.mp4", "video/mp4");
        EXPECT(!b.upload().empty());
        EXPECT(connects == 1);
        bool refused = false;
        fbup::config nobody = cfg;
        nobody.app_id = "";
        try {
            fbup::client broken(nobody);
        } catch (const fbup::error &e) {
            refused = e.status() == FBUP_E_ARGUMENT;
        }
        EXPECT(refused);
    }

    // A refused token is an fbup::error with Graph's fields.
    fbup::config bad = cfg;
    bad.access_token = "EAAnot-valid";
    try {
        fbup::session::create(bad, std::filesystem::path(argv[2]));
        EXPECT(false);
    } catch (const fbup::error &e) {
        EXPECT(e.status() == FBUP_E_AUTH);
        EXPECT(e.graph_code() == 190);
        EXPECT(e.http_status() == 400);
        EXPECT(std::string(e.what()).find("EAAnot-valid") == std::string::npos);
    }

    // HTTPS with a private CA, from a reader, through a cut and a refused token that
    // the token refresh replaces; the same bytes the Rust side hashes.
    fbup::config tls = cfg;
    tls.graph_url = argv[3];
    tls.ca_file = argv[4];
    tls.file_name = "memory.mp4";
    tls.file_type = "video/mp4";
    tls.send_buffer_bytes = 32768;
    tls.proxy = "";
    int refreshed = 0;
    tls.token_refresh = [&]() -> std::optional<std::string> {
        refreshed++;
        return std::string("EAAcpp-refreshed-token");
    };
    std::vector<uint8_t> data(1500000);
    for (size_t i = 0; i < data.size(); i++) data[i] = uint8_t(i * 7 + (i >> 9));
    auto reader = [&](uint64_t off, uint8_t *buf, size_t len) -> int64_t {
        if (off >= data.size()) return 0;
        size_t n = std::min(len, size_t(data.size() - off));
        std::memcpy(buf, data.data() + off, n);
        return int64_t(n);
    };
    auto t = fbup::session::create_reader(tls, data.size(), reader);
    t.upload();
    EXPECT(refreshed == 1);
    EXPECT(t.info().bytes_confirmed == data.size());
    EXPECT(t.info().retries >= 1);
    std::cout << "tls_id=" << t.id() << "\n";
    // Without the CA file, the certificate is refused: a network error, by name.
    fbup::config untrusted = tls;
    untrusted.ca_file = "";
    untrusted.max_attempts = 1;
    try {
        fbup::session::create_reader(untrusted, data.size(), reader);
        EXPECT(false);
    } catch (const fbup::error &e) {
        EXPECT(e.status() == FBUP_E_NETWORK);
        EXPECT(std::string(e.status_name()) == "FBUP_E_NETWORK");
        EXPECT(std::string(e.what()).find("certificate") != std::string::npos);
    }

    std::cout << "id=" << id << "\nfailures=" << failures << "\n";
    return failures == 0 ? 0 : 1;
}
