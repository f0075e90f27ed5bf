//! The errors of the public API: a status that says what kind of failure it was, and
//! the details (HTTP status, Graph error fields, a message that says what to do).

use std::ffi::CStr;
use std::fmt;

/// The one table of statuses: from it come the Rust enum, [`Status::ALL`], the keys,
/// the C constants' names and the static texts (`fbup_status_name`, `fbup_status_str`).
/// The C constants in `src/ffi/status.rs` are literals (cbindgen reads literals), tied
/// to this table by a test both ways.
macro_rules! statuses {
    ($( $(#[doc = $doc:literal])* $variant:ident = $value:literal, $key:literal, $name:literal, $text:literal; )*) => {
        /// What kind of failure an operation met. The numbers are the C API's `fbup_status`
        /// values: append-only, never renumbered.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[repr(i32)]
        #[non_exhaustive]
        pub enum Status {
            $( $(#[doc = $doc])* $variant = $value, )*
        }

        impl Status {
            /// Every status, in numeric order.
            pub const ALL: [Status; [$($value),*].len()] = [$(Status::$variant),*];

            /// A short stable name for scripts (`"ok"`, `"argument"`, `"file"`, ...): the C
            /// constant's name without `FBUP_E_`, in lower case.
            pub fn key(self) -> &'static str {
                match self { $(Status::$variant => $key,)* }
            }

            /// The C constant's name, e.g. `FBUP_E_AUTH`.
            pub fn name(self) -> &'static str {
                self.name_c().to_str().unwrap_or("")
            }

            /// [`Status::name`] as a C string, for the C API.
            pub(crate) fn name_c(self) -> &'static CStr {
                match self { $(Status::$variant => $name,)* }
            }

            /// [`Status::describe`] as a C string, for the C API.
            pub(crate) fn describe_c(self) -> &'static CStr {
                match self { $(Status::$variant => $text,)* }
            }
        }
    };
}

statuses! {
    /// Success.
    Ok = 0, "ok", c"FBUP_OK", c"success";
    /// A bad argument: NULL, bad UTF-8, unknown file type, empty file, bad config.
    Argument = 1, "argument", c"FBUP_E_ARGUMENT", c"invalid argument";
    /// The file cannot be opened or read, or it changed during the upload.
    File = 2, "file", c"FBUP_E_FILE", c"file cannot be read or changed during the upload";
    /// The network failed (connect, reset, DNS, TLS) and retries were spent.
    Network = 3, "network", c"FBUP_E_NETWORK", c"network error";
    /// No byte moved for the stall timeout (or connect/answer timed out), retries spent.
    Timeout = 4, "timeout", c"FBUP_E_TIMEOUT", c"timed out";
    /// Graph refused the token (code 190 or 102, `OAuthException`).
    Auth = 5, "auth", c"FBUP_E_AUTH", c"access token refused by Graph";
    /// A Graph error that retrying cannot fix (parameter, permission, policy...).
    Graph = 6, "graph", c"FBUP_E_GRAPH", c"Graph error that retrying cannot fix";
    /// Graph throttled the app (codes 4, 17, 32, 341, 613, HTTP 429) and retries were spent.
    Throttled = 7, "throttled", c"FBUP_E_THROTTLED", c"throttled by Graph";
    /// An answer outside the protocol (bad JSON, missing fields, a redirect, lost data).
    Protocol = 8, "protocol", c"FBUP_E_PROTOCOL", c"answer outside the protocol";
    /// Cancelled by the caller; the session stays resumable.
    Cancelled = 9, "cancelled", c"FBUP_E_CANCELLED", c"cancelled";
    /// The call does not fit the session's state (e.g. upload after success).
    State = 10, "state", c"FBUP_E_STATE", c"call does not fit the session's state";
    /// A bug inside fbup, caught at the C boundary.
    Internal = 11, "internal", c"FBUP_E_INTERNAL", c"internal error in fbup";
    /// Graph holds every byte but the answer carrying the handle was lost and Graph
    /// would not give it again: upload the file once more, in a new session.
    HandleLost = 12, "handle_lost", c"FBUP_E_HANDLE_LOST", c"every byte reached Graph but the handle was lost";
}

impl Status {
    /// The status with this number, if there is one.
    pub fn from_code(code: i32) -> Option<Status> {
        Status::ALL.iter().copied().find(|s| *s as i32 == code)
    }

    /// A short, static description, the same text `fbup_status_str` returns.
    pub fn describe(self) -> &'static str {
        self.describe_c().to_str().unwrap_or("")
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

/// The fields of a Graph error object (`{"error":{...}}`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct GraphError {
    /// `error.message`.
    pub message: String,
    /// `error.type`, e.g. `OAuthException`.
    pub error_type: String,
    /// `error.code`.
    pub code: i64,
    /// `error.error_subcode`, 0 when absent.
    pub subcode: i64,
    /// `error.fbtrace_id`, empty when absent.
    pub fbtrace_id: String,
    /// `error.is_transient`.
    pub is_transient: bool,
}

/// A setting or argument a message can name. A caller that calls them otherwise (a
/// command line's flags) words the message with [`Error::message_with`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Field {
    /// `app_id`.
    AppId,
    /// `access_token`.
    AccessToken,
    /// `graph_url`.
    GraphUrl,
    /// `api_version`.
    ApiVersion,
    /// `file_name`.
    FileName,
    /// `file_type`.
    FileType,
    /// `ca_file`.
    CaFile,
    /// `proxy`.
    Proxy,
    /// `send_buffer` (`send_buffer_bytes` in C).
    SendBuffer,
    /// `max_attempts`.
    MaxAttempts,
    /// `max_retry` (`max_retry_ms` in C).
    MaxRetry,
    /// `allow_insecure_http`.
    AllowInsecureHttp,
    /// `log_level`.
    LogLevel,
    /// A session id given to resume.
    SessionId,
    /// `state_dir`: the resume journal's folder.
    StateDir,
}

impl Field {
    /// The name the C API and the Rust config give it, e.g. `app_id`.
    pub fn name(self) -> &'static str {
        match self {
            Field::AppId => "app_id",
            Field::AccessToken => "access_token",
            Field::GraphUrl => "graph_url",
            Field::ApiVersion => "api_version",
            Field::FileName => "file_name",
            Field::FileType => "file_type",
            Field::CaFile => "ca_file",
            Field::Proxy => "proxy",
            Field::SendBuffer => "send_buffer",
            Field::MaxAttempts => "max_attempts",
            Field::MaxRetry => "max_retry_ms",
            Field::AllowInsecureHttp => "allow_insecure_http",
            Field::LogLevel => "log_level",
            Field::SessionId => "session_id",
            Field::StateDir => "state_dir",
        }
    }
}

/// The step of an upload an error comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Step {
    /// Checking the config, the file or an argument, before any request.
    Check,
    /// Step 1: asking Graph for an upload session.
    Create,
    /// Step 3: asking Graph how many bytes it holds.
    Offset,
    /// Step 2: sending the file's bytes.
    Upload,
    /// Reading or writing the resume journal.
    Journal,
}

impl Step {
    /// What failed at this step, as a message begins: `cannot create an upload session`.
    pub fn failed(self) -> &'static str {
        match self {
            Step::Check => "the check failed",
            Step::Create => "cannot create an upload session",
            Step::Offset => "cannot get the session's offset from Graph",
            Step::Upload => "upload failed",
            Step::Journal => "the resume journal failed",
        }
    }
}

/// One piece of a message: words, a field's name, or a hint that names a field and
/// is left out by a caller that has no such field.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Piece {
    Text(String),
    Name(Field),
    Hint(String, Field, String),
}

/// A message that names fields, kept in pieces so that a caller can word it with the
/// names it gives them. Built with [`words`] and [`Words::text`], [`Words::name`],
/// [`Words::hint`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Words(Vec<Piece>);

impl fmt::Display for Words {
    /// The words with every field under its own name.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(&|f| Some(f.name().into())))
    }
}

/// A message that begins by naming `field`.
pub(crate) fn words(field: Field) -> Words {
    Words(vec![Piece::Name(field)])
}

impl Words {
    /// Adds words.
    pub fn text(mut self, t: impl Into<String>) -> Words {
        self.0.push(Piece::Text(t.into()));
        self
    }

    /// Adds a field's name.
    pub fn name(mut self, f: Field) -> Words {
        self.0.push(Piece::Name(f));
        self
    }

    /// Adds `before NAME after`, left out where the field has no name.
    pub fn hint(mut self, before: &str, f: Field, after: &str) -> Words {
        self.0.push(Piece::Hint(before.into(), f, after.into()));
        self
    }

    /// Adds the pieces of `other`.
    pub fn then(mut self, other: Words) -> Words {
        self.0.extend(other.0);
        self
    }

    /// The first field the words name.
    pub fn field(&self) -> Option<Field> {
        self.0.iter().find_map(|p| match p {
            Piece::Name(f) => Some(*f),
            _ => None,
        })
    }

    fn render(&self, name: &dyn Fn(Field) -> Option<String>) -> String {
        let mut out = String::new();
        for p in &self.0 {
            match p {
                Piece::Text(t) => out.push_str(t),
                Piece::Name(f) => out.push_str(&name(*f).unwrap_or_else(|| f.name().into())),
                Piece::Hint(before, f, after) => {
                    if let Some(n) = name(*f) {
                        out.push_str(before);
                        out.push_str(&n);
                        out.push_str(after);
                    }
                }
            }
        }
        out
    }
}

/// A failed operation: its [`Status`], a message that says what to do, and what the
/// server said, when it said anything.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
#[non_exhaustive]
pub struct Error {
    /// What kind of failure.
    pub status: Status,
    /// The HTTP status of the answer that caused it; 0 when there was no answer.
    pub http_status: u16,
    /// The Graph error object of that answer, when it had one.
    pub graph: Option<Box<GraphError>>,
    /// What happened and what to do next. Never holds the access token.
    pub message: String,
    /// The setting or argument at fault, when the error is about one.
    pub field: Option<Field>,
    /// The step the error comes from, when it is known.
    pub step: Option<Step>,
    /// The message in pieces, when it names fields.
    words: Option<Words>,
}

impl Error {
    /// An error with no HTTP answer behind it.
    pub fn new(status: Status, message: impl Into<String>) -> Error {
        Error {
            status,
            http_status: 0,
            graph: None,
            message: message.into(),
            field: None,
            step: None,
            words: None,
        }
    }

    /// A bad argument or setting: `field` is at fault, `words` say how.
    pub(crate) fn argument(field: Field, words: Words) -> Error {
        Error::worded(Status::Argument, field, words)
    }

    /// An error about `field`, its message in `words`.
    pub(crate) fn worded(status: Status, field: Field, words: Words) -> Error {
        let mut e = Error::from_words(status, words);
        e.field = Some(field);
        e.step = Some(Step::Check);
        e
    }

    /// An error whose message is `words`; the field is the first they name.
    pub(crate) fn from_words(status: Status, words: Words) -> Error {
        let mut e = Error::new(status, words.to_string());
        e.field = words.field();
        e.words = Some(words);
        e
    }

    /// The same error with `before` and `after` around its message, in both the
    /// message and its pieces (so that [`Error::message_with`] keeps them too).
    pub(crate) fn framed(mut self, before: Words, after: Words) -> Error {
        let inner = match self.words.take() {
            Some(w) => w,
            None => Words::default().text(std::mem::take(&mut self.message)),
        };
        let words = before.then(inner).then(after);
        self.message = words.to_string();
        self.words = Some(words);
        self
    }

    /// The same error from `step`.
    pub(crate) fn at(mut self, step: Step) -> Error {
        self.step = Some(step);
        self
    }

    /// The message with every field named as `name` calls it (a command line's flag,
    /// say); a field `name` has no word for keeps its own name, and a hint about it is
    /// left out. The same as [`Error::message`] for a message that names no field.
    pub fn message_with(&self, name: impl Fn(Field) -> Option<String>) -> String {
        match &self.words {
            Some(w) => w.render(&name),
            None => self.message.clone(),
        }
    }

    /// Passes every string of the error through `scrub` (the message and its pieces,
    /// and the Graph error's fields).
    pub(crate) fn scrubbed(mut self, scrub: &dyn Fn(String) -> String) -> Error {
        self.message = scrub(std::mem::take(&mut self.message));
        if let Some(w) = &mut self.words {
            for p in &mut w.0 {
                match p {
                    Piece::Text(t) => *t = scrub(std::mem::take(t)),
                    Piece::Hint(before, _, after) => {
                        *before = scrub(std::mem::take(before));
                        *after = scrub(std::mem::take(after));
                    }
                    Piece::Name(_) => {}
                }
            }
        }
        if let Some(g) = &mut self.graph {
            g.message = scrub(std::mem::take(&mut g.message));
            g.error_type = scrub(std::mem::take(&mut g.error_type));
            g.fbtrace_id = scrub(std::mem::take(&mut g.fbtrace_id));
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_numbers_are_the_c_values() {
        for (i, s) in Status::ALL.iter().enumerate() {
            assert_eq!(*s as i32, i as i32);
            assert_eq!(Status::from_code(i as i32), Some(*s));
        }
        assert_eq!(Status::from_code(13), None);
        assert_eq!(Status::from_code(-1), None);
    }

    #[test]
    fn a_message_is_worded_with_the_callers_names() {
        let e = Error::argument(
            Field::FileType,
            words(Field::FileType)
                .text(" image/gif is not accepted")
                .hint(", or set ", Field::AllowInsecureHttp, ""),
        );
        assert_eq!(
            e.message,
            "file_type image/gif is not accepted, or set allow_insecure_http"
        );
        let cli = |f| (f == Field::FileType).then(|| "--type".to_string());
        assert_eq!(e.message_with(cli), "--type image/gif is not accepted");
        assert_eq!(
            (e.field, e.step),
            (Some(Field::FileType), Some(Step::Check))
        );
        let plain = Error::new(Status::Network, "file_type in words");
        assert_eq!(plain.message_with(cli), "file_type in words");
    }

    #[test]
    fn names_and_texts_come_from_the_table() {
        assert_eq!(Status::Auth.name(), "FBUP_E_AUTH");
        assert_eq!(Status::Ok.name(), "FBUP_OK");
        for s in Status::ALL {
            let want = match s {
                Status::Ok => "FBUP_OK".to_string(),
                _ => format!("FBUP_E_{}", s.key().to_ascii_uppercase()),
            };
            assert_eq!(s.name(), want);
            assert!(!s.describe().is_empty());
        }
    }

    #[test]
    fn keys_are_the_c_constants_names() {
        let header = include_str!(concat!(env!("OUT_DIR"), "/fbup.h"));
        for s in Status::ALL {
            let name = match s {
                Status::Ok => "FBUP_OK".to_string(),
                _ => format!("FBUP_E_{}", s.key().to_ascii_uppercase()),
            };
            let line = format!("#define {name} {}\n", s as i32);
            assert!(header.contains(&line), "the header lacks {line:?}");
        }
        let constants = header
            .lines()
            .filter(|l| l.starts_with("#define FBUP_E_") || l.starts_with("#define FBUP_OK "))
            .count();
        assert_eq!(
            constants,
            Status::ALL.len(),
            "a C constant without a status"
        );
    }
}
