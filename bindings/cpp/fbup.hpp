// fbup.hpp: a header-only C++17 wrapper of libfbup.
//
// RAII sessions, std::function progress, and an exception that carries fbup_error.
// No exception ever crosses a C frame: one thrown by a progress callback is caught in
// the trampoline, cancels the upload, and is rethrown once fbup_upload has returned.
//
//   fbup::config cfg;
//   cfg.app_id = "1234567890";
//   cfg.access_token = std::getenv("FBUP_ACCESS_TOKEN");
//   auto s = fbup::session::create(cfg, "video.mp4");
//   std::string handle = s.upload([](uint64_t done, uint64_t total) { return true; });
#ifndef FBUP_HPP
#define FBUP_HPP

#if (defined(_MSVC_LANG) ? _MSVC_LANG : __cplusplus) < 201703L
#error "fbup.hpp needs C++17 (g++/clang++ -std=c++17, MSVC /std:c++17): it uses std::optional, std::string_view and std::filesystem; from C++98, include fbup.h and call the C API"
#else

#include <cstdint>
#include <exception>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>

#include <fbup.h>

namespace fbup {

/// A failed call: the status and what the server said.
class error : public std::runtime_error {
public:
    error(fbup_status status, int http_status, int64_t graph_code, int64_t graph_subcode,
          std::string graph_type, std::string fbtrace_id, const std::string &message,
          std::string session_id = "")
        : std::runtime_error(message), status_(status), http_status_(http_status),
          graph_code_(graph_code), graph_subcode_(graph_subcode),
          graph_type_(std::move(graph_type)), fbtrace_id_(std::move(fbtrace_id)),
          session_id_(std::move(session_id)) {}

    fbup_status status() const noexcept { return status_; }
    /// The status's constant name, e.g. "FBUP_E_AUTH" (`what()` is the sentence).
    const char *status_name() const noexcept { return fbup_status_name(status_); }
    /// The session the failure leaves resumable ("" when none was made).
    const std::string &session_id() const noexcept { return session_id_; }
    int http_status() const noexcept { return http_status_; }
    int64_t graph_code() const noexcept { return graph_code_; }
    int64_t graph_subcode() const noexcept { return graph_subcode_; }
    const std::string &graph_type() const noexcept { return graph_type_; }
    const std::string &fbtrace_id() const noexcept { return fbtrace_id_; }

private:
    fbup_status status_;
    int http_status_;
    int64_t graph_code_, graph_subcode_;
    std::string graph_type_, fbtrace_id_, session_id_;
};

/// Receives one trace line: level 1 (error) to 4 (debug), and the line.
using log_fn = std::function<void(int, const std::string &)>;

/// Asked for a new token when Graph refuses the current one mid-upload; an empty
/// optional (or an exception) means there is none and the upload stops with
/// FBUP_E_AUTH.
using token_fn = std::function<std::optional<std::string>()>;

/// Reads up to `len` bytes at `offset` into `buf` for a session made from a reader:
/// returns the count, 0 only at the end, negative (or throws) for an error.
using read_fn = std::function<int64_t(uint64_t offset, uint8_t *buf, size_t len)>;

/// How an upload is set up; fields left empty or 0 take fbup's defaults.
struct config {
    std::string app_id;
    std::string access_token;
    std::string graph_url;
    std::string api_version;
    std::string file_name;
    std::string file_type;
    std::string state_dir;
    /// A PEM file of root certificates trusted instead of the public ones.
    std::string ca_file;
    /// The proxy URL, e.g. "http://proxy:3128"; "" reads HTTPS_PROXY and NO_PROXY.
    std::string proxy;
    /// Accept a plain http:// graph_url whose host is not loopback.
    bool allow_insecure_http = false;
    /// Bytes read and sent at a time (4 KiB to 64 MiB); 0 means 64 KiB.
    uint32_t send_buffer_bytes = 0;
    /// Called for a new token when Graph answers code 190 mid-upload.
    token_fn token_refresh;
    uint32_t connect_timeout_ms = 0;
    uint32_t stall_timeout_ms = 0;
    uint32_t max_attempts = 0;
    uint32_t response_timeout_ms = 0;
    uint32_t max_retry_ms = 0;
    uint32_t retry_base_ms = 0;
    uint32_t retry_cap_ms = 0;
    /// The most bytes per second sent to Graph; 0 is no limit. A client's is shared by
    /// all the sessions it opens.
    uint64_t max_send_rate = 0;
    /// The most body bytes one upload request carries (a proxy known to cut longer
    /// requests); 0: the rest of the file, bounded only after a cut Graph kept none of.
    uint64_t max_request = 0;
    /// Receives the trace (each request to Graph, its answer, each decision; never
    /// the token) on the thread that calls into fbup. Empty: no trace. An exception it
    /// throws is swallowed: a trace never breaks an upload.
    log_fn log;
    /// The least important lines `log` receives: 1 error .. 4 debug; 0 means 3 (info).
    int log_level = 0;
};

/// A session's transfer figures (`session::info`).
struct info {
    uint64_t bytes_confirmed = 0;  ///< Graph's offset as last known.
    uint64_t bytes_sent = 0;       ///< Body bytes sent, re-sent ones included.
    uint64_t requests = 0;         ///< HTTP requests made.
    uint64_t retries = 0;          ///< Failed attempts tried again.
    uint64_t resumes = 0;          ///< Times the upload went on from Graph's offset.
    uint64_t wait_ms = 0;          ///< Time waited before retries.
    uint64_t elapsed_ms = 0;       ///< Time spent uploading.
};

/// Progress: (bytes_done, bytes_total); return false to cancel.
using progress_fn = std::function<bool(uint64_t, uint64_t)>;

namespace detail {

inline const char *opt(const std::string &s) { return s.empty() ? nullptr : s.c_str(); }

/// Fills a C config whose strings point into `c` (which must outlive the call).
inline fbup_config to_c(const config &c) {
    fbup_config out;
    fbup_config_init_sized(&out, sizeof out);
    out.app_id = c.app_id.c_str();
    out.access_token = c.access_token.c_str();
    out.graph_url = opt(c.graph_url);
    out.api_version = opt(c.api_version);
    out.file_name = opt(c.file_name);
    out.file_type = opt(c.file_type);
    out.state_dir = opt(c.state_dir);
    out.ca_file = opt(c.ca_file);
    out.proxy = opt(c.proxy);
    out.allow_insecure_http = c.allow_insecure_http ? 1 : 0;
    if (c.send_buffer_bytes) out.send_buffer_bytes = c.send_buffer_bytes;
    if (c.connect_timeout_ms) out.connect_timeout_ms = c.connect_timeout_ms;
    if (c.stall_timeout_ms) out.stall_timeout_ms = c.stall_timeout_ms;
    if (c.max_attempts) out.max_attempts = c.max_attempts;
    if (c.response_timeout_ms) out.response_timeout_ms = c.response_timeout_ms;
    if (c.max_retry_ms) out.max_retry_ms = c.max_retry_ms;
    if (c.retry_base_ms) out.retry_base_ms = c.retry_base_ms;
    if (c.retry_cap_ms) out.retry_cap_ms = c.retry_cap_ms;
    out.max_send_rate = c.max_send_rate;
    out.max_request_bytes = c.max_request;
    out.log_level = c.log_level;
    return out;
}

extern "C" inline int32_t token_trampoline(void *user, char *buf, size_t len) {
    try {
        std::optional<std::string> t = (*static_cast<const token_fn *>(user))();
        if (!t || t->empty() || t->size() + 1 > len) return 1;
        t->copy(buf, t->size());
        buf[t->size()] = '\0';
        return 0;
    } catch (...) {
        return 1;  // no new token; no exception crosses the C frames
    }
}

extern "C" inline int64_t read_trampoline(void *user, uint64_t offset, uint8_t *buf, size_t len) {
    try {
        return (*static_cast<const read_fn *>(user))(offset, buf, len);
    } catch (...) {
        return -1;  // the upload stops with FBUP_E_FILE
    }
}

extern "C" inline void log_trampoline(void *user, int32_t level, const char *line) {
    try {
        (*static_cast<const log_fn *>(user))(level, line);
    } catch (...) {
        // Swallowed: no exception may cross the C frames that called us.
    }
}

struct deleter {
    void operator()(fbup_session *s) const noexcept { fbup_free(s); }
};

struct client_deleter {
    void operator()(fbup_client *c) const noexcept { fbup_client_free(c); }
};

/// What the trampoline needs: the callback and where to park its exception.
struct progress_ctx {
    const progress_fn *fn;
    std::exception_ptr thrown;
};

extern "C" inline int32_t progress_trampoline(void *user, uint64_t done, uint64_t total) {
    auto *ctx = static_cast<progress_ctx *>(user);
    try {
        return (*ctx->fn)(done, total) ? 0 : 1;
    } catch (...) {
        ctx->thrown = std::current_exception();
        return 1;
    }
}

}  // namespace detail

/// The callbacks a session's config names, at stable addresses, kept as long as the
/// session (libfbup may call them until `fbup_free`).
struct callbacks {
    std::unique_ptr<log_fn> log;
    std::unique_ptr<token_fn> token;
    std::unique_ptr<read_fn> read;
};

/// One upload session. Move-only; released by its destructor.
class session {
public:
    /// An empty session: `valid()` is false, and every call but `id()`, `handle()`,
    /// `cancel()` and destruction throws `fbup::error` with `FBUP_E_STATE`. A session
    /// moved from is empty too. Assign one made by `create` or `resume` to it.
    session() = default;
    session(session &&) noexcept = default;
    /// Frees the session held (if any), then takes `o`'s; `o` is left empty.
    session &operator=(session &&o) noexcept {
        if (this != &o) {
            s_.reset();
            keep_ = std::move(o.keep_);
            s_ = std::move(o.s_);
        }
        return *this;
    }
    session(const session &) = delete;
    session &operator=(const session &) = delete;

    /// True when the session holds a Graph upload session (made, not moved from).
    bool valid() const noexcept { return s_ != nullptr; }
    /// The same as `valid()`.
    explicit operator bool() const noexcept { return valid(); }

    /// Step 1: checks the file and creates a Graph upload session.
    static session create(const config &c, std::string_view path) {
        fbup_config cfg = detail::to_c(c);
        callbacks keep = with_callbacks(c, cfg);
        fbup_session *raw = nullptr;
        std::string p(path);
        fbup_status st = fbup_create_session(&cfg, p.c_str(), &raw);
        return adopt(raw, st, std::move(keep));
    }

    /// `create` for a `std::filesystem::path`.
    template <class Path,
              std::enable_if_t<std::is_same_v<Path, std::filesystem::path>, int> = 0>
    static session create(const config &c, const Path &path) {
        return create(c, std::string_view(path.native()));
    }

    /// Re-opens a saved session for the same file and asks Graph for its offset.
    static session resume(const config &c, std::string_view path, std::string_view id) {
        fbup_config cfg = detail::to_c(c);
        callbacks keep = with_callbacks(c, cfg);
        fbup_session *raw = nullptr;
        std::string p(path), i(id);
        fbup_status st = fbup_resume_session(&cfg, p.c_str(), i.c_str(), &raw);
        return adopt(raw, st, std::move(keep));
    }

    /// `resume` for a `std::filesystem::path`.
    template <class Path,
              std::enable_if_t<std::is_same_v<Path, std::filesystem::path>, int> = 0>
    static session resume(const config &c, const Path &path, std::string_view id) {
        return resume(c, std::string_view(path.native()), id);
    }

    /// A session for `length` bytes that are not a file, read through `read`
    /// (`c.file_name` and `c.file_type` are required). `read` is called again from any
    /// offset when an upload resumes, until the session is destroyed.
    static session create_reader(const config &c, uint64_t length, read_fn read) {
        fbup_config cfg = detail::to_c(c);
        callbacks keep = with_callbacks(c, cfg);
        keep.read = std::make_unique<read_fn>(std::move(read));
        fbup_session *raw = nullptr;
        fbup_status st = fbup_create_session_reader(&cfg, length, detail::read_trampoline,
                                                    keep.read.get(), &raw);
        return adopt(raw, st, std::move(keep));
    }

    /// Re-opens a saved session for the bytes of `read` (see `create_reader`).
    static session resume_reader(const config &c, uint64_t length, read_fn read,
                                 std::string_view id) {
        fbup_config cfg = detail::to_c(c);
        callbacks keep = with_callbacks(c, cfg);
        keep.read = std::make_unique<read_fn>(std::move(read));
        fbup_session *raw = nullptr;
        std::string i(id);
        fbup_status st = fbup_resume_session_reader(&cfg, length, detail::read_trampoline,
                                                    keep.read.get(), i.c_str(), &raw);
        return adopt(raw, st, std::move(keep));
    }

    /// The transfer figures so far; may be called from the progress callback.
    fbup::info info() const {
        require();
        fbup_info out{};
        out.struct_size = sizeof out;
        check(s_.get(), fbup_get_info(s_.get(), &out));
        return {out.bytes_confirmed, out.bytes_sent, out.requests, out.retries,
                out.resumes,         out.wait_ms,    out.elapsed_ms};
    }

    /// Step 2 with automatic resume; returns Graph's handle (it may hold '\n').
    std::string upload(const progress_fn &on_progress = {}) {
        require();
        fbup_status st;
        if (on_progress) {
            detail::progress_ctx ctx{&on_progress, nullptr};
            st = fbup_upload(s_.get(), detail::progress_trampoline, &ctx);
            if (ctx.thrown) std::rethrow_exception(ctx.thrown);
        } else {
            st = fbup_upload(s_.get(), nullptr, nullptr);
        }
        check(s_.get(), st);
        return fbup_file_handle(s_.get());
    }

    /// Step 3: how many bytes Graph holds.
    uint64_t offset() {
        require();
        uint64_t off = 0;
        check(s_.get(), fbup_get_offset(s_.get(), &off));
        return off;
    }

    /// From any thread: the running upload returns (and throws FBUP_E_CANCELLED).
    void cancel() noexcept { fbup_cancel(s_.get()); }

    /// The session id, `?sig=` part included: save it to resume later; "" for an
    /// empty session.
    std::string id() const {
        const char *id = fbup_session_id(s_.get());
        return id ? id : "";
    }

    /// The handle, once uploaded.
    std::optional<std::string> handle() const {
        const char *h = fbup_file_handle(s_.get());
        return h ? std::optional<std::string>(h) : std::nullopt;
    }

private:
    friend class client;

    session(fbup_session *s, callbacks keep, std::shared_ptr<const void> shared = nullptr)
        : shared_(std::move(shared)), keep_(std::move(keep)), s_(s) {}

    /// Throws FBUP_E_STATE for an empty session.
    void require() const {
        if (!s_) {
            throw error(FBUP_E_STATE, 0, 0, 0, "", "",
                        "this fbup::session is empty (default-constructed or moved from)", "");
        }
    }

    /// Copies of the config's callbacks at stable addresses, which the session keeps
    /// as long as fbup may call them; `cfg` is pointed at them.
    static callbacks with_callbacks(const config &c, fbup_config &cfg) {
        callbacks keep;
        if (c.log) {
            keep.log = std::make_unique<log_fn>(c.log);
            cfg.log_fn = detail::log_trampoline;
            cfg.log_user_data = keep.log.get();
        }
        if (c.token_refresh) {
            keep.token = std::make_unique<token_fn>(c.token_refresh);
            cfg.token_fn = detail::token_trampoline;
            cfg.token_user_data = keep.token.get();
        }
        return keep;
    }

    static session adopt(fbup_session *raw, fbup_status st, callbacks keep,
                         std::shared_ptr<const void> shared = nullptr) {
        std::unique_ptr<fbup_session, detail::deleter> owned(raw);
        check(owned.get(), st);
        return session(owned.release(), std::move(keep), std::move(shared));
    }

    static void check(const fbup_session *s, fbup_status st) {
        if (st == FBUP_OK) return;
        const char *id = s ? fbup_session_id(s) : nullptr;
        std::string session_id = id ? id : "";
        fbup_error e{};
        if (s && fbup_error_info(s, &e) == FBUP_OK && e.status == st) {
            throw error(st, e.http_status, e.graph_code, e.graph_subcode, e.graph_type,
                        e.fbtrace_id, e.message, session_id);
        }
        throw error(st, 0, 0, 0, "", "", fbup_status_str(st), session_id);
    }

    // Declared first, so destroyed last: after the session that calls them. `shared_`
    // holds the callbacks of the client a session was made from.
    std::shared_ptr<const void> shared_;
    callbacks keep_;
    std::unique_ptr<fbup_session, detail::deleter> s_;
};

/// What sessions share: the config resolved once and one pool of connections to
/// Graph (one TLS handshake per pooled connection, not per file). Move-only; its
/// `create`/`resume` may run from several threads at once, and each session it makes
/// is used by one thread at a time. Sessions made from it stay usable after it is
/// destroyed.
class client {
public:
    /// Checks `c` and makes a client of it (no request is made); throws fbup::error.
    explicit client(const config &c) : keep_(std::make_shared<callbacks>()) {
        fbup_config cfg = detail::to_c(c);
        *keep_ = session::with_callbacks(c, cfg);
        fbup_client *raw = nullptr;
        fbup_status st = fbup_client_new(&cfg, &raw);
        std::unique_ptr<fbup_client, detail::client_deleter> owned(raw);
        if (st != FBUP_OK) {
            const char *why = raw ? fbup_client_errmsg(raw) : nullptr;
            throw error(st, 0, 0, 0, "", "", why ? why : fbup_status_str(st), "");
        }
        c_ = std::move(owned);
    }

    /// Step 1 over the client's connections.
    session create(std::string_view path) const {
        fbup_session *raw = nullptr;
        std::string p(path);
        fbup_status st = fbup_client_create_session(c_.get(), p.c_str(), nullptr, &raw);
        return session::adopt(raw, st, {}, keep_);
    }

    /// Re-opens a saved session over the client's connections.
    session resume(std::string_view path, std::string_view id) const {
        fbup_session *raw = nullptr;
        std::string p(path), i(id);
        fbup_status st =
            fbup_client_resume_session(c_.get(), p.c_str(), i.c_str(), nullptr, &raw);
        return session::adopt(raw, st, {}, keep_);
    }

    /// A session for `length` bytes read through `read`, told to Graph as `file_name`
    /// of `file_type` (empty: the client's config's).
    session create_reader(uint64_t length, read_fn read, std::string_view file_name = {},
                          std::string_view file_type = {}) const {
        callbacks keep;
        keep.read = std::make_unique<read_fn>(std::move(read));
        std::string n(file_name), t(file_type);
        fbup_session *raw = nullptr;
        fbup_status st = fbup_client_create_session_reader(
            c_.get(), n.empty() ? nullptr : n.c_str(), t.empty() ? nullptr : t.c_str(), length,
            detail::read_trampoline, keep.read.get(), nullptr, &raw);
        return session::adopt(raw, st, std::move(keep), keep_);
    }

private:
    // The config's callbacks, shared with every session made: destroyed after them.
    std::shared_ptr<callbacks> keep_;
    std::unique_ptr<fbup_client, detail::client_deleter> c_;
};

}  // namespace fbup

#endif  // C++17
#endif  // FBUP_HPP
