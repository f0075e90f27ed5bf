// Fbup: resumable uploads to the Meta Graph API, over libfbup's C API.
//
//     let session = try FbupSession(config: FbupConfig(appID: "1234567890", accessToken: token),
//                                   path: "video.mp4")
//     let handle = try session.upload { done, total in print(done, total); return true }
import CFbup
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A failed call, with what Graph said.
public struct FbupError: Error, CustomStringConvertible {
    public let status: Int32
    public let httpStatus: Int32
    public let graphCode: Int64
    public let graphSubcode: Int64
    public let graphType: String
    public let fbtraceID: String
    public let message: String

    public var description: String {
        "fbup: \(String(cString: fbup_status_str(status))): \(message)"
    }
}

/// How an upload is set up; nil or 0 fields take libfbup's defaults.
public struct FbupConfig {
    public var appID: String
    public var accessToken: String
    public var graphURL: String?
    public var apiVersion: String?
    public var fileName: String?
    public var fileType: String?
    public var stallTimeoutMs: UInt32 = 0
    public var maxAttempts: UInt32 = 0

    public init(appID: String, accessToken: String, graphURL: String? = nil) {
        self.appID = appID
        self.accessToken = accessToken
        self.graphURL = graphURL
    }
}

/// Calls `body` with a C config whose strings live for the call (libfbup copies them).
private func withCConfig<T>(_ c: FbupConfig, _ body: (UnsafePointer<fbup_config>) -> T) -> T {
    var cfg = fbup_config()
    fbup_config_init_sized(&cfg, MemoryLayout<fbup_config>.size)
    if c.stallTimeoutMs != 0 { cfg.stall_timeout_ms = c.stallTimeoutMs }
    if c.maxAttempts != 0 { cfg.max_attempts = c.maxAttempts }
    let owned: [String?] = [c.appID, c.accessToken, c.graphURL, c.apiVersion, c.fileName, c.fileType]
    var cStrings = owned.map { $0.flatMap { strdup($0) } }
    defer { cStrings.forEach { free($0) } }
    cfg.app_id = UnsafePointer(cStrings[0])
    cfg.access_token = UnsafePointer(cStrings[1])
    cfg.graph_url = UnsafePointer(cStrings[2])
    cfg.api_version = UnsafePointer(cStrings[3])
    cfg.file_name = UnsafePointer(cStrings[4])
    cfg.file_type = UnsafePointer(cStrings[5])
    return withUnsafePointer(to: &cfg) { body($0) }
}

private func check(_ s: OpaquePointer?, _ status: fbup_status) throws {
    if status == FBUP_OK { return }
    var e = fbup_error()
    if let s = s, fbup_error_info(s, &e) == FBUP_OK, e.status == status {
        throw FbupError(status: status, httpStatus: e.http_status, graphCode: e.graph_code,
                        graphSubcode: e.graph_subcode, graphType: String(cString: e.graph_type),
                        fbtraceID: String(cString: e.fbtrace_id), message: String(cString: e.message))
    }
    throw FbupError(status: status, httpStatus: 0, graphCode: 0, graphSubcode: 0, graphType: "",
                    fbtraceID: "", message: String(cString: fbup_status_str(status)))
}

/// The closure a progress callback reaches through `Unmanaged`; it also keeps an
/// error the closure threw, to be rethrown once `fbup_upload` has returned.
private final class ProgressBox {
    let body: (UInt64, UInt64) throws -> Bool
    var thrown: Error?
    init(_ body: @escaping (UInt64, UInt64) throws -> Bool) { self.body = body }
}

/// One upload session; released when the last reference goes.
public final class FbupSession {
    private let s: OpaquePointer

    /// Checks the file and creates a Graph upload session for it (step 1).
    public init(config: FbupConfig, path: String) throws {
        var out: OpaquePointer?
        let status = withCConfig(config) { fbup_create_session($0, path, &out) }
        do { try check(out, status) } catch { fbup_free(out); throw error }
        s = out!
    }

    /// Re-opens a session saved earlier (its id, `?sig=` part included).
    public init(config: FbupConfig, path: String, resuming sessionID: String) throws {
        var out: OpaquePointer?
        let status = withCConfig(config) { fbup_resume_session($0, path, sessionID, &out) }
        do { try check(out, status) } catch { fbup_free(out); throw error }
        s = out!
    }

    deinit { fbup_free(s) }

    /// The session id: save it to resume later.
    public var id: String { String(cString: fbup_session_id(s)) }

    /// Uploads from Graph's offset to the end, resuming on its own; returns the handle
    /// (it may hold "\n"). Return false from `progress`, or throw, to cancel.
    public func upload(progress: ((UInt64, UInt64) throws -> Bool)? = nil) throws -> String {
        var status: fbup_status
        if let progress = progress {
            let box = ProgressBox(progress)
            let user = Unmanaged.passRetained(box).toOpaque()
            defer { Unmanaged<ProgressBox>.fromOpaque(user).release() }
            status = fbup_upload(s, { user, done, total in
                let box = Unmanaged<ProgressBox>.fromOpaque(user!).takeUnretainedValue()
                do { return try box.body(done, total) ? 0 : 1 } catch { box.thrown = error; return 1 }
            }, user)
            if let thrown = box.thrown { throw thrown }
        } else {
            status = fbup_upload(s, nil, nil)
        }
        try check(s, status)
        return String(cString: fbup_file_handle(s))
    }

    /// How many bytes Graph holds (step 3).
    public func offset() throws -> UInt64 {
        var off: UInt64 = 0
        try check(s, fbup_get_offset(s, &off))
        return off
    }

    /// From any thread: the running upload returns with FBUP_E_CANCELLED.
    public func cancel() { fbup_cancel(s) }
}
